/* Process-wide statistics, counted on the slow paths only; per size class
 * and for the prediction, counted only with LGMALLOC_STATS set. */
#include "internal.h"
#include "route.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

lg_counters_t lg__counters;

void lg__count_add(_Atomic size_t *c, size_t n, _Atomic size_t *peak)
{
    size_t now = atomic_fetch_add_explicit(c, n, memory_order_relaxed) + n;
    if (!peak)
        return;
    size_t old = atomic_load_explicit(peak, memory_order_relaxed);
    while (old < now && !atomic_compare_exchange_weak_explicit(peak, &old, now,
                                                              memory_order_relaxed, memory_order_relaxed))
        ;
}

void lg__count_sub(_Atomic size_t *c, size_t n)
{
    size_t old = atomic_fetch_sub_explicit(c, n, memory_order_relaxed);
    lg_assert(old >= n);
}

void lg__count_commit(size_t bytes)
{
    lg__count_add(&lg__counters.committed, bytes, &lg__counters.committed_peak);
}

void lg__count_decommit(size_t bytes)
{
    lg__count_sub(&lg__counters.committed, bytes);
}

#define LOAD(x) atomic_load_explicit(&lg__counters.x, memory_order_relaxed)

void lg_stats_get(lg_stats_t *out)
{
    out->segments = LOAD(segments);
    out->segments_peak = LOAD(segments_peak);
    out->huge_blocks = LOAD(huge_blocks);
    out->huge_bytes = LOAD(huge_bytes);
    out->reserved_bytes = LOAD(reserved);
    out->committed_bytes = LOAD(committed);
    out->committed_peak = LOAD(committed_peak);
    out->purged_bytes = LOAD(purged);
    out->pages_in_use = LOAD(pages_in_use);
    out->page_bytes = LOAD(page_bytes);
    out->threads_live = LOAD(threads_live);
    out->threads_seen = LOAD(threads_seen);
    out->segments_abandoned = LOAD(abandoned);
}

/* ---- per class, with LGMALLOC_STATS ---------------------------------------- */

bool lg__stats_on;

typedef struct class_counters_s {
    _Atomic size_t requests, requested, live, peak, held, held_peak;
} class_counters_t;
static class_counters_t per_class[LG_CLASSES];

void lg__stats_malloc(size_t cls, size_t size, uintptr_t ret, const uintptr_t *slot)
{
    class_counters_t *c = &per_class[cls];
    atomic_fetch_add_explicit(&c->requests, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&c->requested, size, memory_order_relaxed);
    lg__count_add(&c->live, lg__class_size[cls], &c->peak);
    lg__route_observe(ret, slot, size);
}

void lg__stats_free(const lg_page_t *page)
{
    lg__count_sub(&per_class[page->cls].live, page->block_size);
}

/* Bytes of pages a class holds: counted as pages come and go, all modes. */
void lg__stats_page(size_t cls, size_t bytes, bool added)
{
    if (added)
        lg__count_add(&per_class[cls].held, bytes, &per_class[cls].held_peak);
    else
        lg__count_sub(&per_class[cls].held, bytes);
}

#define CLOAD(c, x) atomic_load_explicit(&(c)->x, memory_order_relaxed)

size_t lg__stats_exact_requests(void)
{
    size_t n = 0;
    for (size_t cls = lg__class_std_count; cls < lg__class_count; cls++)
        n += CLOAD(&per_class[cls], requests);
    return n;
}

/* The class's counts; false when it served nothing and never held a page. */
static bool class_stats_at(size_t cls, lg_class_stats_t *out)
{
    const class_counters_t *c = &per_class[cls];
    size_t requests = CLOAD(c, requests), requested = CLOAD(c, requested);
    if (requests == 0 && CLOAD(c, held_peak) == 0)
        return false;
    size_t block = lg__class_size[cls];
    *out = (lg_class_stats_t){
        .block_size = block,
        .requests = requests,
        .requested_bytes = requested,
        .wasted_bytes = requests * block - requested,
        .live_bytes = CLOAD(c, live),
        .peak_bytes = CLOAD(c, peak),
        .held_bytes = CLOAD(c, held),
        .held_peak_bytes = CLOAD(c, held_peak),
        .exact = cls >= lg__class_std_count,
    };
    return true;
}

size_t lg_class_stats_get(lg_class_stats_t *out, size_t max)
{
    size_t n = 0;
    lg_class_stats_t one;
    for (size_t cls = 0; cls < lg__class_count; cls++) {
        if (!class_stats_at(cls, &one))
            continue;
        if (n < max)
            out[n] = one;
        n++;
    }
    return n;
}

