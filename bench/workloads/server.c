/* server: each thread serves requests.  A request allocates a buffer and
 * several objects of constant sizes, each from its own call site with a
 * literal size (what lgmalloc's binary analysis predicts), frees most of them
 * at the end and hands some to the next thread, which frees them at its next
 * request (a response or log record finished elsewhere).  Each thread also
 * keeps SESSIONS open connections, each holding a buffer and two objects
 * until a later request replaces it: the memory a server holds, which the
 * sizes' rounding to classes inflates. */
#include "bench.h"

#include <stdatomic.h>

/* A handed-over object: its size tag, then the link in the queue. */
typedef struct obj {
    size_t size;
    struct obj *next;
} obj_t;

/* One inbox per thread: a stack pushed with CAS, emptied all at once, and
 * how many objects wait in it.  A sender whose receiver is this far behind
 * (descheduled) frees the object itself, so memory stays bounded.  Each on
 * its own cache line: packed, 16 threads' inboxes shared two lines, and the
 * workload measured its own false sharing (every allocator's time grew six
 * times from 1 to 4 threads). */
#define MAX_BACKLOG 4096

typedef struct {
    _Atomic(obj_t *) head;
    atomic_long backlog;
} __attribute__((aligned(64))) inbox_t;

static inbox_t *inbox;
static int n_threads;
static long n_requests;

static void hand_over(int to, obj_t *o)
{
    inbox_t *in = &inbox[to];
    if (atomic_load_explicit(&in->backlog, memory_order_relaxed) >= MAX_BACKLOG) {
        free(o);
        return;
    }
    atomic_fetch_add_explicit(&in->backlog, 1, memory_order_relaxed);
    o->next = atomic_load_explicit(&in->head, memory_order_relaxed);
    while (!atomic_compare_exchange_weak_explicit(&in->head, &o->next, o,
               memory_order_release, memory_order_relaxed))
        ;
}

static long drain(int me)
{
    long n = 0;
    obj_t *o = atomic_exchange_explicit(&inbox[me].head, NULL, memory_order_acquire);
    while (o) {
        obj_t *next = o->next;
        CHECK(o->size == 56 || o->size == 330);
        free(o);
        o = next;
        n++;
    }
    atomic_fetch_sub_explicit(&inbox[me].backlog, n, memory_order_relaxed);
    return n;
}

static void *fill(void *p, size_t size)
{
    CHECK(p != NULL);
    memset(p, 0x5a, size < 256 ? size : 256);
    ((obj_t *)p)->size = size;
    return p;
}

#ifndef SESSIONS
#define SESSIONS 2000   /* -DSESSIONS=8000 for the larger server in docs/decisions.md */
#endif

typedef struct session {
    char *buffer;
    void *state, *peer;
} session_t;

static void *worker(void *arg)
{
    int me = (int)(intptr_t)arg, next = (me + 1) % n_threads;
    session_t *sessions = calloc(SESSIONS, sizeof *sessions);
    CHECK(sessions != NULL);
    for (long r = 0; r < n_requests; r++) {
        drain(me);
        session_t *s = &sessions[r % SESSIONS];
        if (s->buffer) {
            CHECK(((obj_t *)s->state)->size == 136 && ((obj_t *)s->peer)->size == 330);
            free(s->buffer);
            free(s->state);
            free(s->peer);
        }
        s->buffer = fill(malloc(2100), 2100);
        s->state = fill(malloc(136), 136);
        s->peer = fill(malloc(330), 330);
        char *request = fill(malloc(2100), 2100);
        void *headers[6], *fields[4];
        for (int i = 0; i < 6; i++)
            headers[i] = fill(malloc(56), 56);
        for (int i = 0; i < 4; i++)
            fields[i] = fill(malloc(136), 136);
        obj_t *record = fill(malloc(330), 330);
        char *body = fill(malloc(9000), 9000);
        body[8999] = request[100];

        for (int i = 0; i < 4; i++) {
            CHECK(((obj_t *)fields[i])->size == 136);
            free(fields[i]);
        }
        for (int i = 1; i < 6; i++)
            free(headers[i]);
        free(body);
        free(request);
        hand_over(next, headers[0]);
        hand_over(next, record);
    }
    for (int i = 0; i < SESSIONS; i++) {
        free(sessions[i].buffer);
        free(sessions[i].state);
        free(sessions[i].peer);
    }
    free(sessions);
    return NULL;
}

int main(int argc, char **argv)
{
    bench_args_t a = bench_args(argc, argv);
    n_threads = a.threads;
    n_requests = scaled(a, 3000000);
    inbox = aligned_alloc(64, (size_t)n_threads * sizeof *inbox);
    CHECK(inbox != NULL);
    memset(inbox, 0, (size_t)n_threads * sizeof *inbox);
    double t0 = now_s();
    run_threads(n_threads, worker);
    double dt = now_s() - t0;
    for (int i = 0; i < n_threads; i++)
        drain(i);
    free(inbox);
    printf("server: requests=%ld krequests_per_s=%.1f\n",
           n_requests * n_threads, (double)n_requests * n_threads / dt / 1e3);
    return 0;
}
