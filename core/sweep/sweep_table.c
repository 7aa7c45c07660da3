/* results.csv (one row per run) and results.md (mean +- std per grid cell, then every run) of
 * a sweep; rewritten whole and atomically after each run, so they are valid at any time. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io.h"
#include "run_state.h"
#include "sweep.h"

/* The quality and size columns shared by both tables: header, then the value of a result. */
typedef struct {
    const char *csv, *md;
    int digits;
} column;

enum { COL_NP, COL_TRIPLET, COL_KNN, COL_TRUST, COL_EDGES, COL_RECALL, COL_RSS, N_COLS };
static const column cols[N_COLS] = {
    {"np", "NP", 4},
    {"triplet", "triplet", 4},
    {"knn_acc", "kNN acc", 4},
    {"trust", "trust", 4},
    {"edges_kept", "edges kept", 4},
    {"knn_recall", "kNN recall", 4},
    {"peak_rss_mib", "peak RSS MiB", 1},
};

static double col_value(const nmp_sweep_result *r, int c)
{
    if (r->state != NMP_SWEEP_OK) return NAN; /* a failed run measured nothing */
    switch (c) {
    case COL_NP:
        return r->np;
    case COL_TRIPLET:
        return r->triplet;
    case COL_KNN:
        return r->knn_acc;
    case COL_TRUST:
        return r->trust;
    case COL_EDGES:
        return r->edges_kept;
    case COL_RECALL:
        return r->recall;
    case COL_RSS:
        return r->peak_rss_bytes / 1048576.0;
    }
    return NAN;
}

/* Seconds of stage s, or the total for s = NMP_SWEEP_STAGES. */
static double stage_value(const nmp_sweep_result *r, int s)
{
    if (r->state != NMP_SWEEP_OK) return NAN;
    return s < NMP_SWEEP_STAGES ? r->stage_seconds[s] : r->total_seconds;
}

/* "np@10", or "np@k" when eval.k is itself swept. */
static void np_header(const nmp_sweep_tables *t, const char *stem, char *buf, size_t size)
{
    int swept = 0;
    for (int i = 0; i < t->grid->count; i++) swept |= !strcmp(t->grid->axes[i].key, "eval.k");
    if (swept)
        snprintf(buf, size, "%s@k", stem);
    else
        snprintf(buf, size, "%s@%lld", stem, (long long)t->eval_k);
}

/* ------------------------------------------------------------------ CSV */

static void csv_field(FILE *f, const char *s)
{
    if (!strpbrk(s, ",\"\r\n")) {
        fputs(s, f);
        return;
    }
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"') fputc('"', f);
        fputc(*s, f);
    }
    fputc('"', f);
}

static void csv_number(FILE *f, double v, int digits)
{
    fputc(',', f);
    if (isfinite(v)) fprintf(f, "%.*f", digits, v);
}

static void write_csv(FILE *f, const nmp_sweep_tables *t)
{
    char np[32];
    np_header(t, "np", np, sizeof np);
    fputs("run", f);
    for (int i = 0; i < t->grid->count; i++) fputc(',', f), csv_field(f, t->grid->axes[i].key);
    fputs(",seed,status", f);
    for (int c = 0; c < N_COLS; c++) fprintf(f, ",%s", c == COL_NP ? np : cols[c].csv);
    for (int s = 0; s < NMP_SWEEP_STAGES; s++) fprintf(f, ",%s_s", nmp_stage_names[s]);
    fputs(",total_s,error\n", f);
    for (int64_t i = 0; i < t->n_runs; i++) {
        const nmp_sweep_run *run = &t->runs[i];
        const nmp_sweep_result *r = &run->result;
        if (r->state == NMP_SWEEP_PENDING) continue;
        csv_field(f, run->name);
        for (int a = 0; a < t->grid->count; a++) fputc(',', f), csv_field(f, t->grid->axes[a].values[run->choice[a]]);
        fprintf(f, ",%lld,%s", (long long)run->seed, r->state == NMP_SWEEP_OK ? "ok" : "error");
        for (int c = 0; c < N_COLS; c++) csv_number(f, col_value(r, c), cols[c].digits + 2);
        for (int s = 0; s < NMP_SWEEP_STAGES; s++) csv_number(f, stage_value(r, s), 4);
        csv_number(f, stage_value(r, NMP_SWEEP_STAGES), 4);
        fputc(',', f);
        csv_field(f, r->state == NMP_SWEEP_FAILED ? r->error : "");
        fputc('\n', f);
    }
}

