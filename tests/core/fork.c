/* fork(): the child allocates and frees at once, also when other threads of
 * the parent were busy allocating at the moment of the fork. */
#define _GNU_SOURCE
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "helpers.h"

TestSuite(fork, .timeout = 60);

/* The child's work: allocate and free in every size range, also from a new
 * thread, and free blocks the parent left.  Exits 0 on success. */
static void *child_thread(void *arg)
{
    (void)arg;
    for (int i = 0; i < 1000; i++)
        free(malloc((size_t)1 + (size_t)i * 61));
    return (void *)1;
}

static _Noreturn void child_work(void **inherited, int n)
{
    alarm(20); /* a deadlock becomes a failure, not a hang */
    for (int i = 0; i < n; i++)
        free(inherited[i]);
    void *p[300];
    for (int i = 0; i < 300; i++) {
        p[i] = malloc(i % 100 == 0 ? 6 * MiB : (size_t)1 + (size_t)i * 233);
        if (p[i] == NULL || !lg_owns(p[i]))
            _exit(2);
        memset(p[i], i, 16);
    }
    for (int i = 0; i < 300; i++)
        free(p[i]);
    pthread_t t;
    void *ret = NULL;
    if (pthread_create(&t, NULL, child_thread, NULL) != 0)
        _exit(3);
    pthread_join(t, &ret);
    if (ret != (void *)1)
        _exit(4);
    _exit(0);
}

static void expect_child_ok(pid_t pid)
{
    cr_assert_geq(pid, 0, "fork failed");
    int status = 0;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert(WIFEXITED(status), "child died with signal %d%s", WTERMSIG(status),
              WTERMSIG(status) == SIGALRM ? " (deadlock)" : "");
    cr_assert_eq(WEXITSTATUS(status), 0, "child exited with %d", WEXITSTATUS(status));
}

Test(fork, child_allocates_and_frees_immediately)
{
    skip_under_qemu(QEMU_FORK_THREAD);
    void *inherited[100];
    for (int i = 0; i < 100; i++)
        inherited[i] = malloc((size_t)i * 300 + 1);
    pid_t pid = fork();
    if (pid == 0)
        child_work(inherited, 100);
    expect_child_ok(pid);
    for (int i = 0; i < 100; i++)
        free(inherited[i]);
}

Test(fork, parent_allocates_normally_after_fork)
{
    void *p = malloc(1000);
    pid_t pid = fork();
    if (pid == 0)
        _exit(0);
    free(p);
    for (int i = 0; i < 10000; i++) {
        void *q = malloc((size_t)1 + (size_t)i % 5000);
        cr_assert_not_null(q);
        free(q);
    }
    expect_child_ok(pid);
}

/* ---- forking while other threads allocate ------------------------------- */

static atomic_int stop;

/* Busy threads hand blocks to each other through a pool of slots. */
typedef struct {
    pthread_mutex_t lock;
    void *slots[64];
} pool_t;

typedef struct {
    pool_t *pool;
    unsigned seed;
} busy_arg_t;

static void *busy(void *arg)
{
    pool_t *pool = ((busy_arg_t *)arg)->pool;
    unsigned state = ((busy_arg_t *)arg)->seed;
    while (!atomic_load(&stop)) {
        state = state * 1103515245u + 12345u;
        size_t n = (state >> 8) % 64 == 0 ? (state >> 4) % (5 * MiB) : (state >> 8) % 2000;
        void *p = malloc(n + 1);
        if (p == NULL)
            abort();
        /* Hand half of them to whichever thread comes next. */
        if (state & 0x10000) {
            pthread_mutex_lock(&pool->lock);
            void **slot = &pool->slots[(state >> 12) % 64];
            void *old = *slot;
            *slot = p;
            pthread_mutex_unlock(&pool->lock);
            free(old);
        } else {
            free(p);
        }
    }
    return NULL;
}

