/* request-server: a multi-threaded server whose requests allocate fixed sizes.
 *
 * The case lgmalloc's call-site prediction is made for.  Each worker thread
 * loops over requests; every request allocates the same five blocks, each
 * at its own call site with a size the compiler sees as a constant:
 *
 *     56    the session a request belongs to
 *     136   its parsed header
 *     330   the reply, handed to the writer thread, which frees it
 *     2100  the buffer the request is read into
 *     9000  a scratch area for the reply's body
 *
 * From before main, on a thread of its own, lgmalloc reads this program's
 * machine code, finds these sizes (LGMALLOC_VERBOSE=1 prints what it found)
 * and watches those a standard class would round up by more than 1/16
 * (all but 56, which takes 64): each gets an exact-fit class once it fills
 * pages (docs/decisions.md#exact-by-use).  Here that is 330, the replies
 * queued for the writer; 136, 2100 and 9000 are freed within their request
 * and one page of their standard class serves them all the same.  At the
 * end the server prints requests per second,
 * lgmalloc's statistics, and the size classes that served the requests:
 * with LGMALLOC_STATS=1 in the environment, which counts every allocation
 * (a few nanoseconds each); without it only the pages each class holds.
 * Exits non-zero if a block was not lgmalloc's, a reply arrived damaged,
 * or, with statistics on, a request's sizes were not counted in the
 * classes that fit them.
 *
 * Usage: [LGMALLOC_STATS=1] request-server [requests [workers]]   (default 1000000 4) */
#define _GNU_SOURCE
#include <lgmalloc.h>

#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_WORKERS 64
#define QUEUE_SIZE  1024
#define MAX_CLASSES 256

typedef struct session_s {       /* 56 bytes */
    uint64_t id;
    uint64_t started_ns;
    uint32_t worker;
    uint32_t flags;
    char     peer[32];
} session_t;

typedef struct header_s {        /* 136 bytes */
    uint32_t method;
    uint32_t length;
    char     path[128];
} header_t;

typedef struct reply_s {         /* 330 bytes, allocated as such */
    uint64_t request_id;
    uint32_t status;
    uint32_t checksum;           /* of body[0..body_len) */
    uint16_t body_len;
    char     body[];
} reply_t;

_Static_assert(sizeof(session_t) == 56, "session is 56 bytes");
_Static_assert(sizeof(header_t) == 136, "header is 136 bytes");
#define REPLY_SIZE   330
#define REPLY_BODY   (REPLY_SIZE - offsetof(reply_t, body))
#define BUFFER_SIZE  2100
#define SCRATCH_SIZE 9000

static _Noreturn void die(const char *what)
{
    fprintf(stderr, "request-server: %s\n", what);
    exit(EXIT_FAILURE);
}

static uint32_t checksum(const char *p, size_t n)
{
    uint32_t h = 2166136261u;    /* FNV-1a */
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)p[i]) * 16777619u;
    return h;
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* ---------------------------------------------------------------------------
 * The writer's queue: workers push replies, the writer pops them.
 * ------------------------------------------------------------------------- */

static struct {
    pthread_mutex_t lock;
    pthread_cond_t  changed;
    reply_t *items[QUEUE_SIZE];
    size_t   head, count;
    bool     closed;
} outbox = { .lock = PTHREAD_MUTEX_INITIALIZER, .changed = PTHREAD_COND_INITIALIZER };

/* Workers hand replies over in batches: one lock and at most one wake-up
 * of the writer for many replies. */
#define BATCH 32

static void outbox_push(reply_t **replies, size_t n)
{
    pthread_mutex_lock(&outbox.lock);
    for (size_t i = 0; i < n; i++) {
        while (outbox.count == QUEUE_SIZE)
            pthread_cond_wait(&outbox.changed, &outbox.lock);
        outbox.items[(outbox.head + outbox.count++) % QUEUE_SIZE] = replies[i];
        if (outbox.count == 1)
            pthread_cond_broadcast(&outbox.changed);
    }
    pthread_mutex_unlock(&outbox.lock);
}

/* Takes up to max replies at once; 0 once closed and empty. */
static size_t outbox_pop(reply_t **out, size_t max)
{
    pthread_mutex_lock(&outbox.lock);
    while (outbox.count == 0 && !outbox.closed)
        pthread_cond_wait(&outbox.changed, &outbox.lock);
    size_t n = 0;
    while (n < max && outbox.count > 0) {
        out[n++] = outbox.items[outbox.head];
        outbox.head = (outbox.head + 1) % QUEUE_SIZE;
        outbox.count--;
    }
    pthread_cond_broadcast(&outbox.changed);
    pthread_mutex_unlock(&outbox.lock);
    return n;
}

