/* Behaviours of glibc's malloc that its own test suite checks and that real
 * programs rely on, where the other core tests do not check them already:
 * free() keeps errno (glibc 2.33+, gnulib counts on it), alignments and
 * usable sizes of the aligned functions, allocation from thread-exit
 * destructors, blocks traded between threads, fork while threads allocate,
 * and the reporting functions (malloc_trim, mallinfo, malloc_stats). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "helpers.h"

#define COUNT(a) (sizeof(a) / sizeof *(a))

TestSuite(glibc, .timeout = 60);

/* ---- free() leaves errno alone ------------------------------------------- */

Test(glibc, free_leaves_errno_alone_for_every_kind_of_block)
{
    static const size_t sizes[] = { 0, 16, 100, 4000, 70000, 600000, 5 * MiB, 40 * MiB };
    for (size_t i = 0; i < COUNT(sizes); i++) {
        void *p = malloc(opaque(sizes[i]));
        cr_assert_not_null(p);
        memset(p, 1, sizes[i]);
        errno = 12345;
        free(p);
        cr_assert_eq(errno, 12345, "free of a %zu-byte block set errno to %d", sizes[i], errno);
    }
    errno = 12345;
    free(NULL);
    cr_assert_eq(errno, 12345, "free(NULL) set errno to %d", errno);
}

Test(glibc, free_leaves_errno_alone_while_memory_goes_back_to_the_os)
{
    enum { N = 2048 };
    static void *blocks[N];
    for (int round = 0; round < 3; round++) {
        for (int i = 0; i < N; i++) {
            blocks[i] = malloc(opaque(16384 + (size_t)(i % 7) * 4096));
            cr_assert_not_null(blocks[i]);
            memset(blocks[i], i, 16384);
        }
        for (int i = 0; i < N; i++) {
            errno = 12345;
            free(blocks[i]);
            cr_assert_eq(errno, 12345, "round %d: free of block %d set errno to %d", round, i, errno);
        }
        errno = 12345;
#ifdef LG_HAVE_MALLOC_TRIM
        malloc_trim(0);
#else
        lg_collect();
#endif
        void *p = malloc(opaque(64));
        free(p);
        cr_assert_eq(errno, 12345, "round %d: malloc_trim and a malloc/free set errno to %d", round,
                     errno);
    }
}

/* ---- the aligned functions ------------------------------------------------ */

Test(glibc, posix_memalign_accepts_the_size_of_a_pointer_as_alignment)
{
    void *p = NULL;
    cr_assert_eq(posix_memalign(&p, opaque(sizeof(void *)), opaque(40)), 0);
    cr_assert_not_null(p);
    cr_assert(is_aligned(p, sizeof(void *)));
    assert_ours(p);
    free(p);
}

Test(glibc, memalign_with_alignment_zero_gives_an_ordinary_block)
{
    errno = 0;
    void *p = memalign(opaque(0), opaque(100));
    cr_assert_not_null(p, "memalign(0, 100) failed, errno %d", errno);
    cr_assert(is_aligned(p, 16));
    memset(p, 7, 100);
    free(p);
}

Test(glibc, aligned_blocks_have_a_usable_size_of_at_least_the_request_all_writable)
{
    static const size_t aligns[] = { 16, 32, 64, 256, 4096, 65536, 2 * MiB };
    static const size_t sizes[] = { 1, 17, 100, 4095, 4097, 70000, 600000, 3 * MiB };
    for (size_t a = 0; a < COUNT(aligns); a++) {
        for (size_t s = 0; s < COUNT(sizes); s++) {
            void *p[3] = { NULL, NULL, NULL };
            p[0] = memalign(opaque(aligns[a]), opaque(sizes[s]));
            cr_assert_eq(posix_memalign(&p[1], opaque(aligns[a]), opaque(sizes[s])), 0);
            p[2] = aligned_alloc(opaque(aligns[a]), opaque(sizes[s]));
            for (int k = 0; k < 3; k++) {
                cr_assert_not_null(p[k], "function %d, alignment %zu, size %zu", k, aligns[a],
                                   sizes[s]);
                cr_assert(is_aligned(p[k], aligns[a]));
                size_t u = malloc_usable_size(p[k]);
                cr_assert_geq(u, sizes[s], "function %d, alignment %zu, size %zu: usable %zu", k,
                              aligns[a], sizes[s], u);
                memset(p[k], k + 1, u);
            }
            for (int k = 0; k < 3; k++) {
                const unsigned char *b = p[k];
                size_t u = malloc_usable_size(p[k]);
                cr_assert_eq(b[0], k + 1);
                cr_assert_eq(b[u - 1], k + 1, "alignment %zu, size %zu: last usable byte "
                             "overwritten by a neighbour", aligns[a], sizes[s]);
                free(p[k]);
            }
        }
    }
}

