/* The step engine alone, against the simple bound (pair_bound.c), in one process: pair terms
 * a second for each shipped loss on three step shapes (the exact InfoNC-t-SNE step,
 * 2048 negatives shared by 4096 targets with k = 90; nomad-paper.yaml's, rows of 32 targets sharing
 * 128 negatives plus 8 cell means, k = 15; one row of 256 negatives per target, k = 15; nomad.yaml's,
 * rows of 32 sharing 512 negatives plus 64 cell means, about 45 edges a target as its perplexity graph has).
 * Layouts are random in a 60-wide square, as a fit's are after its first epochs; neighbours
 * lie in the target's eighth of the points, as a cell's do in the fit's order.
 *
 *   nomad_step_bench PLUGIN_DIR [seconds per case [loss [shape]]]   (experiments/bench/step_engine.sh runs it)
 *   nomad_step_bench PLUGIN_DIR --scaling N... : seconds per epoch of whole fits (nomad-paper.yaml's negatives
 *       and loss, batch 4096, 2 epochs) on N random 2-D points with 15 neighbours in 8 cells, eager
 *       and lazy: lazy's per-epoch time grows linearly in N, eager's quadratically
 *   NOMAD_BENCH_THREADS=N: workers (default: all cores)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cells.h"
#include "config.h"
#include "host.h"
#include "optimizer.h"
#include "nomad/rng.h"
#include "pair_bound.h"
#include "plugin_host.h"
#include "step_engine.h"

typedef struct {
    const char *name;
    int64_t n;
    int32_t batch, k, per_target, group, approx;
} shape;

typedef struct {
    int64_t *edge_offset;
    int32_t *target, *pos, *index, *row_start;
    float *y, *pos_weight, *weight, *approx_y, *approx_weight;
    nmp_step step;
    nmp_negatives neg;
} synthetic;

static void *must(void *p)
{
    if (!p) {
        fprintf(stderr, "nomad_step_bench: out of memory\n");
        exit(1);
    }
    return p;
}
#define ALLOC(p, count) ((p) = must(malloc((size_t)(count) * sizeof *(p) + 1)))

/* A step of the given shape over a random layout: targets sorted (as the fit's), random
 * neighbours, rows of `group` targets (0: one shared row), mass-like constant row weights. */
static void make_step(synthetic *s, const shape *sh, uint64_t seed)
{
    const int64_t n = sh->n, B = sh->batch, E = B * sh->k;
    int32_t rows = sh->group > 0 ? (int32_t)((B + sh->group - 1) / sh->group) : 1;
    ALLOC(s->y, 2 * n), ALLOC(s->target, B), ALLOC(s->edge_offset, B + 1), ALLOC(s->pos, E), ALLOC(s->pos_weight, E);
    ALLOC(s->index, (int64_t)rows * sh->per_target), ALLOC(s->weight, (int64_t)rows * sh->per_target);
    ALLOC(s->row_start, rows + 1), ALLOC(s->approx_y, 2 * sh->approx), ALLOC(s->approx_weight, B * sh->approx);
    for (int64_t i = 0; i < 2 * n; i++) s->y[i] = (float)(60.0 * nmp_rng_uniform(seed, 1, (uint64_t)i) - 30.0);
    for (int64_t b = 0; b < B; b++) s->target[b] = (int32_t)(b * n / B);
    const int64_t cell = n / 8; /* neighbours in the target's cell, as exact_cell's in fit order */
    for (int64_t e = 0; e < E; e++) {
        int64_t first = s->target[e / sh->k] / cell * cell;
        s->pos[e] = (int32_t)(first + (int64_t)nmp_rng_below(seed, 2, (uint64_t)e, (uint64_t)cell));
        s->pos_weight[e] = 1.0f / (float)sh->k;
    }
    for (int64_t b = 0; b <= B; b++) s->edge_offset[b] = b * sh->k;
    for (int64_t l = 0; l < (int64_t)rows * sh->per_target; l++) {
        s->index[l] = (int32_t)nmp_rng_below(seed, 3, (uint64_t)l, (uint64_t)n);
        s->weight[l] = 0.125f;
    }
    for (int32_t r = 0; r <= rows; r++) s->row_start[r] = sh->group > 0 ? (int32_t)(r * sh->group < B ? r * sh->group : B) : (int32_t)(r ? B : 0);
    for (int32_t c = 0; c < 2 * sh->approx; c++) s->approx_y[c] = (float)(40.0 * nmp_rng_uniform(seed, 4, (uint64_t)c) - 20.0);
    for (int64_t c = 0; c < B * sh->approx; c++) s->approx_weight[c] = c % sh->approx == (c / sh->approx) % sh->approx ? 0.0f : 16.0f;
    s->step = (nmp_step){.step = 1, .y = s->y, .batch = (int32_t)B, .target = s->target, .edge_offset = s->edge_offset,
                         .pos = s->pos, .pos_weight = s->pos_weight, .loss_every = 64};
    s->neg = (nmp_negatives){.per_target = sh->per_target, .shared = sh->group == 0, .index = s->index,
                             .weight = s->weight, .approx_count = sh->approx, .approx_y = s->approx_y,
                             .approx_weight = sh->approx ? s->approx_weight : NULL,
                             .rows = sh->group > 0 ? rows : 0, .row_start = sh->group > 0 ? s->row_start : NULL};
}

