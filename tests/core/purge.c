/* When a heap's free memory goes back to the OS: kept resident while the
 * thread soon uses it again, purged once it stayed free over the purge
 * delay (docs/design.md, "Returning memory"), and never more than a bound
 * kept however soon.  Each test runs in a thread of its own, so its heap
 * holds only what the test put there, and sets the delay it tests; also
 * built to run with LGMALLOC_PURGE_DELAY set (tests/meson.build).
 * Residency is seen with mincore, faults with RUSAGE_THREAD, which other
 * threads do not move. */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <time.h>

#include "helpers.h"

TestSuite(purge, .timeout = 60);

#define BLOCK 1000

typedef struct {
    void **p;
    size_t n;
} blocks_t;

static blocks_t allocate(size_t bytes)
{
    blocks_t b = { malloc(bytes / BLOCK * sizeof(void *)), bytes / BLOCK };
    cr_assert_not_null(b.p);
    for (size_t i = 0; i < b.n; i++) {
        b.p[i] = malloc(BLOCK);
        cr_assert_not_null(b.p[i]);
        memset(b.p[i], 1, BLOCK);
    }
    return b;
}

static void free_blocks(blocks_t *b)
{
    for (size_t i = 0; i < b->n; i++)
        free(b->p[i]);
}

/* Of the OS pages the blocks began on, how many are resident. */
static size_t resident(const blocks_t *b)
{
    uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
    size_t n = 0;
    for (size_t i = 0; i < b->n; i++) {
        unsigned char in = 0;
        cr_assert_eq(mincore((void *)((uintptr_t)b->p[i] & ~(page - 1)), page, &in), 0);
        n += in & 1;
    }
    return n;
}

static long thread_faults(void)
{
    struct rusage ru;
    cr_assert_eq(getrusage(RUSAGE_THREAD, &ru), 0);
    return ru.ru_minflt;
}

static void sleep_ms(long ms)
{
    struct timespec t = { ms / 1000, (ms % 1000) * 1000000 };
    nanosleep(&t, NULL);
}

#define DEFAULT_DELAY_MS 10

/* What a new thread's delay should be. */
static unsigned expected_default(void)
{
    const char *env = getenv("LGMALLOC_PURGE_DELAY");
    return env ? (unsigned)strtoul(env, NULL, 10) : DEFAULT_DELAY_MS;
}

static void run_in_thread(void *(*body)(void *))
{
    pthread_t t;
    cr_assert_eq(pthread_create(&t, NULL, body, NULL), 0);
    cr_assert_eq(pthread_join(t, NULL), 0);
}

/* 2 MiB freed stays resident; after the delay, what the thread does next
 * (`then`) gives it back. */
static void kept_then_purged(void (*then)(void), const char *what)
{
    lg_thread_purge_delay(DEFAULT_DELAY_MS);
    blocks_t b = allocate(2 * MiB);
    free_blocks(&b);
    size_t kept = resident(&b);
    sleep_ms(100);
    then();
    size_t after = resident(&b);
    cr_log_info("of %zu blocks' pages, %zu resident just after the free, %zu after the delay and %s",
                b.n, kept, after, what);
    cr_assert_geq(kept * 10, b.n * 9, "only %zu of %zu pages kept right after the free", kept, b.n);
    cr_assert_leq(after * 10, b.n, "%zu of %zu pages still resident after the delay and %s",
                  after, b.n, what);
    free(b.p);
}

/* A malloc of a class the thread has not used: the slow path. */
static void malloc_on_the_slow_path(void)
{
    free(malloc(3000));
}

static void *slow_path_after_the_delay(void *arg)
{
    kept_then_purged(malloc_on_the_slow_path, "a malloc on the slow path");
    return arg;
}

Test(purge, freed_memory_stays_resident_briefly_then_goes_back)
{
    run_in_thread(slow_path_after_the_delay);
}

/* A thread that goes on allocating and freeing in the page it has takes no
 * slow path, but every 1,024 frees into a page the heap's heartbeat
 * (lib/types.h, LG_HEARTBEAT) ticks. */
static void steady_pairs(void)
{
    for (int i = 0; i < 2048; i++)
        free(malloc(BLOCK));
}

static void *steady_state_after_the_delay(void *arg)
{
    kept_then_purged(steady_pairs, "2,048 malloc/free pairs in one page");
    return arg;
}

Test(purge, a_thread_in_a_steady_state_gives_memory_back_after_the_delay)
{
    run_in_thread(steady_state_after_the_delay);
}

/* Filling 4 MiB again right after freeing it takes the resident pages,
 * in whichever of the heap's segments they are: barely a fault.  Three
 * tries, in case the thread is descheduled past the delay in between. */