/* ---- threads -------------------------------------------------------------- */

static pthread_key_t key;
static _Atomic(void *) made_at_exit[16];
static atomic_int thread_errors;

/* Runs after the thread's own code, while it exits: glibc lets such
 * destructors allocate and free (tst-malloc-thread-exit does). */
static void key_destructor(void *value)
{
    if (check(value, 1000, 3) != 1000)
        atomic_fetch_add(&thread_errors, 1);
    free(value);
    void *q = malloc(3000);
    void *tmp = realloc(malloc(10), 20000);
    if (!q || !tmp) {
        atomic_fetch_add(&thread_errors, 1);
        free(q);
        free(tmp);
        return;
    }
    fill(q, 3000, 5);
    free(tmp);
    for (size_t i = 0; i < COUNT(made_at_exit); i++) {
        void *expected = NULL;
        if (atomic_compare_exchange_strong(&made_at_exit[i], &expected, q))
            return;
    }
    free(q);
}

static void *set_key(void *arg)
{
    (void)arg;
    void *v = malloc(1000);
    fill(v, 1000, 3);
    pthread_setspecific(key, v);
    free(malloc(50)); /* the thread has a heap of its own before it exits */
    return NULL;
}

Test(glibc, a_thread_key_destructor_can_allocate_and_free_while_the_thread_exits)
{
    cr_assert_eq(pthread_key_create(&key, key_destructor), 0);
    for (int round = 0; round < 4; round++) {
        pthread_t t[COUNT(made_at_exit)];
        for (size_t i = 0; i < COUNT(t); i++)
            cr_assert_eq(pthread_create(&t[i], NULL, set_key, NULL), 0);
        for (size_t i = 0; i < COUNT(t); i++)
            pthread_join(t[i], NULL);
        cr_assert_eq(atomic_load(&thread_errors), 0, "round %d: a destructor found a bad block",
                     round);
        /* Blocks made by destructors of exited threads, freed by main. */
        for (size_t i = 0; i < COUNT(made_at_exit); i++) {
            void *q = atomic_exchange(&made_at_exit[i], NULL);
            cr_assert_not_null(q, "round %d: destructor %zu left no block", round, i);
            cr_assert_eq(check(q, 3000, 5), 3000, "round %d: block %zu changed", round, i);
            free(q);
        }
    }
    pthread_key_delete(key);
}

enum { SLOTS = 64, TRADERS = 8, TRADES = 20000 };
static _Atomic(unsigned char *) slots[SLOTS];

/* A block carries its size and seed in its first bytes, the pattern after. */
static unsigned char *make_block(unsigned seed)
{
    size_t n = 16 + (seed * 2654435761u) % 3000;
    unsigned char *b = malloc(n);
    if (!b)
        abort();
    memcpy(b, &n, sizeof n);
    memcpy(b + sizeof n, &seed, sizeof seed);
    fill(b + 16, n - 16, seed);
    return b;
}

static void check_block(unsigned char *b)
{
    size_t n;
    unsigned seed;
    memcpy(&n, b, sizeof n);
    memcpy(&seed, b + sizeof n, sizeof seed);
    if (n < 16 || n > 3100 || check(b + 16, n - 16, seed) != n - 16)
        atomic_fetch_add(&thread_errors, 1);
}

static void *trader(void *arg)
{
    unsigned seed = (unsigned)(uintptr_t)arg * 7919u + 1;
    for (int i = 0; i < TRADES; i++) {
        seed = seed * 1103515245u + 12345u;
        unsigned char *got = atomic_exchange(&slots[(seed >> 8) % SLOTS], make_block(seed));
        if (got) {
            check_block(got);
            free(got);
        }
    }
    return NULL;
}