static void free_step(synthetic *s)
{
    free(s->y), free(s->target), free(s->edge_offset), free(s->pos), free(s->pos_weight), free(s->index);
    free(s->weight), free(s->row_start), free(s->approx_y), free(s->approx_weight);
}

/* Pair terms a second of one loss on one shape, over at least `seconds`. */
static double engine_rate(nmp_registry *reg, const char *loss, const shape *sh, double seconds)
{
    nmp_err err = {0};
    const nmp_plugin_ref *ref;
    nmp_params params = {0};
    nmp_instance inst = {0};
    if (nmp_registry_resolve(reg, NMP_KIND_LOSS, loss, NULL, &ref, &params, &err) != NMP_OK ||
        nmp_instance_create(ref, "loss", &params, &inst, &err) != NMP_OK) {
        fprintf(stderr, "nomad_step_bench: %s\n", err.msg);
        exit(1);
    }
    const nmp_loss_ops *ops = inst.ops;
    nmp_fit_info fit = {.n = sh->n, .dims = 2, .batch = sh->batch, .steps_per_epoch = 1, .epochs = 1, .n_total = sh->n};
    nmp_loss_shape ls = {0};
    nmp_engine *e = NULL;
    synthetic s;
    make_step(&s, sh, 7);
    if (ops->prepare(inst.state, &fit, &ls) != NMP_OK || nmp_engine_new(&e, ops, inst.state, &ls, 2, &err) != NMP_OK) {
        fprintf(stderr, "nomad_step_bench: %s: prepare failed\n", loss);
        exit(1);
    }
    nmp_engine_out out;
    int64_t pairs = 0;
    double t0 = nmp_now(), t = 0.0;
    for (int rep = 0; t < seconds || rep < 3; rep++) {
        if (ops->begin_step) ops->begin_step(inst.state, &s.step, &s.neg);
        if (nmp_engine_run(e, &s.step, &s.neg, 1.0, &out, &err) != NMP_OK) {
            fprintf(stderr, "nomad_step_bench: %s\n", err.msg);
            exit(1);
        }
        pairs += out.pairs;
        t = nmp_now() - t0;
    }
    nmp_engine_free(e);
    free_step(&s);
    nmp_instance_destroy(&inst);
    return (double)pairs / t;
}

