/* See pool.h. One job at a time: the caller publishes it by bumping `generation`; each worker
 * waits on that counter (spin, yield, then sleep: see POOL_SPINS); the caller runs worker 0's
 * range, then waits the same way for `pending` to reach zero. */
#include "pool.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>

#define POOL_MAX 256
/* How a waiting thread waits: POOL_SPINS pauses (the next section of a step usually comes
 * within microseconds), then sched_yield() until POOL_YIELD_SECONDS have passed (it keeps the
 * core awake, as an idle virtual CPU can take a millisecond to wake, yet hands the core to
 * any other runnable thread), then a sleep on a condition variable. */
#define POOL_SPINS 2000
#define POOL_YIELD_SECONDS 2e-3

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

static pool g_pool = {
    .lock = PTHREAD_MUTEX_INITIALIZER, .wake = PTHREAD_COND_INITIALIZER, .done = PTHREAD_COND_INITIALIZER};

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

static double seconds_now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* The spinning and yielding phases of a wait (see POOL_SPINS): 1 once `ready` holds. */
static int spin_until(int (*ready)(uint_fast64_t), uint_fast64_t arg)
{
    for (int i = 0; i < POOL_SPINS; i++) {
        if (ready(arg)) return 1;
        cpu_relax();
    }
    for (double t0 = seconds_now(); seconds_now() - t0 < POOL_YIELD_SECONDS;)
        for (int i = 0; i < 16; i++) {
            if (ready(arg)) return 1;
            sched_yield();
        }
    return ready(arg);
}

static int job_posted(uint_fast64_t seen)
{
    return atomic_load_explicit(&g_pool.generation, memory_order_acquire) != seen;
}

static int job_done(uint_fast64_t unused)
{
    (void)unused;
    return atomic_load_explicit(&g_pool.pending, memory_order_acquire) == 0;
}

/* Waits until generation differs from `seen`; returns the new one. */
static uint_fast64_t wait_job(uint_fast64_t seen)
{
    if (spin_until(job_posted, seen)) return atomic_load_explicit(&g_pool.generation, memory_order_acquire);
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
    if (spin_until(job_done, 0)) return;
    pthread_mutex_lock(&g_pool.lock);
    while (atomic_load_explicit(&g_pool.pending, memory_order_acquire) != 0)
        pthread_cond_wait(&g_pool.done, &g_pool.lock);
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