static void start_busy(pthread_t *t, busy_arg_t *args, int threads, pool_t *pool, unsigned seed)
{
    atomic_store(&stop, 0);
    for (int i = 0; i < threads; i++) {
        args[i] = (busy_arg_t){ pool, seed + (unsigned)i };
        if (pthread_create(&t[i], NULL, busy, &args[i]) != 0)
            abort();
    }
}

static void stop_busy(pthread_t *t, int threads, pool_t *pool)
{
    atomic_store(&stop, 1);
    for (int i = 0; i < threads; i++)
        pthread_join(t[i], NULL);
    for (int i = 0; i < 64; i++) {
        free(pool->slots[i]);
        pool->slots[i] = NULL;
    }
}

static void fork_under_load(int threads, int forks)
{
    static pool_t pool = { .lock = PTHREAD_MUTEX_INITIALIZER };
    pthread_t t[8];
    busy_arg_t args[8];
    start_busy(t, args, threads, &pool, 1);
    usleep(20000);
    for (int k = 0; k < forks; k++) {
        /* Every pointer in a slot is live (a thread frees a block only
         * after taking it out under the lock), and the child alone owns
         * its copy of them.  The child must not take the pool's lock: a
         * parent thread may have held it at the fork. */
        pid_t pid = fork();
        if (pid == 0)
            child_work(pool.slots, 64);
        expect_child_ok(pid);
        usleep(1000);
    }
    stop_busy(t, threads, &pool);
}

Test(fork, child_allocates_when_parent_threads_were_allocating)
{
    skip_under_qemu(QEMU_FORK_THREAD);
    fork_under_load(4, 30);
}

