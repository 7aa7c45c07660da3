/* Checks a loss plugin's coefficients against its own value() (docs/plugin-guide.md section 9):
 * for one target with random distances and weights, each coefficient times its weight (and the
 * target's scale, for a coupled loss) must be dL_i/d(d2) of value(), by central finite
 * differences with z recomputed through repel(). Uses only the public headers, as a plugin does.
 *   loss_check PLUGIN.so [key=value ...]      exit 0: every coefficient matches, 1: one does not */
#include <dlfcn.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nomad/plugin.h"

enum { NP = 4, NN = 5, NA = 3, NT = NP + NN + NA }; /* positives, exact negatives, approximate terms */
static const nmp_loss_ops *ops;
static void *state;
static double d2[NT]; /* positives, then negatives, then approximate terms */
static float p[NP], w[NN + NA];

/* A host for one thread: messages to stderr, loops run serially. */
static void say(const nmp_host *h, const char *fmt, ...)
{
    va_list a;
    (void)h, va_start(a, fmt), vfprintf(stderr, fmt, a), va_end(a), fputc('\n', stderr);
}
static void log_msg(const nmp_host *h, nmp_log_level level, const char *fmt, ...)
{
    va_list a;
    (void)h, (void)level, va_start(a, fmt), vfprintf(stderr, fmt, a), va_end(a), fputc('\n', stderr);
}
static void serial_for(const nmp_host *h, int64_t n, nmp_range_fn fn, void *ctx) { (void)h, fn(ctx, 0, n, 0); }

/* z through repel() over two tiles (negatives, approximate terms), and their coefficients. */
static double repel_all(float *coef, float *fd2)
{
    float z[2] = {0, 0};
    for (int l = 0; l < NN + NA; l++) fd2[l] = (float)d2[NP + l];
    ops->repel(state, &(nmp_repel_tile){1, NN, fd2, w, 0, coef, &z[0]});
    ops->repel(state, &(nmp_repel_tile){1, NA, fd2 + NN, w + NN, 0, coef + NN, &z[1]});
    return (double)z[0] + z[1];
}

static double value(double a)
{
    float coef[NN + NA], fd2[NN + NA], pd2[NP];
    double z = repel_all(coef, fd2);
    for (int j = 0; j < NP; j++) pd2[j] = (float)d2[j];
    return ops->value(state, &(nmp_loss_terms){NP, NN, NA, pd2, p, fd2, w, fd2 + NN, w + NN, z, a});
}

/* One target at exaggeration a: what the plugin says, then each term against
 * (L(d2 + h) - L(d2 - h)) / 2h. A last positive at d2 = 0, p = 0 is the engine's padding. */
static int check(double a, int coupled)
{
    float coef[NN + NA], fd2[NN + NA], pd2[NP + 1] = {0}, pp[NP + 1] = {0}, pc[NP + 1], scale = 1, stat = 0;
    double z = repel_all(coef, fd2), got[NT], big = 0;
    int64_t offset[2] = {0, NP + 1};
    for (int j = 0; j < NP; j++) pd2[j] = (float)d2[j], pp[j] = p[j];
    ops->attract(state, &(nmp_attract_tile){1, offset, pd2, pp, &z, (float)a, pc, &scale, &stat});
    int bad = !isfinite(pc[NP]) || !isfinite(z);
    if (bad) fprintf(stderr, "padding (d2 = 0, p = 0): coefficient %g, z %g: both must be finite\n", pc[NP], z);
    for (int i = 0; i < NT; i++) {
        got[i] = i < NP ? p[i] * pc[i] : (coupled ? scale : 1.0f) * w[i - NP] * coef[i - NP];
        big = fmax(big, fabs(got[i]));
    }
    for (int i = 0; i < NT; i++) {
        double d0 = d2[i], h = 1e-2 * d0;
        d2[i] = d0 + h;
        double up = value(a);
        d2[i] = d0 - h;
        double want = (up - value(a)) / (2 * h);
        d2[i] = d0;
        if (fabs(got[i] - want) <= 2e-3 * fabs(want) + 1e-5 * big) continue;
        bad = 1;
        fprintf(stderr, "a = %g, term %d (%s, d2 %.4g): coefficient x weight %.8g, finite difference %.8g\n", a, i,
                i < NP ? "positive" : i < NP + NN ? "negative" : "approximate", d0, got[i], want);
    }
    return bad;
}

static double uniform(void) { return (double)rand() / RAND_MAX; }

