/* report.md: the run as a page a person reads (on a code-hosting site, as is): what ran on
 * what, how long each stage took, how much memory, how good, and the picture. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "host.h"
#include "nomad_git.h"
#include "run_state.h"

typedef struct {
    char *buf;
    size_t len, cap;
} text;

static void add(text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void add(text *t, const char *fmt, ...)
{
    va_list ap;
    for (;;) {
        va_start(ap, fmt);
        int n = vsnprintf(t->buf ? t->buf + t->len : NULL, t->buf ? t->cap - t->len : 0, fmt, ap);
        va_end(ap);
        if (n < 0) return;
        if (t->buf && t->len + (size_t)n < t->cap) {
            t->len += (size_t)n;
            return;
        }
        size_t cap = (t->cap ? t->cap * 2 : 4096) + (size_t)n;
        char *grown = realloc(t->buf, cap);
        if (!grown) return;
        t->buf = grown, t->cap = cap;
    }
}

static void plugins_table(text *t, const nmp_run *r)
{
    add(t, "\n## Plugins\n\n| stage | plugin | version | parameters |\n|---|---|---|---|\n");
    for (int k = 1; k <= NMP_KIND_COUNT; k++) {
        const nmp_instance *in = &r->inst[k];
        if (!in->ref) continue;
        add(t, "| %s | `%s` | %s | ", nmp_kind_name((nmp_kind)k), in->ref->desc->name, in->ref->desc->version);
        for (uint32_t i = 0; i < in->params.count; i++)
            add(t, "%s%s=%s", i ? ", " : "", in->params.items[i].name, in->params.items[i].s);
        add(t, " |\n");
    }
}

static void stages_table(text *t, const nmp_run *r)
{
    double total = 0;
    add(t, "\n## Time and memory\n\n| stage | seconds |\n|---|---:|\n");
    for (int s = 0; s < STAGE_COUNT; s++) {
        add(t, "| %s | %.2f |\n", nmp_stage_names[s], r->stage_seconds[s]);
        total += r->stage_seconds[s];
    }
    add(t, "| **total** | **%.2f** |\n\nPeak RSS %.2f GiB (estimate before the run: %.2f GiB); %d threads.\n", total,
        nmp_peak_rss_bytes() / 1073741824.0, r->estimate_bytes / 1073741824.0, nmp_host_settings()->threads);
}

static void quality(text *t, const nmp_run *r)
{
    add(t, "\n## Graph and quality\n\n%d cells (%lld K-Means iterations, %d empty); %lld kNN edges",
        r->cells.view.count, (long long)r->partition_iterations, r->empty_cells,
        (long long)(r->graph.offsets ? nmp_graph_nnz(&r->graph) : 0));
    if (r->knn_quality.sample)
        add(t, "; on %lld sampled points %.1f%% of the exact kNN edges stay inside cells, recall %.3f",
            (long long)r->knn_quality.sample, 100 * r->knn_quality.edges_kept, r->knn_quality.recall);
    add(t, ".\n");
    if (!r->have_eval) return;
    const nmp_eval_result *e = &r->eval;
    int k = r->eval_opts.k;
    add(t, "\n| metric (%lld queries) | value | ±95%% |\n|---|---:|---:|\n", (long long)e->queries_used);
    add(t, "| NP@%d | %.4f | %.4f |\n| random-triplet accuracy | %.4f | %.4f |\n", k, e->np.value, e->np.ci95,
        e->triplet.value, e->triplet.ci95);
    if (e->has_labels) add(t, "| %d-NN label accuracy | %.4f | %.4f |\n", k, e->knn_acc.value, e->knn_acc.ci95);
    add(t, "| trustworthiness@%d | %.4f | %.4f |\n| continuity@%d | %.4f | %.4f |\n", k, e->trust.value,
        e->trust.ci95, k, e->cont.value, e->cont.ci95);
}

nmp_status nmp_run_report_write(nmp_run *r, nmp_err *err)
{
    text t = {0};
    const nmp_config *c = r->cfg;
    add(&t, "# nomad run `%s`\n\nnomad %s (git %s), config `%s`, seed %lld.\n\nData `%s`: %lld x %lld (%s)%s%s%s.\n",
        r->name, NOMAD_VERSION, NOMAD_GIT_HASH, r->req->config_path ? r->req->config_path : "-", (long long)c->seed,
        c->data.path, (long long)r->x.n, (long long)r->x.d, r->data.dtype, r->labels ? ", labels `" : "",
        r->labels ? r->labels_path : "", r->labels ? "`" : "");
    add(&t, "Layout: %lld dimensions, %lld epochs of batch %lld, %lld steps.\n", (long long)c->dims,
        (long long)c->optimizer.epochs, (long long)c->optimizer.batch, (long long)r->opt.steps);
    plugins_table(&t, r);
    stages_table(&t, r);
    quality(&t, r);
    if (c->output.plot) add(&t, "\n## Map\n\n![map](map.png)\n");
    add(&t, "\nFiles: `embedding.npy` (the layout, float32), `run.json` (everything above, machine-readable), "
            "`loss.csv` (loss per epoch)%s%s.\n", c->output.snapshot_every ? ", `snapshots/`" : "",
        r->dist.comm ? ""
                     : ", `config.yaml` (the resolved config, data paths made absolute: what `nomad run --resume` "
                       "and `nomad transform` read)");
    if (!r->dist.comm)
        add(&t, "\nNew points: `nomad transform %s NEW_DATA -o NEW_EMBEDDING.npy` places them on this map without "
                "moving it; it reads `embedding.npy` and the training data `%s` named in `config.yaml`, so keep "
                "both where they are.\n", r->out.path, c->data.path);
    char path[4300];
    nmp_status s = t.buf ? nmp_file_write_atomic(nmp_outdir_file(&r->out, "report.md", path, sizeof path), t.buf, t.len, err)
                         : nmp_fail(err, NMP_ERR_NOMEM, "out of memory writing report.md");
    free(t.buf);
    return s;
}