static void outbox_close(void)
{
    pthread_mutex_lock(&outbox.lock);
    outbox.closed = true;
    pthread_cond_broadcast(&outbox.changed);
    pthread_mutex_unlock(&outbox.lock);
}

/* ---------------------------------------------------------------------------
 * Workers and the writer.
 * ------------------------------------------------------------------------- */

typedef struct worker_s {
    pthread_t thread;
    uint32_t  index;
    uint64_t  first, count;      /* the request ids it serves */
    uint64_t  served;
    uint64_t  foreign;           /* blocks that were not lgmalloc's */
    reply_t  *batch[BATCH];      /* replies not yet handed to the writer */
    size_t    batched;
} worker_t;

static atomic_uint_fast64_t written, damaged, foreign_replies;

/* One request: read it, parse it, build the reply, hand it on. */
static void serve(worker_t *w, uint64_t id)
{
    session_t *session = malloc(56);
    header_t *header = malloc(136);
    char *buffer = malloc(2100);
    char *scratch = malloc(9000);
    reply_t *reply = malloc(330);
    if (!session || !header || !buffer || !scratch || !reply)
        die("out of memory");

    /* "Read" the request. */
    session->id = id;
    session->worker = w->index;
    session->started_ns = 0;
    session->flags = (uint32_t)id & 3;
    snprintf(session->peer, sizeof session->peer, "10.0.%u.%u", (unsigned)(id >> 8) & 255,
             (unsigned)id & 255);
    int len = snprintf(buffer, BUFFER_SIZE, "GET /item/%" PRIu64 " HTTP/1.1\r\nHost: x\r\n\r\n", id);
    memset(buffer + len, 'p', BUFFER_SIZE - (size_t)len);

    /* Parse it. */
    header->method = 1;
    header->length = (uint32_t)len;
    const char *path = buffer + 4, *end = strchr(path, ' ');
    size_t path_len = (size_t)(end - path) < sizeof header->path - 1 ? (size_t)(end - path)
                                                                     : sizeof header->path - 1;
    memcpy(header->path, path, path_len);
    header->path[path_len] = '\0';

    /* Build the body in the scratch area, then the reply. */
    size_t body = (size_t)snprintf(scratch, SCRATCH_SIZE, "{\"path\":\"%s\",\"peer\":\"%s\",\"data\":\"",
                                   header->path, session->peer);
    memset(scratch + body, 'a' + (int)(id % 26), SCRATCH_SIZE - body);
    reply->request_id = id;
    reply->status = 200;
    reply->body_len = (uint16_t)(body < REPLY_BODY ? body : REPLY_BODY);
    memcpy(reply->body, scratch, reply->body_len);
    reply->checksum = checksum(reply->body, reply->body_len);
    /* (counted once the blocks are written: gcc -O0 takes lg_owns for a
     * read of a fresh block) */
    w->foreign += !lg_owns(session) + !lg_owns(header) + !lg_owns(buffer) +
                  !lg_owns(scratch) + !lg_owns(reply);

    free(scratch);
    free(buffer);
    free(header);
    free(session);
    w->batch[w->batched++] = reply;   /* the writer frees it */
    if (w->batched == BATCH) {
        outbox_push(w->batch, w->batched);
        w->batched = 0;
    }
    w->served++;
}

static void *worker_main(void *arg)
{
    worker_t *w = arg;
    for (uint64_t id = w->first; id < w->first + w->count; id++)
        serve(w, id);
    outbox_push(w->batch, w->batched);
    return NULL;
}

/* The writer "sends" each reply, then frees it: blocks freed on another
 * thread than the one that allocated them. */
static void *writer_main(void *arg)
{
    (void)arg;
    reply_t *batch[4 * BATCH];
    size_t n;
    while ((n = outbox_pop(batch, 4 * BATCH)) > 0) {
        for (size_t i = 0; i < n; i++) {
            reply_t *reply = batch[i];
            if (!lg_owns(reply))
                atomic_fetch_add(&foreign_replies, 1);
            if (reply->status != 200 || reply->body_len > REPLY_BODY ||
                checksum(reply->body, reply->body_len) != reply->checksum)
                atomic_fetch_add(&damaged, 1);
            free(reply);
        }
        atomic_fetch_add(&written, n);
    }
    return NULL;
}

/* ---------------------------------------------------------------------------
 * The class table.
 * ------------------------------------------------------------------------- */

/* Prints the classes that served anything and checks that each of the
 * request's sizes was counted, requests times (0: no check), in the
 * classes that can serve it: from its own size (an exact-fit class made
 * for it) up to the standard class that fits it, at most a quarter larger.
 * Returns false if not. */
