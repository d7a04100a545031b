/* The double-free check (lib/fast.h, lib/doublefree.c) never stops a
 * correct program, whatever its blocks hold: a block's second word equal
 * to a free block's key is confirmed before free aborts.  The real double
 * frees it must still catch are in misuse.c.  Each case runs in a forked
 * child (fatal.h), so an abort is reported with its message. */
#include <pthread.h>
#include <stdlib.h>

#include "fatal.h"

/* The child ran to its end: no abort, no signal. */
#define assert_completed(f)                                                            \
    cr_assert((f).signal == 0 && (f).exit_code == 0,                                   \
              "stopped (signal %d, exit %d): %s", (f).signal, (f).exit_code, (f).message)

/* The reproduction of issue 17: after many 16-byte blocks were freed, their
 * page is carved into 64-byte blocks that hold the old keys, uninitialised;
 * a queue of four 16-byte items pops by moving its whole capacity down. */
static void queue_pop_moves_capacity(void)
{
    enum { SMALL = 20000, QUEUES = 2000 };
    static void *small[SMALL];
    static char *queue[QUEUES];
    for (size_t i = 0; i < SMALL; i++)
        small[i] = malloc(opaque(16));
    for (size_t i = 0; i < SMALL; i++)
        free(small[i]);
    for (size_t i = 0; i < QUEUES; i++) {
        queue[i] = malloc(opaque(64));
        memset(queue[i], 1, 16);                  /* push one item */
        memmove(queue[i], queue[i] + 16, 64 - 16); /* pop it */
    }
    for (size_t i = 0; i < QUEUES; i++)
        free(queue[i]);
}

Test(double_free, queue_moving_its_uninitialised_capacity_is_not_one)
{
    assert_completed(run_fatal(queue_pop_moves_capacity));
}

/* A block given back the second word it held while it was free (read
 * then, deliberately): the word free looks for, in a live block. */
static uintptr_t *holding_own_key(size_t size)
{
    uintptr_t *p = malloc(opaque(size));
    free(p);
    uintptr_t key = p[1];
    uintptr_t *q = malloc(opaque(size));
    if (q != p) /* (the block just freed comes back first) */
        _exit(4);
    q[1] = key;
    return q;
}

static void free_own_key(void)
{
    uintptr_t *q = holding_own_key(64);
    free(q);
    if (malloc(opaque(64)) != q) /* freed, not kept aside */
        _exit(3);
}

static void realloc_own_key(void)
{
    uintptr_t *q = holding_own_key(64);
    q = realloc(q, opaque(2000));
    free(q);
}

Test(double_free, a_live_block_holding_its_own_key_is_freed)
{
    assert_completed(run_fatal(free_own_key));
}

Test(double_free, a_live_block_holding_its_own_key_is_reallocated)
{
    assert_completed(run_fatal(realloc_own_key));
}

/* ---- a property: copies of freed memory in live blocks ---------------- */

enum { LIVE = 1024, OPS = 1500000, STASH = 4096, OWN = 8192, GHOSTS = 64, GHOST_BYTES = 1024 };

static uint64_t rng_state = 0x9e3779b97f4a7c15u;

