/* Out of memory: with the address space capped (RLIMIT_AS a little above
 * what the process uses), allocations run out.  Each failure is NULL with
 * errno ENOMEM, never a crash; blocks allocated before stay intact; once
 * everything is freed the heap serves as much again.
 *
 * Each case runs in a forked child, so the cap stays there, and reports by
 * its exit status: Criterion's own reporting allocates, which it could not
 * do with the address space exhausted.  The child writes what it saw to
 * stderr with write(2). */
#define _GNU_SOURCE
#include <errno.h>
#include <malloc.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "helpers.h"

TestSuite(oom, .timeout = 60);

#define HEADROOM (128 * MiB)

/* ---- the child's side ---------------------------------------------------- */

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
    char buf[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (n > 0) {
        ssize_t r = write(STDERR_FILENO, buf, (size_t)n < sizeof buf ? (size_t)n : sizeof buf - 1);
        (void)r;
    }
}

#define FAIL(code, ...)      \
    do {                     \
        say("oom: " __VA_ARGS__); \
        _exit(code);         \
    } while (0)

static size_t vm_size(void)
{
    char buf[128] = { 0 };
    FILE *f = fopen("/proc/self/statm", "r");
    if (!f || !fgets(buf, sizeof buf, f))
        FAIL(90, "cannot read /proc/self/statm\n");
    fclose(f);
    return (size_t)strtoul(buf, NULL, 10) * (size_t)sysconf(_SC_PAGESIZE);
}

static void cap_address_space(size_t headroom)
{
    struct rlimit r;
    r.rlim_cur = r.rlim_max = vm_size() + headroom;
    if (setrlimit(RLIMIT_AS, &r) != 0)
        FAIL(91, "setrlimit failed\n");
}

/* Blocks are kept on a list threaded through themselves (no memory is
 * needed to hold them): the first word links, the second holds the size,
 * and the last byte is a stamp checked before free. */
typedef struct held_s {
    struct held_s *next;
    size_t size;
} held_t;

typedef struct {
    held_t *list;
    size_t blocks, bytes;
} pool_t;

static unsigned char stamp_of(const held_t *h)
{
    return (unsigned char)(((uintptr_t)h >> 4) ^ h->size);
}

static void hold(pool_t *pool, void *p, size_t size)
{
    held_t *h = p;
    h->next = pool->list;
    h->size = size;
    ((unsigned char *)p)[size - 1] = stamp_of(h);
    pool->list = h;
    pool->blocks++;
    pool->bytes += size;
}

static void release_all(pool_t *pool)
{
    while (pool->list) {
        held_t *h = pool->list;
        pool->list = h->next;
        if (((unsigned char *)h)[h->size - 1] != stamp_of(h))
            FAIL(92, "block %p of %zu bytes damaged\n", (void *)h, h->size);
        free(h);
    }
    pool->blocks = pool->bytes = 0;
}

/* Allocates blocks of `size` until one fails; the failure must be ENOMEM,
 * and stay so when tried again. */
static size_t fill_until_null(pool_t *pool, size_t size, int use_calloc)
{
    size_t before = pool->bytes;
    for (;;) {
        errno = 0;
        void *p = use_calloc ? calloc(size / 16, 16) : malloc(size);
        if (!p)
            break;
        if (!lg_owns(p))
            FAIL(93, "block %p of %zu bytes is not lgmalloc's\n", p, size);
        if (use_calloc) {
            const unsigned char *b = p;
            for (size_t i = 0; i < size; i += 4096)
                if (b[i] != 0)
                    FAIL(94, "calloc(%zu) byte %zu is %#x\n", size, i, b[i]);
            if (b[size - 1] != 0)
                FAIL(94, "calloc(%zu) last byte is %#x\n", size, b[size - 1]);
        }
        hold(pool, p, size);
    }
    if (errno != ENOMEM)
        FAIL(95, "malloc(%zu) gave NULL with errno %d, not ENOMEM\n", size, errno);
    for (int i = 0; i < 3; i++) {
        errno = 0;
        void *p = malloc(size);
        if (p) {
            hold(pool, p, size); /* something was freed to the OS meanwhile: fine */
        } else if (errno != ENOMEM) {
            FAIL(96, "malloc(%zu) again gave NULL with errno %d\n", size, errno);
        }
    }
    return pool->bytes - before;
}

static const size_t SMALL = 64, MEDIUM = 100 * 1024, HUGE = 8 * MiB;

/* ---- the parent's side ---------------------------------------------------- */

static void run_in_child(void (*body)(void))
{
    skip_under_qemu("qemu-user does not apply RLIMIT_AS to the program it runs");
    fflush(NULL);
    pid_t pid = fork();
    cr_assert_geq(pid, 0, "fork failed");
    if (pid == 0) {
        alarm(30); /* a hang becomes a failure */
        body();
        _exit(0);
    }
    int status = 0;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert(WIFEXITED(status), "the child died with signal %d (%s)", WTERMSIG(status),
              strsignal(WTERMSIG(status)));
    cr_assert_eq(WEXITSTATUS(status), 0, "the child failed with status %d (see its stderr)",
                 WEXITSTATUS(status));
}

/* One size until NULL, everything freed, the same again: the second round
 * must get at least 90% as much. */