static void *refill(void *arg)
{
    lg_thread_purge_delay(DEFAULT_DELAY_MS);
    long first = 0, again = 0;
    for (int attempt = 0; attempt < 3; attempt++) {
        long f0 = thread_faults();
        blocks_t b = allocate(4 * MiB);
        long f1 = thread_faults();
        free_blocks(&b);
        free(b.p);
        long f2 = thread_faults();
        b = allocate(4 * MiB);
        long f3 = thread_faults();
        free_blocks(&b);
        free(b.p);
        first = f1 - f0;
        again = f3 - f2;
        cr_log_info("faults: %ld filling 4 MiB, %ld filling it again", first, again);
        if (again * 10 < first)
            break;
        sleep_ms(100); /* start the next try with nothing kept */
    }
    cr_assert_lt(again * 10, first, "refilling took %ld faults, the first fill %ld", again, first);
    return arg;
}

Test(purge, refilling_right_after_a_free_reuses_the_resident_pages)
{
    run_in_thread(refill);
}

/* However long its delay, a heap keeps at most 8 MiB of free memory
 * resident: 32 MiB freed at once leave at most that much. */
static void *bounded(void *arg)
{
    lg_thread_purge_delay(1000);
    blocks_t b = allocate(32 * MiB);
    free_blocks(&b);
    size_t kept = resident(&b) * BLOCK; /* the freed bytes whose pages stayed */
    cr_log_info("%zu KiB of 32 MiB freed stayed resident", kept / 1024);
    cr_assert_leq(kept, 9 * MiB, "%zu KiB of 32 MiB freed stayed resident", kept / 1024);
    free(b.p);
    return arg;
}

Test(purge, a_heap_keeps_a_bounded_amount_resident)
{
    run_in_thread(bounded);
}

/* A page made on resident free slices gives them all back as resident,
 * however little of it was used, so they are purged with the rest: 2 MiB
 * of small blocks freed, a 200 KiB block (a page of 14 slices) placed on
 * their slices and freed with only its first bytes written, then
 * lg_thread_collect.  (The page gave back as resident only the slices
 * its blocks reached: the other 10 stayed resident, unknown to the purge,
 * for good.) */
static void *resident_slices_given_back(void *arg)
{
    lg_thread_purge_delay(60000);
    blocks_t b = allocate(2 * MiB);
    free_blocks(&b);
    unsigned char *big = malloc(200 << 10);
    cr_assert_not_null(big);
    memset(big, 1, 64);
    free(big);
    lg_thread_collect();
    size_t kept = resident(&b);
    cr_log_info("of %zu blocks' pages, %zu resident after lg_thread_collect", b.n, kept);
    cr_assert_leq(kept * 10, b.n, "%zu of %zu pages still resident after lg_thread_collect",
                  kept, b.n);
    free(b.p);
    return arg;
}

Test(purge, a_page_on_resident_slices_gives_them_all_back_to_the_purge)
{
    run_in_thread(resident_slices_given_back);
}

/* With no delay a thread gives memory back as it frees it, 256 KiB at a
 * time; a new thread starts with the default delay, or the environment's. */
static void *no_delay(void *arg)
{
    unsigned initial = lg_thread_purge_delay(0);
    cr_assert_eq(initial, expected_default(), "a new thread's delay is %u ms", initial);
    cr_assert_eq(lg_thread_purge_delay(0), 0);
    blocks_t b = allocate(2 * MiB);
    free_blocks(&b);
    size_t kept = resident(&b);
    cr_log_info("of %zu blocks' pages, %zu resident after the free with no delay", b.n, kept);
    cr_assert_leq(kept * 5, b.n, "%zu of %zu pages still resident", kept, b.n);
    free(b.p);
    return arg;
}

Test(purge, a_thread_with_no_delay_gives_memory_back_as_it_frees)
{
    run_in_thread(no_delay);
}

/* A delay that is not a number is refused, with a message, at start-up:
 * this test binary run again with a bad LGMALLOC_PURGE_DELAY (in an
 * environment of its own: the one Criterion gives its tests would make the
 * run a worker of this one). */
Test(purge, a_bad_delay_in_the_environment_is_reported_and_ignored)
{
    char self[4096], cmd[4400];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    cr_assert_gt(n, 0);
    self[n] = '\0';
    snprintf(cmd, sizeof cmd,
             "env -i LGMALLOC_PURGE_DELAY=10ms '%s' --filter 'purge/a_thread_with_no_delay*' 2>&1",
             self);
    FILE *p = popen(cmd, "r");
    cr_assert_not_null(p);
    char out[8192];
    size_t len = fread(out, 1, sizeof out - 1, p);
    out[len] = '\0';
    int status = pclose(p);
    cr_assert(strstr(out, "LGMALLOC_PURGE_DELAY=10ms is not a number of milliseconds"),
              "no message in:\n%s", out);
    /* and the run goes on with the default delay, which that test checks */
    cr_assert_eq(status, 0, "the run with the bad value failed:\n%s", out);
}
