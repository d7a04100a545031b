/* lgmalloc-demo: a small multi-threaded server, served by lgmalloc.
 *
 * Shows lgmalloc at work in the shape of program it is made for: a pool of
 * worker threads takes "requests" from a queue; each request allocates a
 * receive buffer of constant size and a response object, builds the
 * response, frees the buffer, and hands the response to a logger thread,
 * which frees it: a cross-thread free.  At exit the demo checks that the
 * blocks were lgmalloc's (lg_owns) and prints lgmalloc's statistics.
 *
 * Usage: lgmalloc-demo [requests [workers]]   (default 200000 4) */
#define _GNU_SOURCE
#include <lgmalloc.h>

#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BUFFER_SIZE 4096 /* every request reads into a buffer of this size */
#define QUEUE_SIZE  256
#define MAX_WORKERS 64

typedef struct response_s {
    uint64_t request_id;
    uint32_t checksum;
    size_t   body_size;
    char     body[]; /* a short text, sized per response */
} response_t;

/* A bounded queue of pointers with one lock; work items and responses both
 * travel through one of these. */
typedef struct queue_s {
    pthread_mutex_t lock;
    pthread_cond_t  changed;
    void  *items[QUEUE_SIZE];
    size_t head, count;
    bool   closed;
} queue_t;

static void queue_init(queue_t *q)
{
    memset(q, 0, sizeof *q);
    pthread_mutex_init(&q->lock, NULL);
    pthread_cond_init(&q->changed, NULL);
}

static void queue_push(queue_t *q, void *item)
{
    pthread_mutex_lock(&q->lock);
    while (q->count == QUEUE_SIZE)
        pthread_cond_wait(&q->changed, &q->lock);
    q->items[(q->head + q->count++) % QUEUE_SIZE] = item;
    pthread_cond_broadcast(&q->changed);
    pthread_mutex_unlock(&q->lock);
}

/* Returns NULL once the queue is closed and empty. */
static void *queue_pop(queue_t *q)
{
    pthread_mutex_lock(&q->lock);
    while (q->count == 0 && !q->closed)
        pthread_cond_wait(&q->changed, &q->lock);
    void *item = NULL;
    if (q->count > 0) {
        item = q->items[q->head];
        q->head = (q->head + 1) % QUEUE_SIZE;
        q->count--;
        pthread_cond_broadcast(&q->changed);
    }
    pthread_mutex_unlock(&q->lock);
    return item;
}

static void queue_close(queue_t *q)
{
    pthread_mutex_lock(&q->lock);
    q->closed = true;
    pthread_cond_broadcast(&q->changed);
    pthread_mutex_unlock(&q->lock);
}

typedef struct request_s {
    uint64_t id;
} request_t;

static queue_t requests, responses;
static bool    all_ours = true; /* written only by the logger */

static _Noreturn void die(const char *what)
{
    fprintf(stderr, "lgmalloc-demo: %s failed\n", what);
    exit(EXIT_FAILURE);
}

/* A worker: receive, compute, respond. */
static void *worker(void *arg)
{
    size_t *served = arg;
    request_t *req;
    while ((req = queue_pop(&requests)) != NULL) {
        unsigned char *buffer = malloc(BUFFER_SIZE);
        if (buffer == NULL)
            die("malloc of a receive buffer");
        for (size_t i = 0; i < BUFFER_SIZE; i += 64)
            buffer[i] = (unsigned char)(req->id + i);

        uint32_t sum = 0;
        for (size_t i = 0; i < BUFFER_SIZE; i += 64)
            sum = sum * 31 + buffer[i];

        char text[64];
        int len = snprintf(text, sizeof text, "request %" PRIu64 " sum %08x", req->id, sum);
        response_t *resp = malloc(sizeof *resp + (size_t)len + 1);
        if (resp == NULL)
            die("malloc of a response");
        resp->request_id = req->id;
        resp->checksum = sum;
        resp->body_size = (size_t)len;
        memcpy(resp->body, text, (size_t)len + 1);

        free(buffer);
        free(req);
        queue_push(&responses, resp); /* the logger frees it */
        (*served)++;
    }
    return NULL;
}

/* The logger: checks each response and frees it, on another thread than
 * the one that allocated it. */
static void *logger(void *arg)
{
    size_t *logged = arg;
    response_t *resp;
    while ((resp = queue_pop(&responses)) != NULL) {
        if (!lg_owns(resp))
            all_ours = false;
        if (strlen(resp->body) != resp->body_size)
            die("response check");
        free(resp);
        (*logged)++;
    }
    return NULL;
}

int main(int argc, char **argv)
{
    size_t request_count = argc > 1 ? strtoull(argv[1], NULL, 10) : 200000;
    size_t worker_count  = argc > 2 ? strtoull(argv[2], NULL, 10) : 4;
    if (worker_count < 1 || worker_count > MAX_WORKERS) {
        fprintf(stderr, "usage: lgmalloc-demo [requests [workers (1-%d)]]\n", MAX_WORKERS);
        return EXIT_FAILURE;
    }

    queue_init(&requests);
    queue_init(&responses);

    pthread_t workers[MAX_WORKERS], log_thread;
    size_t served[MAX_WORKERS] = { 0 }, logged = 0;
    for (size_t i = 0; i < worker_count; i++)
        if (pthread_create(&workers[i], /* attr: */ NULL, worker, &served[i]) != 0)
            die("pthread_create");
    if (pthread_create(&log_thread, /* attr: */ NULL, logger, &logged) != 0)
        die("pthread_create");

    for (size_t i = 0; i < request_count; i++) {
        request_t *req = malloc(sizeof *req);
        if (req == NULL)
            die("malloc of a request");
        req->id = i;
        queue_push(&requests, req); /* a worker frees it */
    }
    queue_close(&requests);
    for (size_t i = 0; i < worker_count; i++)
        if (pthread_join(workers[i], NULL) != 0)
            die("pthread_join");
    queue_close(&responses);
    if (pthread_join(log_thread, NULL) != 0)
        die("pthread_join");

    size_t total = 0;
    for (size_t i = 0; i < worker_count; i++)
        total += served[i];
    if (total != request_count || logged != request_count)
        die("request accounting");

    lg_stats_t stats;
    lg_stats_get(&stats);
    printf("lgmalloc-demo: %zu workers served %zu requests (%zu MiB of receive buffers); "
           "a logger thread freed their %zu responses; all blocks from lgmalloc: %s; "
           "%zu heaps created\n",
           worker_count, total, total * BUFFER_SIZE >> 20, logged, all_ours ? "yes" : "NO",
           stats.threads_seen);
    fflush(stdout);
    lg_stats_print(stderr);
    return all_ours ? EXIT_SUCCESS : EXIT_FAILURE;
}