/* Whether the argument is name=value; the text of `name` in the arguments, or NULL. */
static int names(const char *arg, const char *name)
{
    return strncmp(arg, name, strlen(name)) == 0 && arg[strlen(name)] == '=';
}
static const char *given(const char *name, int argc, char **argv)
{
    for (int i = 2; i < argc; i++)
        if (names(argv[i], name)) return argv[i] + strlen(name) + 1;
    return NULL;
}

/* Every declared parameter from the arguments or its default; 0 if an argument names none. */
static int resolve(const nmp_plugin *pl, int argc, char **argv, nmp_param_value *v)
{
    for (uint32_t k = 0; k < pl->n_params; k++) {
        const nmp_param_decl *d = &pl->params[k];
        const char *s = given(d->name, argc, argv), *colon;
        v[k] = (nmp_param_value){d->name, d->type, 0, 0, s ? s : d->default_value};
        colon = strchr(v[k].s, ':');
        v[k].d = strtod(v[k].s, NULL);
        v[k].i = d->type == NMP_PARAM_BOOL   ? strcmp(v[k].s, "true") == 0
                 : d->type == NMP_PARAM_ENUM ? (colon ? atoll(colon + 1) : 0)
                                             : (int64_t)v[k].d;
    }
    for (int i = 2; i < argc; i++) {
        uint32_t k = 0;
        while (k < pl->n_params && !names(argv[i], pl->params[k].name)) k++;
        if (k == pl->n_params) return fprintf(stderr, "%s: %s declares no such parameter\n", argv[i], pl->name), 0;
    }
    return 1;
}

int main(int argc, char **argv)
{
    char path[4096]; /* a bare file name is a file here, as for nomad, not a library on the search path */
    snprintf(path, sizeof path, "%s%s", argc > 1 && !strchr(argv[1], '/') ? "./" : "", argc > 1 ? argv[1] : "");
    void *so = argc > 1 ? dlopen(path, RTLD_NOW | RTLD_LOCAL) : NULL;
    nmp_plugin_entry_fn entry = so ? (nmp_plugin_entry_fn)dlsym(so, NMP_PLUGIN_ENTRY_SYMBOL) : NULL;
    const nmp_plugin *pl = NULL;
    for (uint32_t i = 0; entry && (pl = entry(i)) && pl->kind != NMP_KIND_LOSS;) i++;
    if (!pl || pl->abi_major != NMP_ABI_MAJOR) {
        fprintf(stderr, "usage: loss_check LOSS.so [key=value ...]: %s\n",
                so ? "no loss plugin of ABI 2 in it" : argc > 1 ? dlerror() : "no file");
        return 2;
    }
    nmp_param_value values[64];
    if (pl->n_params > 64 || !resolve(pl, argc, argv, values)) return 2;
    nmp_params params = {pl->n_params, values};
    nmp_host host = {.struct_size = sizeof host, .abi_major = NMP_ABI_MAJOR, .abi_minor = NMP_ABI_MINOR, .threads = 1,
                     .ranks = 1, .seed = 42, .log = log_msg, .set_error = say, .parallel_for = serial_for,
                     .alloc = malloc, .free = free};
    nmp_fit_info fit = {.n = 100, .dims = 2, .batch = 1, .steps_per_epoch = 1, .epochs = 1, .n_total = 100};
    nmp_loss_shape shape = {0};
    ops = pl->ops;
    if (pl->create(&host, &params, &state) != NMP_OK || ops->prepare(state, &fit, &shape) != NMP_OK) return 1;
    if (ops->begin_step && ops->begin_step(state, &(nmp_step){.batch = 1}, &(nmp_negatives){.per_target = NN}))
        return 1;
    srand(7);
    for (int i = 0; i < NT; i++) { /* positives near, negatives farther, approximate terms far */
        double u = uniform();
        d2[i] = i < NP ? 0.05 + 3.0 * u : i < NP + NN ? 0.1 + 20.0 * u : 1.0 + 50.0 * u;
    }
    for (int j = 0; j < NP; j++) p[j] = (float)(0.1 + uniform());
    for (int l = 0; l < NN + NA; l++) w[l] = l == NN + 1 ? 0.0f : (float)(0.5 + uniform()); /* one weight 0 */
    int bad = check(1.0, shape.coupled) | check(2.5, shape.coupled);
    printf("%s %s: coupled %d, move_negatives %d, clip %g, formula %d: %s\n", pl->name, pl->version, shape.coupled,
           shape.move_negatives, shape.clip, (int)shape.formula,
           bad ? "coefficients do NOT match the value's derivatives" : "every coefficient is dL/d(d2) of value()");
    pl->destroy(state);
    return bad;
}