Test(fork, grandchild_allocates_after_two_forks_under_load)
{
    skip_under_qemu(QEMU_FORK_THREAD);
    static pool_t pool = { .lock = PTHREAD_MUTEX_INITIALIZER };
    pthread_t t[2];
    busy_arg_t args[2];
    start_busy(t, args, 2, &pool, 7);
    usleep(10000);
    pid_t pid = fork();
    if (pid == 0) {
        alarm(20);
        /* The child starts busy threads of its own, with a pool of its
         * own, and forks again. */
        static pool_t child_pool = { .lock = PTHREAD_MUTEX_INITIALIZER };
        pthread_t u[2];
        busy_arg_t uargs[2];
        start_busy(u, uargs, 2, &child_pool, 11);
        usleep(10000);
        pid_t g = fork();
        if (g == 0)
            child_work(NULL, 0);
        int status = 0;
        if (g < 0 || waitpid(g, &status, 0) != g || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
            _exit(6);
        stop_busy(u, 2, &child_pool);
        _exit(0);
    }
    expect_child_ok(pid);
    stop_busy(t, 2, &pool);
}

/* ---- the child's threads take the place of the parent's ----------------- */

#define PARENT_THREADS 4
#define PARENT_BLOCKS  3000

static unsigned char *parent_blocks[PARENT_THREADS][PARENT_BLOCKS];
static pthread_barrier_t allocated, forked;

static size_t block_size(int t, int i)
{
    return (size_t)1 + (size_t)(t * 7919 + i * 131) % 3000;
}

static void *parent_thread(void *arg)
{
    int t = (int)(intptr_t)arg;
    for (int i = 0; i < PARENT_BLOCKS; i++) {
        parent_blocks[t][i] = malloc(block_size(t, i));
        if (parent_blocks[t][i] == NULL)
            abort();
        memset(parent_blocks[t][i], t + 1, block_size(t, i));
    }
    pthread_barrier_wait(&allocated);
    pthread_barrier_wait(&forked); /* alive at the fork */
    for (int i = 0; i < PARENT_BLOCKS; i++)
        free(parent_blocks[t][i]);
    return NULL;
}

/* In the child, glibc hands the stacks of the parent's threads, and so
 * their thread ids, to new threads.  Each frees a share of the blocks of
 * every one of the parent's threads (so also of the one whose id it has),
 * then allocates and frees blocks of its own. */
static void *child_heir(void *arg)
{
    int t = (int)(intptr_t)arg;
    for (int owner = 0; owner < PARENT_THREADS; owner++) {
        for (int i = t; i < PARENT_BLOCKS; i += PARENT_THREADS) {
            unsigned char *p = parent_blocks[owner][i];
            if (p[0] != owner + 1 || p[block_size(owner, i) - 1] != owner + 1)
                return (void *)1;
            free(p);
        }
    }
    unsigned char *own[500];
    for (int round = 0; round < 20; round++) {
        for (int i = 0; i < 500; i++) {
            size_t n = block_size(t + 1, i + round);
            own[i] = malloc(n);
            if (own[i] == NULL)
                return (void *)2;
            memset(own[i], 0x40 + i % 64, n);
        }
        for (int i = 0; i < 500; i++) {
            if (own[i][0] != 0x40 + i % 64)
                return (void *)3;
            free(own[i]);
        }
    }
    return NULL;
}

Test(fork, child_threads_that_inherit_thread_ids_free_the_parents_blocks)
{
    skip_under_qemu(QEMU_FORK_THREAD);
    pthread_t t[PARENT_THREADS];
    pthread_barrier_init(&allocated, NULL, PARENT_THREADS + 1);
    pthread_barrier_init(&forked, NULL, PARENT_THREADS + 1);
    for (int i = 0; i < PARENT_THREADS; i++)
        cr_assert_eq(pthread_create(&t[i], NULL, parent_thread, (void *)(intptr_t)i), 0);
    pthread_barrier_wait(&allocated);
    pid_t pid = fork();
    if (pid == 0) {
        alarm(20);
        pthread_t heirs[PARENT_THREADS];
        for (int i = 0; i < PARENT_THREADS; i++)
            if (pthread_create(&heirs[i], NULL, child_heir, (void *)(intptr_t)i) != 0)
                _exit(5);
        for (int i = 0; i < PARENT_THREADS; i++) {
            void *ret = (void *)-1;
            pthread_join(heirs[i], &ret);
            if (ret != NULL)
                _exit(10 + (int)(intptr_t)ret);
        }
        lg_stats_t s;
        lg_stats_get(&s);
        _exit(s.threads_live == 1 ? 0 : 20); /* the parent's threads' heaps let go */
    }
    pthread_barrier_wait(&forked);
    for (int i = 0; i < PARENT_THREADS; i++)
        pthread_join(t[i], NULL);
    expect_child_ok(pid);
}

/* Threads busy in their heaps' slow paths (pages of many classes made and
 * given back all the time) at the moment of each fork: the child must not
 * take up what they left half made.  The child allocates enough to need
 * many new pages, which is when it would look for others' segments. */
static void *churn_pages(void *arg)
{
    unsigned state = (unsigned)(uintptr_t)arg;
    void *p[256];
    while (!atomic_load(&stop)) {
        for (int i = 0; i < 256; i++) {
            state = state * 1103515245u + 12345u;
            p[i] = malloc((size_t)16 << ((state >> 8) % 11));
            if (p[i] == NULL)
                abort();
        }
        for (int i = 0; i < 256; i++)
            free(p[i]);
    }
    return NULL;
}

Test(fork, child_takes_up_nothing_threads_left_half_made)
{
    pthread_t t[4];
    atomic_store(&stop, 0);
    for (int i = 0; i < 4; i++)
        cr_assert_eq(pthread_create(&t[i], NULL, churn_pages, (void *)(uintptr_t)(i + 1)), 0);
    usleep(10000);
    int forks = test_emulated() ? 20 : 60; /* each several times slower under qemu */
    for (int k = 0; k < forks; k++) {
        pid_t pid = fork();
        if (pid == 0) {
            alarm(20);
            static void *q[4096];
            for (int i = 0; i < 4096; i++)
                if ((q[i] = malloc((size_t)16 << (i % 11))) == NULL)
                    _exit(2);
            for (int i = 0; i < 4096; i++)
                free(q[i]);
            _exit(0);
        }
        expect_child_ok(pid);
    }
    atomic_store(&stop, 1);
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
}