/* One instance of `kind` from a YAML section (e.g. "{plugin: cluster_mean, exact: 128}"). */
static void instance_from(nmp_registry *reg, nmp_kind kind, const char *section, const char *yaml, nmp_instance *inst)
{
    nmp_err err = {0};
    nmp_cfg_node *root = NULL;
    const nmp_plugin_ref *ref;
    nmp_params params = {0};
    if (nmp_cfg_parse_string("bench", yaml, &root, &err) != NMP_OK ||
        nmp_registry_resolve(reg, kind, nmp_cfg_child(root, "plugin")->value, root, &ref, &params, &err) != NMP_OK ||
        nmp_instance_create(ref, section, &params, inst, &err) != NMP_OK) {
        fprintf(stderr, "nomad_step_bench: %s\n", err.msg);
        exit(1);
    }
    nmp_cfg_free(root);
}

/* Seconds per epoch of a whole fit on n random points (see the header), eager or lazy. */
static double epoch_seconds(nmp_registry *reg, int64_t n, int update)
{
    const int32_t k = 15, cells = 8;
    nmp_err err = {0};
    nmp_cell_index ci;
    int32_t *cell_of = malloc((size_t)n * sizeof *cell_of);
    float *y = malloc((size_t)(2 * n) * sizeof *y);
    nmp_graph g = {.n = n, .offsets = malloc((size_t)(n + 1) * sizeof(int64_t)),
                   .index = malloc((size_t)(n * k) * sizeof(int32_t)), .weight = malloc((size_t)(n * k) * sizeof(float))};
    for (int64_t i = 0; i < n; i++) {
        int64_t first = i * cells / n * n / cells, size = ((i * cells / n + 1) * n / cells) - first;
        cell_of[i] = (int32_t)(i * cells / n);
        g.offsets[i] = i * k;
        for (int32_t j = 0; j < k; j++) {
            g.index[i * k + j] = (int32_t)(first + (int64_t)nmp_rng_below(3, 1, (uint64_t)(i * k + j), (uint64_t)size));
            if (g.index[i * k + j] == i) g.index[i * k + j] = (int32_t)(first + (i - first + 1) % size);
            g.weight[i * k + j] = 1.0f / k;
        }
        y[2 * i] = (float)(1e-4 * nmp_rng_uniform(3, 2, (uint64_t)i)), y[2 * i + 1] = (float)(1e-4 * nmp_rng_uniform(3, 3, (uint64_t)i));
    }
    g.offsets[n] = n * k;
    if (nmp_cells_build(&ci, cell_of, NULL, n, 2, cells, &err) != NMP_OK) {
        fprintf(stderr, "nomad_step_bench: %s\n", err.msg);
        exit(1);
    }
    nmp_instance neg = {0}, loss = {0};
    instance_from(reg, NMP_KIND_NEGATIVES, "negatives",
                  "{plugin: cluster_mean, exact: 128, group: 32, approx_cells: all_but_own, weighting: mass}", &neg);
    instance_from(reg, NMP_KIND_LOSS, "loss", "{plugin: infonce}", &loss);
    uint8_t local[8] = {1, 1, 1, 1, 1, 1, 1, 1};
    nmp_opt_settings s = {.epochs = 2, .batch = 4096, .lr = 0.1 * (double)n, .momentum = 0.8, .hold = 0.3,
                          .early_exaggeration = 1, .late_exaggeration = 1, .late_start = 1, .loss_every = 32,
                          .dims = 2, .seed = 5, .update = update};
    nmp_opt_result r;
    double t0 = nmp_now();
    if (nmp_optimize(&(nmp_fit_request){&s, y, &g, &ci.view, local, &neg, &loss, NULL, NULL}, &r, &err) != NMP_OK) {
        fprintf(stderr, "nomad_step_bench: %s\n", err.msg);
        exit(1);
    }
    double seconds = (nmp_now() - t0) / (double)s.epochs;
    free(r.loss), free(r.epoch_seconds);
    nmp_instance_destroy(&neg), nmp_instance_destroy(&loss);
    nmp_cells_free(&ci);
    free(y), free(g.offsets), free(g.index), free(g.weight);
    return seconds;
}

