/* `nomad eval DATA EMBEDDING`: the paper's metrics for any layout, as text or JSON. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "cli_args.h"
#include "host.h"
#include "io.h"
#include "eval_json.h"
#include "json.h"
#include "metrics.h"

static void print_text(const nmp_eval_result *r, int k)
{
    printf("queries      %lld\n", (long long)r->queries_used);
    printf("NP@%-2d        %.4f +- %.4f\n", k, r->np.value, r->np.ci95);
    printf("triplet      %.4f +- %.4f\n", r->triplet.value, r->triplet.ci95);
    if (r->has_labels) printf("knn_acc@%-2d   %.4f +- %.4f\n", k, r->knn_acc.value, r->knn_acc.ci95);
    printf("trust@%-2d     %.4f +- %.4f\n", k, r->trust.value, r->trust.ci95);
    printf("cont@%-2d      %.4f +- %.4f\n", k, r->cont.value, r->cont.ci95);
    printf("seconds      %.2f\n", r->seconds);
}

typedef struct {
    const char *data, *embedding, *labels;
    nmp_eval_opts opts;
    int json;
} eval_args;

static int parse(int argc, char **argv, eval_args *a)
{
    a->opts = nmp_eval_opts_default();
    int64_t v;
    for (int i = 1; i < argc; i++) {
        const char *f = argv[i];
        int rc = 0;
        if (strcmp(f, "--labels") == 0) rc = nmp_arg_once("eval", argc, argv, &i, &a->labels);
        else if (strcmp(f, "--k") == 0) rc = nmp_arg_int("eval", argc, argv, &i, 1, 10000, &v), a->opts.k = (int32_t)v;
        else if (strcmp(f, "--queries") == 0) rc = nmp_arg_int("eval", argc, argv, &i, 1, INT32_MAX, &a->opts.queries);
        else if (strcmp(f, "--triplets") == 0) rc = nmp_arg_int("eval", argc, argv, &i, 0, INT32_MAX, &a->opts.triplets);
        else if (strcmp(f, "--seed") == 0) rc = nmp_arg_int("eval", argc, argv, &i, 0, INT64_MAX, &v), a->opts.seed = (uint64_t)v;
        else if (strcmp(f, "--json") == 0) a->json = 1;
        else if (f[0] == '-') return nmp_cli_fail(2, "eval: unknown option %s (see nomad --help)", f);
        else if (!a->data) a->data = f;
        else if (!a->embedding) a->embedding = f;
        else return nmp_cli_fail(2, "eval: unexpected argument \"%s\"", f);
        if (rc) return rc;
    }
    if (!a->data || !a->embedding) return nmp_cli_fail(2, "eval: usage: nomad eval DATA EMBEDDING [--labels L] [--k 10] [--queries 5000] [--triplets 5000] [--seed S] [--json]");
    return 0;
}

int nmp_cli_eval(int argc, char **argv)
{
    eval_args a = {0};
    int rc = parse(argc, argv, &a);
    if (rc) return rc;
    nmp_host_config hc = {.threads = nmp_default_threads(), .quiet = 1, .seed = a.opts.seed, .ranks = 1};
    nmp_host_configure(&hc);
    nmp_dataset x = {0}, y = {0};
    nmp_data_opts o = {0};
    nmp_err err = {0};
    int32_t *labels = NULL;
    const char *lpath = a.labels ? a.labels : nmp_data_default_labels(a.data);
    nmp_status s = nmp_data_open(a.data, &o, &x, &err);
    if (s == NMP_OK) s = nmp_data_open(a.embedding, &o, &y, &err);
    if (s == NMP_OK && y.m.n != x.m.n)
        s = nmp_fail(&err, NMP_ERR_INVALID, "%s: %lld rows, but the data %s has %lld", a.embedding, (long long)y.m.n,
                     a.data, (long long)x.m.n);
    if (s == NMP_OK && lpath) s = nmp_labels_read(lpath, x.m.n, &labels, &err);
    nmp_eval_result r = {0};
    char msg[1024] = "";
    if (s == NMP_OK && (s = nmp_eval_run(&x.m, &y.m, labels, &a.opts, &r, msg, sizeof msg)) != NMP_OK)
        nmp_fail(&err, s, "eval: %s", msg);
    if (s == NMP_OK && a.json) {
        nmp_json j;
        nmp_json_init(&j);
        nmp_eval_result_json(&j, &r, &a.opts);
        fputs(j.buf, stdout);
        nmp_json_free(&j);
    } else if (s == NMP_OK) {
        print_text(&r, a.opts.k);
    }
    free(labels);
    nmp_data_close(&x);
    nmp_data_close(&y);
    return s == NMP_OK ? 0 : nmp_cli_fail(nmp_exit_code(s), "%s", err.msg);
}