Test(glibc, threads_trading_blocks_through_shared_slots_keep_every_block_intact)
{
    pthread_t t[TRADERS];
    for (uintptr_t i = 0; i < TRADERS; i++)
        cr_assert_eq(pthread_create(&t[i], NULL, trader, (void *)i), 0);
    for (int i = 0; i < TRADERS; i++)
        pthread_join(t[i], NULL);
    cr_assert_eq(atomic_load(&thread_errors), 0, "%d traded blocks changed",
                 atomic_load(&thread_errors));
    for (int i = 0; i < SLOTS; i++) {
        unsigned char *b = atomic_exchange(&slots[i], NULL);
        if (b) {
            check_block(b);
            free(b);
        }
    }
    cr_assert_eq(atomic_load(&thread_errors), 0, "a block left in a slot changed");
}

static void *dirty_and_exit(void *arg)
{
    (void)arg;
    void *b[256];
    for (int i = 0; i < 256; i++) {
        b[i] = malloc(opaque(48 + (size_t)(i % 4) * 1000));
        memset(b[i], 0xA5, 48 + (size_t)(i % 4) * 1000);
    }
    for (int i = 0; i < 256; i++)
        free(b[i]);
    return NULL;
}

Test(glibc, calloc_is_zeroed_in_memory_that_an_exited_thread_dirtied)
{
    for (int round = 0; round < 8; round++) {
        pthread_t t;
        cr_assert_eq(pthread_create(&t, NULL, dirty_and_exit, NULL), 0);
        pthread_join(t, NULL);
        for (int i = 0; i < 256; i++) {
            size_t n = 48 + (size_t)(i % 4) * 1000;
            unsigned char *p = calloc(1, opaque(n));
            cr_assert_not_null(p);
            for (size_t j = 0; j < n; j++)
                cr_assert_eq(p[j], 0, "round %d: calloc(%zu) byte %zu is %#x", round, n, j, p[j]);
            free(p);
        }
    }
}

/* ---- fork while other threads allocate ----------------------------------- */

static atomic_int stop_churn, churns_filled;
static void *held_by_thread[64];

static void *churn(void *arg)
{
    (void)arg;
    for (int i = 0; i < 64; i++) {
        held_by_thread[i] = malloc(100 + (size_t)i * 50);
        fill(held_by_thread[i], 100 + (size_t)i * 50, (unsigned)i);
    }
    atomic_fetch_add(&churns_filled, 1);
    while (!atomic_load(&stop_churn)) {
        void *p = malloc(opaque(200));
        void *q = realloc(malloc(opaque(30)), opaque(5000));
        free(p);
        free(q);
    }
    return NULL;
}

Test(glibc, a_child_of_fork_frees_blocks_of_parent_threads_it_does_not_have)
{
    pthread_t t[3];
    for (int i = 0; i < 3; i++)
        cr_assert_eq(pthread_create(&t[i], NULL, churn, NULL), 0);
    /* the held blocks filled (a child checks them), the churn under way */
    while (atomic_load(&churns_filled) < 3)
        usleep(1000);
    usleep(20000);
    for (int k = 0; k < 20; k++) {
        pid_t pid = fork();
        cr_assert_neq(pid, -1);
        if (pid == 0) {
            int bad = 0;
            for (int i = 0; i < 64; i++) {
                if (held_by_thread[i] && check(held_by_thread[i], 100 + (size_t)i * 50,
                                               (unsigned)i) != 100 + (size_t)i * 50)
                    bad = 1;
                free(held_by_thread[i]);
            }
            for (int i = 0; i < 1000; i++) {
                unsigned char *p = calloc(1, 100 + (size_t)i % 300);
                if (!p || p[0] != 0)
                    bad = 1;
                free(p);
            }
            _exit(bad ? 3 : 0);
        }
        int status;
        cr_assert_eq(waitpid(pid, &status, 0), pid);
        cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0,
                  "fork %d: child status %#x", k, status);
    }
    atomic_store(&stop_churn, 1);
    for (int i = 0; i < 3; i++)
        pthread_join(t[i], NULL);
}

/* ---- the reporting and trimming functions ------------------------------- */