static int scaling(nmp_registry *reg, int argc, char **argv)
{
    printf("points, eager s/epoch, lazy s/epoch\n");
    for (int a = 0; a < argc; a++) {
        int64_t n = atoll(argv[a]);
        double eager = epoch_seconds(reg, n, NMP_UPDATE_EAGER), lazy = epoch_seconds(reg, n, NMP_UPDATE_LAZY);
        printf("scaling %lld %.3f %.3f\n", (long long)n, eager, lazy);
        fflush(stdout);
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: nomad_step_bench PLUGIN_DIR [seconds per case [loss [shape]]]\n");
        return 2;
    }
    double seconds = argc > 2 ? atof(argv[2]) : 2.0;
    int threads = getenv("NOMAD_BENCH_THREADS") ? atoi(getenv("NOMAD_BENCH_THREADS")) : nmp_default_threads();
    threads = threads < 1 ? 1 : threads;
    nmp_host_config hc = {.threads = threads, .quiet = 1, .seed = 1, .ranks = 1};
    nmp_host_configure(&hc);
    nmp_registry reg = {0};
    nmp_err err = {0};
    if (nmp_registry_scan(&reg, argv[1], &err) != NMP_OK) {
        fprintf(stderr, "nomad_step_bench: %s\n", err.msg);
        return 2;
    }
    /* The bound and the engine alternate, three rounds a case, and the ratio is taken per
     * round: on a shared machine both see the same neighbours. The median round is printed. */
    if (argc > 2 && strcmp(argv[2], "--scaling") == 0) return scaling(&reg, argc - 3, argv + 3);
    double check = 0.0;
    printf("threads %d\n", threads);
    static const shape shapes[] = {
        {"shared2048_k90", 10000, 4096, 90, 2048, 0, 0},
        {"rows32x128_cells8_k15", 70000, 4096, 15, 128, 32, 8},
        {"per_target256_k15", 70000, 4096, 15, 256, 1, 0},
        {"rows32x512_cells64_k45", 70000, 4096, 45, 512, 32, 64}, /* configs/nomad.yaml's step */
    };
    static const char *losses[] = {"infonce", "neg", "umap"};
    for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++)
        for (size_t l = 0; l < 3; l++) {
            if ((argc > 3 && strcmp(argv[3], losses[l]) != 0) || (argc > 4 && strcmp(argv[4], shapes[s].name) != 0))
                continue;
            /* UMAP's pairs are also set against the same loop with UMAP's formula (a power each) */
            const int umap = strcmp(losses[l], "umap") == 0;
            double ratio[3], rate[3], bound[3], own[3] = {0};
            for (int round = 0; round < 3; round++) {
                bound[round] = pair_bound_rate(4096, 2048, 20, threads, &check);
                if (umap) own[round] = pair_bound_rate_umap(4096, 2048, 4, threads, &check);
                rate[round] = engine_rate(&reg, losses[l], &shapes[s], seconds / 3);
                ratio[round] = rate[round] / bound[round];
            }
            int mid = ratio[0] <= ratio[1] ? (ratio[1] <= ratio[2] ? 1 : ratio[0] <= ratio[2] ? 2 : 0)
                                           : (ratio[0] <= ratio[2] ? 0 : ratio[1] <= ratio[2] ? 2 : 1);
            printf("engine %s %s %.3f G pairs/s, bound %.3f G pairs/s, %.2f of bound\n", shapes[s].name, losses[l],
                   rate[mid] / 1e9, bound[mid] / 1e9, ratio[mid]);
            if (umap)
                printf("formula_bound %s %s %.3f G pairs/s, %.2f of it\n", shapes[s].name, losses[l], own[mid] / 1e9,
                       rate[mid] / own[mid]);
            fflush(stdout);
        }
    printf("check %.6g\n", check);
    nmp_registry_free(&reg);
    return 0;
}