int lg_stats_enabled(void)
{
    return lg__stats_on;
}

/* ---- the report ------------------------------------------------------------
 *
 * Formatted here with no stdio, no lock and no allocation, into a small
 * buffer on the stack, so that the same code serves lg_stats_print (a
 * FILE), lg_stats_print_fd and the report from a signal handler
 * (LGMALLOC_STATS_SIGNAL): only the prediction's counts take a lock, and a
 * signal's report leaves them out. */

typedef struct out_s {
    int fd;       /* or -1: to `file` */
    FILE *file;
    bool failed;
    size_t len;
    char buf[512];
} out_t;

static void out_flush(out_t *o)
{
    for (size_t done = 0; done < o->len && !o->failed;) {
        ssize_t n = o->fd >= 0 ? write(o->fd, o->buf + done, o->len - done)
                               : (ssize_t)fwrite(o->buf + done, 1, o->len - done, o->file);
        if (n > 0)
            done += (size_t)n;
        else if (!(n < 0 && errno == EINTR))
            o->failed = true;
    }
    o->len = 0;
}

static void out_chars(out_t *o, const char *s, size_t n)
{
    while (n--) {
        if (o->len == sizeof o->buf)
            out_flush(o);
        o->buf[o->len++] = *s++;
    }
}

static void out_str(out_t *o, const char *s) { out_chars(o, s, strlen(s)); }

/* s right-aligned in `width` columns, as printf's %*s */
static void out_right(out_t *o, const char *s, size_t width)
{
    for (size_t n = strlen(s); n < width; n++)
        out_chars(o, " ", 1);
    out_str(o, s);
}

/* %*zu; with `tenths`, v / 10 with one decimal, as %*.1f */
static void out_num(out_t *o, size_t v, size_t width, bool tenths)
{
    char digits[32];
    char *p = digits + sizeof digits;
    *--p = 0;
    if (tenths) {
        *--p = (char)('0' + v % 10);
        *--p = '.';
        v /= 10;
    }
    do
        *--p = (char)('0' + v % 10);
    while ((v /= 10) != 0);
    out_right(o, p, width);
}

static size_t kib_tenths(size_t bytes) { return (bytes * 10 + 512) / 1024; }
static size_t mib_tenths(size_t bytes) { return (bytes * 10 + (1u << 19)) >> 20; }

static void out_mib(out_t *o, size_t bytes) { out_num(o, mib_tenths(bytes), 0, true); }

static void print_totals(out_t *o)
{
    lg_stats_t s;
    lg_stats_get(&s);
    out_str(o, "lgmalloc: segments "), out_num(o, s.segments, 0, false);
    out_str(o, " (peak "), out_num(o, s.segments_peak, 0, false);
    out_str(o, "), pages in use "), out_num(o, s.pages_in_use, 0, false);
    out_str(o, ", huge blocks "), out_num(o, s.huge_blocks, 0, false);
    out_str(o, " ("), out_mib(o, s.huge_bytes);
    out_str(o, " MiB)\nlgmalloc: reserved "), out_mib(o, s.reserved_bytes);
    out_str(o, " MiB, committed "), out_mib(o, s.committed_bytes);
    out_str(o, " MiB (peak "), out_mib(o, s.committed_peak);
    out_str(o, " MiB), returned to the OS "), out_mib(o, s.purged_bytes);
    out_str(o, " MiB\nlgmalloc: threads live "), out_num(o, s.threads_live, 0, false);
    out_str(o, ", seen "), out_num(o, s.threads_seen, 0, false);
    out_str(o, "; abandoned segments "), out_num(o, s.segments_abandoned, 0, false);
    out_str(o, "\n");
}

static void print_classes(out_t *o)
{
    bool any = false;
    lg_class_stats_t c;
    for (size_t cls = 0; cls < lg__class_count; cls++) {
        if (!class_stats_at(cls, &c))
            continue;
        if (!any) {
            out_str(o, "lgmalloc: "), out_right(o, "class", 10);
            static const char *const heads[] = {"requests", "live KiB", "peak KiB", "pages KiB", "wasted KiB"};
            for (size_t i = 0; i < sizeof heads / sizeof *heads; i++)
                out_str(o, " "), out_right(o, heads[i], 12);
            out_str(o, "\n");
            any = true;
        }
        out_str(o, "lgmalloc: "), out_num(o, c.block_size, 9, false);
        out_str(o, c.exact ? "* " : "  "), out_num(o, c.requests, 12, false);
        out_str(o, " "), out_num(o, kib_tenths(c.live_bytes), 12, true);
        out_str(o, " "), out_num(o, kib_tenths(c.peak_bytes), 12, true);
        out_str(o, " "), out_num(o, kib_tenths(c.held_peak_bytes), 12, true);
        out_str(o, " "), out_num(o, kib_tenths(c.wasted_bytes), 12, true);
        out_str(o, "\n");
    }
    if (any)
        out_str(o, "lgmalloc: (* exact-fit class made for a predicted or learned size; pages: the most the class held;"
                   " wasted: rounding, over all requests)\n");
}