static void one_size_twice(size_t size)
{
    cap_address_space(HEADROOM);
    pool_t pool = { 0 };
    size_t first = fill_until_null(&pool, size, 0);
    if (first < HEADROOM / 4)
        FAIL(97, "only %zu KiB of %zu-byte blocks under a %zu MiB headroom\n", first / 1024, size,
             HEADROOM / MiB);
    release_all(&pool);
    size_t second = fill_until_null(&pool, size, 0);
    say("oom: %zu-byte blocks: %zu MiB, then %zu MiB after freeing them\n", size, first / MiB,
        second / MiB);
    if (second < first / 10 * 9)
        FAIL(98, "%zu-byte blocks: %zu bytes at first, only %zu after freeing them\n", size, first,
             second);
    release_all(&pool);
}

static void small_blocks(void) { one_size_twice(SMALL); }
static void medium_blocks(void) { one_size_twice(MEDIUM); }
static void huge_blocks(void) { one_size_twice(HUGE); }

Test(oom, small_blocks_run_out_with_enomem_and_come_back_after_free)
{
    run_in_child(small_blocks);
}

Test(oom, medium_blocks_run_out_with_enomem_and_come_back_after_free)
{
    run_in_child(medium_blocks);
}

Test(oom, huge_blocks_run_out_with_enomem_and_come_back_after_free)
{
    run_in_child(huge_blocks);
}

/* Huge blocks until NULL, then medium ones in what is left, then small
 * ones; then everything is freed and each kind must work again. */
static void every_kind(void)
{
    cap_address_space(HEADROOM);
    pool_t pool = { 0 };
    size_t huge = fill_until_null(&pool, HUGE, 0);
    size_t medium = fill_until_null(&pool, MEDIUM, 0);
    size_t small = fill_until_null(&pool, SMALL, 0);
    say("oom: exhausted: %zu MiB huge, then %zu KiB medium, then %zu KiB small\n", huge / MiB,
        medium / 1024, small / 1024);
    if (huge == 0)
        FAIL(97, "not one huge block under a %zu MiB headroom\n", HEADROOM / MiB);
    /* exhausted: every other call fails cleanly too */
    void *q = NULL;
    errno = 0;
    if (posix_memalign(&q, 4096, HUGE) != ENOMEM)
        FAIL(99, "posix_memalign did not return ENOMEM\n");
    errno = 0;
    if (aligned_alloc(MiB, 2 * MiB) || errno != ENOMEM)
        FAIL(99, "aligned_alloc: no NULL with ENOMEM\n");
    held_t *h = pool.list; /* taken off the list: realloc may move it */
    pool.list = h->next;
    unsigned char last = ((unsigned char *)h)[h->size - 1];
    size_t size = h->size;
    errno = 0;
    void *grown = realloc(h, HUGE * 4);
    if (grown) {
        free(grown); /* room was left for it after all: fine */
    } else {
        if (errno != ENOMEM)
            FAIL(99, "realloc: NULL with errno %d\n", errno);
        if (((unsigned char *)h)[size - 1] != last)
            FAIL(99, "a failed realloc damaged the block\n");
        free(h);
    }
    release_all(&pool);
    /* everything back: each kind again */
    size_t huge2 = fill_until_null(&pool, HUGE, 0);
    release_all(&pool);
    size_t medium2 = fill_until_null(&pool, MEDIUM, 0);
    release_all(&pool);
    size_t small2 = fill_until_null(&pool, SMALL, 0);
    release_all(&pool);
    say("oom: after freeing: %zu MiB huge, %zu MiB medium, %zu MiB small, each alone\n", huge2 / MiB,
        medium2 / MiB, small2 / MiB);
    if (huge2 < huge / 10 * 9 || medium2 < huge / 10 * 9 || small2 < huge / 10 * 9)
        FAIL(98, "after freeing everything the heap serves less than 90%% of the %zu MiB of before\n",
             huge / MiB);
}

Test(oom, every_kind_runs_out_with_enomem_and_the_heap_works_after_free)
{
    run_in_child(every_kind);
}

/* calloc under the cap: every block it gives is zeroed, including those
 * that reuse memory freed just before; failures are ENOMEM. */
static void calloc_under_the_cap(void)
{
    cap_address_space(HEADROOM);
    pool_t pool = { 0 };
    size_t first = fill_until_null(&pool, 6 * MiB, 0);
    /* dirty them all, so reuse would show */
    for (held_t *h = pool.list; h; h = h->next)
        memset(h + 1, 0xa5, h->size - sizeof *h - 1);
    release_all(&pool);
    size_t huge = fill_until_null(&pool, 6 * MiB, 1);
    release_all(&pool);
    size_t medium = fill_until_null(&pool, 64 * 1024, 1);
    release_all(&pool);
    errno = 0;
    if (calloc(HEADROOM / 1024, 2048) || errno != ENOMEM)
        FAIL(99, "calloc of twice the headroom: no NULL with ENOMEM\n");
    say("oom: calloc: %zu MiB of 6 MiB blocks (malloc: %zu MiB), %zu MiB of 64 KiB blocks, all zero\n",
        huge / MiB, first / MiB, medium / MiB);
    if (huge < first / 10 * 9)
        FAIL(98, "calloc got %zu bytes where malloc got %zu\n", huge, first);
}

Test(oom, calloc_runs_out_with_enomem_and_gives_zeroed_blocks)
{
    run_in_child(calloc_under_the_cap);
}