#ifdef LG_HAVE_MALLOC_TRIM
Test(glibc, malloc_trim_returns_zero_or_one_and_the_heap_works_after)
{
    void *p = malloc(opaque(5000));
    free(p);
    int r = malloc_trim(0);
    cr_assert(r == 0 || r == 1, "malloc_trim returned %d", r);
    r = malloc_trim(opaque(1 << 20));
    cr_assert(r == 0 || r == 1, "malloc_trim(1 MiB) returned %d", r);
    p = malloc(opaque(5000));
    cr_assert_not_null(p);
    free(p);
}
#endif

#ifdef LG_HAVE_MALLOC_TRIM
Test(glibc, malloc_trim_gives_freed_memory_back_to_the_os)
{
    enum { N = 4096 };
    static void *b[N];
    size_t before = rss_bytes();
    for (int i = 0; i < N; i++) {
        b[i] = malloc(opaque(16384));
        cr_assert_not_null(b[i]);
        memset(b[i], 1, 16384);
    }
    cr_assert_geq(rss_bytes(), before + 48 * MiB);
    for (int i = 0; i < N; i++)
        free(b[i]);
    malloc_trim(0);
    size_t after = rss_bytes();
    cr_assert_leq(after, before + 8 * MiB, "RSS %zu KiB after malloc_trim, %zu KiB before the "
                  "64 MiB were allocated", after >> 10, before >> 10);
}
#endif

/* glibc's uordblks counts the bytes in use: up with live blocks, down once
 * they are freed. */
#ifdef LG_HAVE_MALLINFO2
Test(glibc, mallinfo2_allocated_bytes_follow_the_live_blocks)
{
    enum { N = 2000, SIZE = 16000 };
    static void *b[N];
    struct mallinfo2 before = mallinfo2();
    for (int i = 0; i < N; i++) {
        b[i] = malloc(opaque(SIZE));
        memset(b[i], 1, SIZE);
    }
    struct mallinfo2 during = mallinfo2();
    cr_assert_geq(during.uordblks, before.uordblks + (size_t)N * SIZE,
                  "uordblks %zu -> %zu with %d live blocks of %d bytes", before.uordblks,
                  during.uordblks, N, SIZE);
    for (int i = 0; i < N; i++)
        free(b[i]);
    struct mallinfo2 after = mallinfo2();
    cr_assert_leq(after.uordblks, before.uordblks + MiB,
                  "uordblks %zu before, %zu after %d blocks of %d bytes were allocated and freed",
                  before.uordblks, after.uordblks, N, SIZE);
}
#endif

#if defined LG_HAVE_MALLINFO && defined LG_HAVE_MALLINFO2
Test(glibc, mallinfo_agrees_with_mallinfo2)
{
    void *p = malloc(opaque(300000));
    memset(p, 1, 300000);
    struct mallinfo2 w = mallinfo2();
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
    struct mallinfo n = mallinfo();
#pragma GCC diagnostic pop
    cr_assert_lt(w.uordblks, (size_t)INT32_MAX);
    cr_assert_eq((size_t)n.uordblks, w.uordblks);
    cr_assert_eq((size_t)n.arena, w.arena);
    cr_assert_eq((size_t)n.hblkhd, w.hblkhd);
    cr_assert_eq((size_t)n.hblks, w.hblks);
    free(p);
}
#endif

#ifdef LG_HAVE_MALLOC_STATS
Test(glibc, malloc_stats_writes_a_report_on_stderr)
{
    char path[] = "/tmp/lgmalloc-stats-XXXXXX";
    int fd = mkstemp(path);
    cr_assert_neq(fd, -1);
    unlink(path);
    void *p = malloc(opaque(1000));
    fflush(stderr);
    int saved = dup(STDERR_FILENO);
    dup2(fd, STDERR_FILENO);
    malloc_stats();
    fflush(stderr);
    dup2(saved, STDERR_FILENO);
    close(saved);
    struct stat st;
    cr_assert_eq(fstat(fd, &st), 0);
    cr_assert_gt(st.st_size, 0, "malloc_stats wrote nothing on stderr");
    close(fd);
    free(p);
}
#endif

Test(glibc, posix_memalign_with_a_bad_alignment_still_leaves_errno_alone)
{
    errno = 12345;
    void *p = NULL;
    cr_assert_eq(posix_memalign(&p, opaque(24), opaque(64)), EINVAL);
    cr_assert_eq(errno, 12345);
}
