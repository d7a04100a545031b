/* churn: threads come and go while they trade blocks.
 *
 * Rounds of worker threads allocate blocks of random sizes (bytes to MiB,
 * through malloc, calloc, aligned_alloc and realloc), stamp each with a
 * pattern derived from its address, and swap it into a shared table; the
 * block swapped out, allocated by whatever thread, is checked and freed.
 * Every 50 rounds the program forks and the child frees blocks of threads
 * that do not exist in it.  Any damaged block aborts the run.
 *
 * Usage: churn [seconds [threads]]   (default 5 6)
 * Prints rounds, operations, threads and forks; exits non-zero on error. */
#define _GNU_SOURCE
#include <lgmalloc.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "scale.h"

#define SLOTS       8192
#define MAX_THREADS 64
#define STAMP_BYTES 32

typedef struct block_s {
    size_t   size;
    uint32_t tag;
} block_t;

static _Atomic(block_t *) table[SLOTS];
static atomic_long operations;

static uint64_t next_random(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static uint32_t tag_of(const block_t *b)
{
    return (uint32_t)((uintptr_t)b * 2654435761u);
}

static _Noreturn void damaged(const block_t *b, const char *what)
{
    fprintf(stderr, "churn: block %p damaged: %s\n", (const void *)b, what);
    abort();
}

/* The size and a tag in front, a few pattern bytes after them, and one at
 * the very end unless that byte is the tag's: an 8-byte block on 32 bits
 * is all header. */
static bool has_end_stamp(size_t size)
{
    return size > offsetof(block_t, tag) + sizeof(uint32_t);
}

static void stamp(block_t *b, size_t size)
{
    unsigned char *bytes = (unsigned char *)b;
    b->size = size;
    b->tag = tag_of(b);
    for (size_t i = sizeof *b; i + 1 < size && i < sizeof *b + STAMP_BYTES; i++)
        bytes[i] = (unsigned char)(b->tag + i);
    if (has_end_stamp(size))
        bytes[size - 1] = (unsigned char)b->tag;
}

static void check(const block_t *b)
{
    const unsigned char *bytes = (const unsigned char *)b;
    if (b->tag != tag_of(b))
        damaged(b, "tag");
    for (size_t i = sizeof *b; i + 1 < b->size && i < sizeof *b + STAMP_BYTES; i++)
        if (bytes[i] != (unsigned char)(b->tag + i))
            damaged(b, "pattern");
    if (has_end_stamp(b->size) && bytes[b->size - 1] != (unsigned char)b->tag)
        damaged(b, "last byte");
}

static block_t *allocate(uint64_t *rng)
{
    uint64_t r = next_random(rng);
    unsigned pick = (unsigned)(r % 1000);
    size_t size = pick < 800 ? 1 + (r >> 12) % 512
                : pick < 990 ? 1 + (r >> 12) % 40000
                             : 1 + (r >> 12) % (3 << 20);
    if (size < sizeof(block_t))
        size = sizeof(block_t);
    block_t *b;
    switch ((r >> 40) % 4) {
    case 0:  b = calloc(1, size); break;
    case 1:  b = aligned_alloc(32, (size + 31) & ~(size_t)31); break;
    case 2:  b = realloc(malloc(size / 2 + 1), size); break;
    default: b = malloc(size); break;
    }
    if (!b) {
        fprintf(stderr, "churn: out of memory for %zu bytes\n", size);
        abort();
    }
    stamp(b, size);
    return b;
}

static void *worker(void *arg)
{
    uint64_t rng = (uintptr_t)arg * 0x9e3779b97f4a7c15ull | 1;
    long n = 1000 + (long)(next_random(&rng) % 20000);
    for (long i = 0; i < n; i++) {
        block_t *b = allocate(&rng);
        block_t *old = atomic_exchange(&table[next_random(&rng) % SLOTS], b);
        if (old) {
            check(old);
            free(old);
        }
    }
    atomic_fetch_add(&operations, n);
    return NULL;
}

/* A child frees a share of the table, blocks of threads it does not have. */
static void fork_and_free(void)
{
    pid_t pid = fork();
    if (pid == 0) {
        free(malloc(100));
        for (size_t i = 0; i < SLOTS; i += 97) {
            block_t *old = atomic_exchange(&table[i], NULL);
            if (old) {
                check(old);
                free(old);
            }
        }
        lg_heap_check();
        _exit(0);
    }
    int status;
    if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status)) {
        fprintf(stderr, "churn: forked child failed\n");
        exit(1);
    }
}

int main(int argc, char **argv)
{
    int seconds = (int)stress_scaled(argc > 1 ? atoi(argv[1]) : 5);
    if (seconds < 1)
        seconds = 1;
    int threads = argc > 2 ? atoi(argv[2]) : 6;
    if (threads < 1 || threads > MAX_THREADS)
        threads = 6;
    time_t end = time(NULL) + seconds;
    long rounds = 0, forks = 0;
    while (time(NULL) < end) {
        pthread_t t[MAX_THREADS];
        for (int i = 0; i < threads; i++)
            if (pthread_create(&t[i], NULL, worker, (void *)(uintptr_t)(rounds * threads + i + 1)) != 0) {
                fprintf(stderr, "churn: pthread_create failed\n");
                return 1;
            }
        for (int i = 0; i < threads; i++)
            pthread_join(t[i], NULL);
        if (++rounds % 50 == 0) {
            fork_and_free();
            forks++;
        }
    }
    for (size_t i = 0; i < SLOTS; i++) {
        block_t *old = atomic_exchange(&table[i], NULL);
        if (old) {
            check(old);
            free(old);
        }
    }
    lg_heap_check();    /* aborts, naming the invariant, if one is broken */
    lg_collect();
    lg_heap_check();
    printf("churn: %ld rounds, %ld operations, %ld threads, %ld forks, 0 damaged blocks\n",
           rounds, (long)operations, rounds * threads, forks);
    lg_stats_print(stdout);
    return 0;
}
