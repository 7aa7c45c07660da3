/* See pool.h. One job at a time: the caller publishes it by bumping `generation`; each worker
 * spins on that counter for a while, then sleeps on a condition variable; the caller runs
 * worker 0's range, then waits (the same way) for `pending` to reach zero. */
#include "pool.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

#define POOL_MAX 256
/* Spins before sleeping: about 20-50 us, longer than the gap between two sections of a step,
 * far shorter than a scheduler's time slice. */
#define POOL_SPINS 20000

typedef struct {
    pthread_mutex_t lock;
    pthread_cond_t wake, done;
    atomic_uint_fast64_t generation;
    atomic_int pending;
    atomic_int busy; /* a job is running: a second caller (nested, or from another thread) runs serially */
    int started;     /* workers running, excluding the caller */
    /* the job */
    int threads;
    int64_t n;
    nmp_range_fn fn;
    void *ctx;
} pool;

static pool g_pool = {.lock = PTHREAD_MUTEX_INITIALIZER, .wake = PTHREAD_COND_INITIALIZER,
                      .done = PTHREAD_COND_INITIALIZER};

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

static void run_share(int w)
{
    int64_t b = g_pool.n * w / g_pool.threads, e = g_pool.n * (w + 1) / g_pool.threads;
    if (b < e) g_pool.fn(g_pool.ctx, b, e, w);
}

/* Waits until generation differs from `seen`; returns the new one. */
static uint_fast64_t wait_job(uint_fast64_t seen)
{
    for (int i = 0; i < POOL_SPINS; i++) {
        uint_fast64_t g = atomic_load_explicit(&g_pool.generation, memory_order_acquire);
        if (g != seen) return g;
        cpu_relax();
    }
    pthread_mutex_lock(&g_pool.lock);
    uint_fast64_t g;
    while ((g = atomic_load_explicit(&g_pool.generation, memory_order_acquire)) == seen)
        pthread_cond_wait(&g_pool.wake, &g_pool.lock);
    pthread_mutex_unlock(&g_pool.lock);
    return g;
}

static void *worker_main(void *arg)
{
    const int w = (int)(intptr_t)arg;
    uint_fast64_t seen = 0;
    for (;;) {
        seen = wait_job(seen);
        if (w < g_pool.threads) run_share(w);
        if (atomic_fetch_sub_explicit(&g_pool.pending, 1, memory_order_acq_rel) == 1) {
            pthread_mutex_lock(&g_pool.lock); /* the caller may be asleep on `done` */
            pthread_cond_signal(&g_pool.done);
            pthread_mutex_unlock(&g_pool.lock);
        }
    }
    return NULL;
}

/* Starts workers up to threads - 1 (they never stop: the process ends them). */
static int grow(int threads)
{
    while (g_pool.started < threads - 1) {
        pthread_t t;
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        int bad = pthread_create(&t, &attr, worker_main, (void *)(intptr_t)(g_pool.started + 1));
        pthread_attr_destroy(&attr);
        if (bad) return 0;
        g_pool.started++;
    }
    return 1;
}

static void wait_done(void)
{
    for (int i = 0; i < POOL_SPINS; i++) {
        if (atomic_load_explicit(&g_pool.pending, memory_order_acquire) == 0) return;
        cpu_relax();
    }
    pthread_mutex_lock(&g_pool.lock);
    while (atomic_load_explicit(&g_pool.pending, memory_order_acquire) != 0) pthread_cond_wait(&g_pool.done, &g_pool.lock);
    pthread_mutex_unlock(&g_pool.lock);
}

/* The same split, one range after another on the calling thread. */
static void run_serial(int threads, int64_t n, nmp_range_fn fn, void *ctx)
{
    for (int w = 0; w < threads; w++) {
        int64_t b = n * w / threads, e = n * (w + 1) / threads;
        if (b < e) fn(ctx, b, e, w);
    }
}

void nmp_pool_run(int threads, int64_t n, nmp_range_fn fn, void *ctx)
{
    threads = threads < 1 ? 1 : threads > POOL_MAX ? POOL_MAX : threads;
    if (threads == 1 || n < 2) {
        if (n > 0) fn(ctx, 0, n, 0);
        return;
    }
    if (atomic_exchange_explicit(&g_pool.busy, 1, memory_order_acquire) || !grow(threads)) {
        run_serial(threads, n, fn, ctx); /* per-worker sums stay per worker: the results do not change */
        return;
    }
    g_pool.threads = threads, g_pool.n = n, g_pool.fn = fn, g_pool.ctx = ctx;
    /* every started worker answers each job (those past `threads` with nothing to do) */
    atomic_store_explicit(&g_pool.pending, g_pool.started, memory_order_relaxed);
    pthread_mutex_lock(&g_pool.lock);
    atomic_fetch_add_explicit(&g_pool.generation, 1, memory_order_release);
    pthread_cond_broadcast(&g_pool.wake);
    pthread_mutex_unlock(&g_pool.lock);
    run_share(0);
    wait_done();
    atomic_store_explicit(&g_pool.busy, 0, memory_order_release);
}