/* ------------------------------------------------------------------ Markdown */

static void md_text(FILE *f, const char *s)
{
    for (; *s; s++) {
        if (*s == '|') fputc('\\', f);
        fputc(*s == '\n' || *s == '\r' ? ' ' : *s, f);
    }
}

static void md_number(FILE *f, double v, int digits)
{
    if (isfinite(v))
        fprintf(f, " %.*f |", digits, v);
    else
        fputs(" - |", f);
}

static void md_rule(FILE *f, int n)
{
    fputc('|', f);
    for (int i = 0; i < n; i++) fputs("---|", f);
    fputc('\n', f);
}

static void md_axes_header(FILE *f, const nmp_sweep_grid *g)
{
    fputc('|', f);
    for (int i = 0; i < g->count; i++) fprintf(f, " %s |", g->axes[i].key);
}

static void md_axes_row(FILE *f, const nmp_sweep_grid *g, const int *choice)
{
    fputc('|', f);
    for (int i = 0; i < g->count; i++) {
        fputs(" `", f);
        md_text(f, g->axes[i].values[choice[i]]);
        fputs("` |", f);
    }
}

/* Mean +- sample std over the runs of one cell that finished ok. */
static void md_mean_std(FILE *f, const double *v, int n, int digits)
{
    double sum = 0, sq = 0;
    int k = 0;
    for (int i = 0; i < n; i++)
        if (isfinite(v[i])) sum += v[i], k++;
    if (k == 0) {
        fputs(" - |", f);
        return;
    }
    double mean = sum / k;
    for (int i = 0; i < n; i++)
        if (isfinite(v[i])) sq += (v[i] - mean) * (v[i] - mean);
    if (k == 1)
        fprintf(f, " %.*f |", digits, mean);
    else
        fprintf(f, " %.*f ± %.*f |", digits, mean, digits, sqrt(sq / (k - 1)));
}

static void md_summary_row(FILE *f, const nmp_sweep_tables *t, int64_t cell, double *scratch)
{
    const nmp_sweep_run *first = NULL;
    int done = 0, ok = 0;
    for (int64_t i = 0; i < t->n_runs; i++) {
        const nmp_sweep_run *run = &t->runs[i];
        if (run->cell != cell || run->result.state == NMP_SWEEP_PENDING) continue;
        first = first ? first : run;
        done++;
        ok += run->result.state == NMP_SWEEP_OK;
    }
    if (!first) return;
    md_axes_row(f, t->grid, first->choice);
    fprintf(f, " %d/%d |", ok, done);
    for (int c = 0; c < N_COLS + 2; c++) {
        int n = 0;
        for (int64_t i = 0; i < t->n_runs; i++) {
            const nmp_sweep_run *run = &t->runs[i];
            if (run->cell != cell || run->result.state != NMP_SWEEP_OK) continue;
            const nmp_sweep_result *r = &run->result;
            scratch[n++] =
                c < N_COLS ? col_value(r, c) : stage_value(r, c == N_COLS ? STAGE_OPTIMIZE : NMP_SWEEP_STAGES);
        }
        md_mean_std(f, scratch, n, c < N_COLS ? cols[c].digits : 2);
    }
    fputc('\n', f);
}

static void md_summary(FILE *f, const nmp_sweep_tables *t, double *scratch)
{
    char np[32];
    np_header(t, "NP", np, sizeof np);
    fprintf(f, "## Mean ± std over seeds\n\nOne row per grid cell; the std is over the runs that finished ok (n - 1 "
               "in the denominator).\n\n");
    md_axes_header(f, t->grid);
    fputs(" ok/runs |", f);
    for (int c = 0; c < N_COLS; c++) fprintf(f, " %s |", c == COL_NP ? np : cols[c].md);
    fputs(" optimize s | total s |\n", f);
    md_rule(f, t->grid->count + 1 + N_COLS + 2);
    int64_t cells = 0;
    for (int64_t i = 0; i < t->n_runs; i++) cells = t->runs[i].cell + 1 > cells ? t->runs[i].cell + 1 : cells;
    for (int64_t cell = 0; cell < cells; cell++) md_summary_row(f, t, cell, scratch);
}