static void print_prediction(out_t *o)
{
    lg_predict_stats_t p;
    lg_predict_stats_get(&p);
    if (p.sites == 0)
        return;
    out_str(o, "lgmalloc: prediction: "), out_num(o, p.sites, 0, false);
    out_str(o, " call sites, "), out_num(o, p.sites_sized, 0, false);
    out_str(o, " with a size; "), out_num(o, p.exact_classes, 0, false);
    out_str(o, " exact-fit classes, "), out_num(o, p.patched_sites, 0, false);
    out_str(o, " sites on the short path\n");
    if (!lg__stats_on)
        return;
    out_str(o, "lgmalloc: prediction: "), out_num(o, p.exact_requests, 0, false);
    out_str(o, " allocations from exact-fit classes; "), out_num(o, p.hits, 0, false);
    out_str(o, " of the size their call site predicts, "), out_num(o, p.misses, 0, false);
    out_str(o, " of another size (a wrong prediction)\n");
}

static bool print_report(out_t *o, bool from_signal)
{
    print_totals(o);
    print_classes(o);
    if (from_signal)
        out_str(o, "lgmalloc: (a report from a signal: without the prediction's counts, which need a lock)\n");
    else
        print_prediction(o);
    out_flush(o);
    return !o->failed;
}

void lg_stats_print(FILE *out)
{
    out_t o = {.fd = -1, .file = out};
    print_report(&o, false);
}

int lg_stats_print_fd(int fd)
{
    if (fd < 0) {
        errno = EBADF;
        return -1;
    }
    out_t o = {.fd = fd};
    return print_report(&o, false) ? 0 : -1;
}

/* ---- where the report goes: LGMALLOC_STATS, LGMALLOC_STATS_SIGNAL ---------
 *
 * LGMALLOC_STATS=1: to stderr as it was at start-up: a copy of the
 * descriptor, close-on-exec and numbered high, so a program that closes
 * stderr before exit (gnulib's close_stdout: xz, m4) still gets it.
 * LGMALLOC_STATS=/path (any value with a '/'): appended to that file,
 * opened when the report is written, with the process id first, so the
 * processes of a build can share one file. */

#define LG_STATS_FD_MIN 100 /* above the descriptors a program numbers itself */

static int report_fd = STDERR_FILENO;
static char report_path[PATH_MAX];

static void report(bool from_signal)
{
    int fd = report_fd;
    if (report_path[0]) {
        fd = open(report_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        if (fd < 0)
            return;
    }
    out_t o = {.fd = fd};
    if (report_path[0]) {
        out_str(&o, "lgmalloc: process "), out_num(&o, (size_t)getpid(), 0, false);
        out_str(&o, "\n");
    }
    print_report(&o, from_signal);
    if (report_path[0])
        close(fd);
}

static void report_at_exit(void) { report(false); }

/* Only async-signal-safe calls: open, write, close, and atomic loads. */
static void report_on_signal(int sig)
{
    (void)sig;
    int saved = errno;
    report(true);
    errno = saved;
}

/* LGMALLOC_STATS=1 or a path: count per class, and report at exit.
 * LGMALLOC_STATS_SIGNAL=USR2 (say): report on that signal, the program
 * running on, to the same place. */
void lg__stats_init(void)
{
    const char *path = lg__options.stats_path;
    int sig = lg__options.stats_signal;
    lg__stats_on = lg__options.stats;
    if (lg__stats_on && path && strlen(path) < sizeof report_path)
        strcpy(report_path, path);
    if ((lg__stats_on || sig) && !report_path[0]) {
        int fd = fcntl(STDERR_FILENO, F_DUPFD_CLOEXEC, LG_STATS_FD_MIN);
        if (fd < 0)
            fd = fcntl(STDERR_FILENO, F_DUPFD_CLOEXEC, 3); /* a low RLIMIT_NOFILE */
        if (fd >= 0)
            report_fd = fd;
    }
    if (lg__stats_on)
        atexit(report_at_exit);
    if (sig) {
        struct sigaction sa = {.sa_handler = report_on_signal, .sa_flags = SA_RESTART};
        sigemptyset(&sa.sa_mask);
        sigaction(sig, &sa, NULL);
    }
}