static uint64_t next_random(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

static char *live[LIVE];
static uintptr_t stash[STASH];                  /* words read from freed blocks */
static struct { uintptr_t addr, word; } own[OWN]; /* each freed block's second word, by address */
static uintptr_t ghost[GHOSTS][GHOST_BYTES / 8]; /* whole freed blocks */
static size_t ghost_words[GHOSTS];
static size_t own_keys_written;

static size_t own_slot(const void *p)
{
    return ((uintptr_t)p >> 4) * 0x9e3779b97f4a7c15u >> 51; /* 13 bits: OWN */
}

static size_t random_size(void)
{
    uint64_t r = next_random();
    if (r % 16 == 0)
        return 1 + (size_t)(r >> 8) % 16384;
    return 1 + (size_t)(r >> 8) % 512;
}

/* Reads what lgmalloc left in a block just freed: its key and any word,
 * and the whole block.  Deliberate reads of freed memory, while it is
 * still mapped (lg_owns). */
static void read_freed(uintptr_t *w, size_t words)
{
    if (!lg_owns(w) || words < 2)
        return;
    own[own_slot(w)].addr = (uintptr_t)w;
    own[own_slot(w)].word = w[1];
    stash[next_random() % STASH] = w[1];
    stash[next_random() % STASH] = w[next_random() % words];
    size_t g = next_random() % GHOSTS;
    ghost_words[g] = words < GHOST_BYTES / 8 ? words : GHOST_BYTES / 8;
    memcpy(ghost[g], w, ghost_words[g] * 8);
}

/* Fills a new block, in part or whole, with copies of freed memory. */
static void fill_block(uintptr_t *w, size_t words)
{
    if (words < 2)
        return; /* (a secure build's 16-byte block: one usable word) */
    uint64_t r = next_random();
    switch (r % 8) {
    case 0: /* its own second word of when it was free last: its key */
        if (own[own_slot(w)].addr == (uintptr_t)w) {
            w[1] = own[own_slot(w)].word;
            own_keys_written++;
        }
        break;
    case 1:
    case 2: /* words freed blocks held, anywhere, the second word among them */
        for (size_t k = 0; k < 4; k++)
            w[k == 0 ? 1 : next_random() % words] = stash[next_random() % STASH];
        break;
    case 3:
    case 4: { /* a whole freed block, at any word */
        size_t g = next_random() % GHOSTS, at = next_random() % words;
        size_t n = ghost_words[g] < words - at ? ghost_words[g] : words - at;
        memcpy(w + at, ghost[g], n * 8);
        break;
    }
    case 5: /* its uninitialised words moved down, as a queue pops */
        if (words > 2) {
            size_t by = 1 + next_random() % (words - 1);
            memmove(w, w + by, (words - by) * 8);
        }
        break;
    default: /* left uninitialised */
        break;
    }
}

static void *free_them(void *arg)
{
    char **blocks = arg;
    for (size_t i = 0; i < LIVE; i++)
        free(blocks[i]);
    return NULL;
}

static void copies_of_freed_memory(void)
{
    for (size_t op = 0; op < OPS; op++) {
        size_t i = next_random() % LIVE;
        if (live[i]) {
            size_t words = lg_malloc_usable_size(live[i]) / 8;
            if (next_random() % 4 == 0)
                fill_block((uintptr_t *)live[i], words); /* once more before it goes */
            free(live[i]);
            read_freed((uintptr_t *)live[i], words);
        }
        live[i] = malloc(random_size());
        fill_block((uintptr_t *)live[i], lg_malloc_usable_size(live[i]) / 8);
        if (op % 100000 == 99999) {
            /* every page emptied and given back, carved anew for other sizes */
            for (size_t j = 0; j < LIVE; j++) {
                free(live[j]);
                live[j] = NULL;
            }
            lg_collect();
        }
    }
    /* blocks holding their own key, freed by a thread that does not own them */
    size_t handed = 0;
    for (size_t i = 0; i < LIVE; i++) {
        free(live[i]);
        size_t size = 16 + next_random() % 1000;
        uintptr_t *w = malloc(size);
        free(w);
        uintptr_t key = w[1];
        live[i] = malloc(size);
        if (live[i] == (char *)w) {
            w[1] = key;
            handed++;
        }
    }
    pthread_t t;
    pthread_create(&t, NULL, free_them, live);
    pthread_join(t, NULL);
    /* the property was put to the test: keys were in place */
    if (own_keys_written < 1000 || handed < LIVE / 2)
        _exit(3);
}

Test(double_free, copies_of_freed_memory_in_live_blocks_are_not_one)
{
    skip_under_qemu(QEMU_FORK_THREAD); /* the child frees on a thread */
    assert_completed(run_fatal(copies_of_freed_memory));
}