static void md_runs(FILE *f, const nmp_sweep_tables *t)
{
    char np[32];
    np_header(t, "NP", np, sizeof np);
    fputs("\n## Runs\n\nTimes in seconds per pipeline stage; total = the run's stages.\n\n", f);
    md_axes_header(f, t->grid);
    fputs(" seed | status |", f);
    for (int c = 0; c < N_COLS; c++) fprintf(f, " %s |", c == COL_NP ? np : cols[c].md);
    for (int s = 0; s < NMP_SWEEP_STAGES; s++) fprintf(f, " %s |", nmp_stage_names[s]);
    fputs(" total |\n", f);
    md_rule(f, t->grid->count + 2 + N_COLS + NMP_SWEEP_STAGES + 1);
    for (int64_t i = 0; i < t->n_runs; i++) {
        const nmp_sweep_run *run = &t->runs[i];
        const nmp_sweep_result *r = &run->result;
        if (r->state == NMP_SWEEP_PENDING) continue;
        md_axes_row(f, t->grid, run->choice);
        fprintf(f, " %lld | ", (long long)run->seed);
        if (r->state == NMP_SWEEP_OK)
            fputs("ok", f);
        else
            fputs("error: ", f), md_text(f, r->error);
        fputs(" |", f);
        for (int c = 0; c < N_COLS; c++) md_number(f, col_value(r, c), cols[c].digits);
        for (int s = 0; s < NMP_SWEEP_STAGES; s++) md_number(f, stage_value(r, s), 2);
        md_number(f, stage_value(r, NMP_SWEEP_STAGES), 2);
        fputc('\n', f);
    }
}

static void write_md(FILE *f, const nmp_sweep_tables *t, double *scratch)
{
    int64_t ok = 0, failed = 0;
    for (int64_t i = 0; i < t->n_runs; i++) {
        ok += t->runs[i].result.state == NMP_SWEEP_OK;
        failed += t->runs[i].result.state == NMP_SWEEP_FAILED;
    }
    fputs("# Sweep of ", f);
    md_text(f, t->config_path);
    fputs("\n\n```\n", f);
    fputs(t->command, f);
    fprintf(f,
            "\n```\n\n%lld runs (%lld grid cells x %lld seeds): %lld ok, %lld failed, %lld not run yet. Run `<run>` "
            "is the folder `<run>/` here (run.json, embedding.npy, map.png, report.md), its log `logs/<run>.log`; "
            "results.csv has the same rows with more digits.\n\n",
            (long long)t->n_runs, (long long)(t->n_runs / t->seeds), (long long)t->seeds, (long long)ok,
            (long long)failed, (long long)(t->n_runs - ok - failed));
    md_summary(f, t, scratch);
    md_runs(f, t);
}

/* ------------------------------------------------------------------ files */

static nmp_status write_file(const char *dir, const char *name, const nmp_sweep_tables *t, double *scratch,
                             nmp_err *err)
{
    char *buf = NULL, path[4400];
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f) return nmp_fail(err, NMP_ERR_NOMEM, "sweep: out of memory writing %s", name);
    if (scratch)
        write_md(f, t, scratch);
    else
        write_csv(f, t);
    int bad = ferror(f);
    fclose(f);
    snprintf(path, sizeof path, "%s/%s", dir, name);
    nmp_status s = bad ? nmp_fail(err, NMP_ERR_NOMEM, "sweep: out of memory writing %s", path)
                       : nmp_file_write_atomic(path, buf, len, err);
    free(buf);
    return s;
}

nmp_status nmp_sweep_tables_write(const char *dir, const nmp_sweep_tables *t, nmp_err *err)
{
    double *scratch = malloc((size_t)(t->n_runs + 1) * sizeof *scratch);
    if (!scratch) return nmp_fail(err, NMP_ERR_NOMEM, "sweep: out of memory writing the tables");
    nmp_status s = write_file(dir, "results.csv", t, NULL, err);
    if (s == NMP_OK) s = write_file(dir, "results.md", t, scratch, err);
    free(scratch);
    return s;
}