static bool print_classes(uint64_t requests)
{
    static lg_class_stats_t classes[MAX_CLASSES];
    size_t n = lg_class_stats_get(classes, MAX_CLASSES);
    if (n > MAX_CLASSES)
        n = MAX_CLASSES;
    printf("\nsize classes that served allocations (%zu):\n", n);
    printf("%10s %12s %14s %12s %12s %12s %12s\n", "block", "requests", "requested", "wasted",
           "live", "peak", "pages peak");
    for (size_t i = 0; i < n; i++) {
        const lg_class_stats_t *c = &classes[i];
        printf("%10zu %12zu %14zu %12zu %12zu %12zu %12zu%s\n", c->block_size, c->requests,
               c->requested_bytes, c->wasted_bytes, c->live_bytes, c->peak_bytes,
               c->held_peak_bytes, c->exact ? "  exact fit (predicted)" : "");
    }

    static const size_t sizes[] = { 56, 136, 330, 2100, 9000 };
    bool ok = true;
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        size_t counted = 0;
        for (size_t i = 0; i < n; i++)
            if (classes[i].block_size >= sizes[s] &&
                classes[i].block_size <= sizes[s] + sizes[s] / 4 + 16)
                counted += classes[i].requests;
        if (counted < requests) {
            fprintf(stderr, "request-server: size %zu: %zu allocations counted in its classes, "
                    "expected at least %" PRIu64 "\n", sizes[s], counted, requests);
            ok = false;
        }
    }
    return ok;
}

int main(int argc, char **argv)
{
    uint64_t requests = argc > 1 ? strtoull(argv[1], NULL, 10) : 1000000;
    size_t worker_count = argc > 2 ? strtoull(argv[2], NULL, 10) : 4;
    if (requests < 1 || worker_count < 1 || worker_count > MAX_WORKERS) {
        fprintf(stderr, "usage: request-server [requests [workers (1-%d)]]\n", MAX_WORKERS);
        return EXIT_FAILURE;
    }
    bool counting = lg_stats_enabled();

    worker_t workers[MAX_WORKERS];
    pthread_t writer;
    uint64_t start = now_ns();
    if (pthread_create(&writer, /* attr: */ NULL, writer_main, NULL) != 0)
        die("pthread_create failed");
    for (size_t i = 0; i < worker_count; i++) {
        workers[i] = (worker_t){ .index = (uint32_t)i };
        workers[i].first = requests * i / worker_count;
        workers[i].count = requests * (i + 1) / worker_count - workers[i].first;
        if (pthread_create(&workers[i].thread, /* attr: */ NULL, worker_main, &workers[i]) != 0)
            die("pthread_create failed");
    }
    uint64_t served = 0, foreign = 0;
    for (size_t i = 0; i < worker_count; i++) {
        if (pthread_join(workers[i].thread, NULL) != 0)
            die("pthread_join failed");
        served += workers[i].served;
        foreign += workers[i].foreign;
    }
    outbox_close();
    if (pthread_join(writer, NULL) != 0)
        die("pthread_join failed");
    double seconds = (double)(now_ns() - start) / 1e9;
    foreign += atomic_load(&foreign_replies);

    printf("request-server: %zu workers served %" PRIu64 " requests in %.3f s: %.0f requests/s "
           "(5 allocations each, statistics %s)\n",
           worker_count, served, seconds, (double)served / seconds, counting ? "on" : "off");
    printf("replies written and freed by the writer thread: %" PRIu64 ", damaged: %" PRIu64
           "; blocks not from lgmalloc: %" PRIu64 "\n",
           (uint64_t)atomic_load(&written), (uint64_t)atomic_load(&damaged), foreign);

    lg_predict_stats_t predict;
    lg_predict_stats_get(&predict);
    printf("prediction: %zu call sites, %zu with a known size, %zu exact-fit classes, "
           "%zu hits, %zu misses\n\n",
           predict.sites, predict.sites_sized, predict.exact_classes, predict.hits,
           predict.misses);
    fflush(stdout);
    lg_stats_print(stdout);
    bool classes_ok = print_classes(counting ? served : 0);
    if (!counting)
        printf("(LGMALLOC_STATS=1 counts the requests of each class)\n");

    bool ok = served == requests && atomic_load(&written) == requests &&
              atomic_load(&damaged) == 0 && foreign == 0 && classes_ok;
    if (!ok)
        fprintf(stderr, "request-server: FAILED\n");
    return ok ? EXIT_SUCCESS : EXIT_FAILURE;
}
