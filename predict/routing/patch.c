/* The short path: a call site whose size is known with high
 * confidence calls its class's entry (wrap/entries.c) instead of malloc,
 * so the allocation skips the size-to-class step.  The call is redirected
 * in the running program by rewriting the rel32 of its `call __wrap_malloc`
 * (E8 rel32); the entry still checks the size against its class and falls
 * back to the generic path, so a wrong prediction cannot misplace a block.
 *
 * Other threads may be executing that very code (the analysis runs on a
 * background thread while main runs), so:
 *   - a displacement is rewritten only when its 4 bytes lie inside one
 *     naturally aligned 8-byte word, with one atomic store of the whole
 *     word (its other 4 bytes unchanged): instruction fetch sees the old
 *     call or the new one, never a mix (HotSpot patches calls the same way).
 *     A site that fails that test keeps calling malloc (see
 *     docs/decisions.md#short-path);
 *   - the page is made writable with PROT_READ|PROT_WRITE|PROT_EXEC, never
 *     without EXEC, and put back to the segment's protection right after;
 *     each page is unprotected once per table, neighbouring pages with
 *     patches together;
 *   - a fork while a page is writable would leave it writable in the child
 *     for ever (the patching thread is not copied): `window_lock` is held
 *     while any page is writable, and a pthread_atfork handler takes it, so
 *     fork() waits until the page is back to r-x.  (A raw clone() that
 *     skips the atfork handlers is not covered; vfork and posix_spawn share
 *     the parent's memory, so the restore reaches them too.)
 *
 * The pass allocates nothing and asks the dynamic linker nothing (the
 * program's code segments are noted when the table is readied, by
 * lgp__patch_ready), so that it can run from the allocator's slow path,
 * where the deferred patching starts it (route.c); from there it waits
 * for no lock either, and a pass that finds one taken is tried again.
 *
 * When mprotect refuses (a W^X policy: SELinux execmod, PaX, systemd's
 * MemoryDenyWriteExecute), nothing more is tried and the sites keep
 * calling malloc.  Each patched page becomes a private copy (4 KiB of
 * memory that is no longer shared with other processes of the program).
 *
 * A second table (DWARF evidence merged in) reads the code as it is now:
 * sites already at their entry stay, a site whose class changed is
 * repointed, and one that no longer qualifies goes back to malloc.  The
 * analysis itself reads the file, never the patched text.
 *
 * x86-64 keeps instruction fetch coherent with stores, so no cache flush. */
#include "routing.h"

#include "../../lib/route.h"
#include "../../wrap/entries.h"

#include <errno.h>
#include <stdatomic.h>
#include <link.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define CALL_REL32     0xE8
#define CALL_SIZE      5
#define MAX_SEGMENTS   16
#define MAX_ENTRIES    256   /* lg_route_entry answers NULL past the classes */

/* The program's malloc, where its direct calls land (wrap/wrap.c). */
extern char __wrap_malloc[] __attribute__((weak));

typedef enum skip_e {
    SKIP_STRADDLE,     /* displacement across an aligned 8-byte word */
    SKIP_NOT_CALL,     /* not `call rel32` to malloc or an entry */
    SKIP_OUTSIDE,      /* not in the program's code */
    SKIP_RANGE,        /* the entry is out of rel32 reach */
    SKIP_NO_CLASS,     /* no class serves the size (a huge block) */
    SKIP_NOT_WRITABLE, /* mprotect refused */
    SKIP_REASONS
} skip_t;

static const char *const skip_names[SKIP_REASONS] = {
    [SKIP_STRADDLE] = "displacement across an 8-byte word",
    [SKIP_NOT_CALL] = "not a call rel32 to malloc",
    [SKIP_OUTSIDE] = "outside the program's code",
    [SKIP_RANGE] = "entry out of rel32 reach",
    [SKIP_NO_CLASS] = "no class for the size",
    [SKIP_NOT_WRITABLE] = "text not writable",
};

typedef struct segment_s { uintptr_t start, end; int prot; } segment_t;

typedef struct patch_s {
    uintptr_t call;     /* run-time address of the E8 */
    int32_t   rel;      /* the new displacement */
    bool      entry;    /* to an entry (or back to malloc) */
} patch_t;

/* A pass plans the sites in address order and writes them a run at a
 * time: the planned patches on neighbouring pages of one segment, up to
 * RUN_MAX of them. */
#define RUN_MAX 64

typedef struct pass_s {
    const segment_t *segments;
    size_t    segment_count;
    uintptr_t page_size;
    uintptr_t entries[MAX_ENTRIES];
    size_t    entry_count;
    patch_t   run[RUN_MAX];
    size_t    run_count;
    bool      wait;             /* may wait for the window lock */
    bool      busy;             /* it could not: try the pass again later */
    bool      stopped;          /* mprotect refused: nothing more is tried */
    size_t    using_entry;      /* sites at an entry once the pass is done */
    size_t    skipped[SKIP_REASONS];
    int       mprotect_errno;
} pass_t;

static pthread_mutex_t pass_lock = PTHREAD_MUTEX_INITIALIZER;   /* one pass at a time */
static pthread_mutex_t window_lock = PTHREAD_MUTEX_INITIALIZER; /* a page is writable */
static pthread_once_t  ready_once = PTHREAD_ONCE_INIT;
static bool            ready_ok;
static pass_t          the_pass;    /* under pass_lock: nothing allocated */

/* ---- fork: never while a page is writable -------------------------------- */

/* Set while this thread holds window_lock or waits for it.  A fork from a
 * signal handler that interrupted it (glibc makes fork async-signal-safe
 * in a single-threaded process) must not take the lock again, nor let go
 * of it: it would wait for ever on itself.  Its child may only call
 * async-signal-safe functions, as after any fork in a signal handler. */
static __thread __attribute__((tls_model("local-exec"))) bool window_mine;
static __thread __attribute__((tls_model("local-exec"))) unsigned forks_nested;

static void window_lock_take(void)
{
    window_mine = true;
    pthread_mutex_lock(&window_lock);
}

static void window_lock_give(void)
{
    pthread_mutex_unlock(&window_lock);
    window_mine = false;
}

/* From the allocator's slow path: never waits, since this thread may be
 * forking (fork_prepare holds the lock). */
static bool window_lock_try(void)
{
    if (pthread_mutex_trylock(&window_lock) != 0)
        return false;
    window_mine = true;
    return true;
}

static void fork_prepare(void)
{
    if (window_mine) {
        forks_nested++;
        return;
    }
    window_lock_take();
}

static void fork_release(void)
{
    if (forks_nested) {
        forks_nested--;
        return;
    }
    window_lock_give();
}

/* ---- where the code is ---------------------------------------------------- */

typedef struct found_s { segment_t *segments; size_t count; } found_t;

static int program_segments(struct dl_phdr_info *info, size_t size, void *arg)
{
    (void)size;
    found_t *found = arg;
    for (size_t i = 0; i < info->dlpi_phnum && found->count < MAX_SEGMENTS; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_LOAD || !(ph->p_flags & PF_X))
            continue;
        int prot = PROT_EXEC | ((ph->p_flags & PF_R) ? PROT_READ : 0)
                 | ((ph->p_flags & PF_W) ? PROT_WRITE : 0);
        uintptr_t start = info->dlpi_addr + ph->p_vaddr;
        found->segments[found->count++] = (segment_t){ start, start + ph->p_memsz, prot };
    }
    return 1;   /* the first object is the program */
}

static const segment_t *segment_in(const segment_t *segments, size_t count, uintptr_t addr,
                                   size_t len)
{
    for (size_t i = 0; i < count; i++)
        if (addr >= segments[i].start && addr + len <= segments[i].end)
            return &segments[i];
    return NULL;
}

static const segment_t *segment_of(const pass_t *pass, uintptr_t addr, size_t len)
{
    return segment_in(pass->segments, pass->segment_count, addr, len);
}

/* The program's code segments, noted once by lgp__patch_ready: a pass run
 * from the allocator's slow path may not ask the dynamic linker. */
static segment_t      known_segments[MAX_SEGMENTS];
static _Atomic size_t known_segment_count;

static bool is_entry(const pass_t *pass, uintptr_t addr)
{
    for (size_t i = 0; i < pass->entry_count; i++)
        if (pass->entries[i] == addr)
            return true;
    return false;
}

/* ---- planning -------------------------------------------------------------- */

static bool qualifies(const lgp_site_t *site)
{
    return site->evidence != LGP_EVIDENCE_NONE && site->confidence >= LGP_PATCH_CONFIDENCE
        && site->size > 0;
}

static bool patched_malloc_site(const lgp_site_t *site)
{
    return site->via == LGP_VIA_DIRECT && site->callee && strcmp(site->callee, "malloc") == 0;
}

static uintptr_t page_of(const pass_t *pass, uintptr_t call)
{
    return (call + 1) & ~(pass->page_size - 1);
}

static void flush(pass_t *pass);

/* Adds a patch to the run, written first when the patch does not belong
 * to it. */
static void add(pass_t *pass, uintptr_t call, int32_t rel, bool entry)
{
    if (pass->run_count > 0) {
        uintptr_t last = pass->run[pass->run_count - 1].call;
        if (pass->run_count == RUN_MAX || page_of(pass, call) > page_of(pass, last) + pass->page_size
            || segment_of(pass, call, CALL_SIZE) != segment_of(pass, last, CALL_SIZE))
            flush(pass);
    }
    pass->run[pass->run_count++] = (patch_t){ call, rel, entry };
}

static void plan(pass_t *pass, uintptr_t call, uintptr_t to, bool entry)
{
    intptr_t rel = (intptr_t)to - (intptr_t)(call + CALL_SIZE);
    if (rel < INT32_MIN || rel > INT32_MAX) {
        pass->skipped[SKIP_RANGE] += entry;
        return;
    }
    if (((call + 1) & 7) > 4) {   /* the 4 bytes must sit in one aligned word */
        pass->skipped[SKIP_STRADDLE] += entry;
        return;
    }
    if (pass->stopped) {
        pass->skipped[SKIP_NOT_WRITABLE]++;
        return;
    }
    add(pass, call, (int32_t)rel, entry);
}

/* Decides what each site's call should reach, and has it written. */
static void plan_sites(pass_t *pass, const lgp_table_t *table)
{
    uintptr_t malloc_addr = (uintptr_t)__wrap_malloc;
    uintptr_t last = 0;
    for (size_t i = 0; i < table->count && !pass->busy; i++) {
        const lgp_site_t *site = &table->sites[i];
        /* A site that does not qualify now may have been patched by an
         * earlier table: every direct malloc site is looked at. */
        if (!patched_malloc_site(site))
            continue;
        bool wanted = qualifies(site);
        uintptr_t call = (uintptr_t)site->address + table->bias - CALL_SIZE;
        if (call == last)
            continue;   /* the same call twice in the table */
        last = call;
        size_t cls = wanted ? lg_route_class_for((size_t)site->size) : LG_ROUTE_NONE;
        lg_route_entry_t entry = cls != LG_ROUTE_NONE ? lg_route_entry(cls) : NULL;
        if (wanted && !entry)
            pass->skipped[SKIP_NO_CLASS]++;
        if (!segment_of(pass, call, CALL_SIZE)) {
            if (entry)
                pass->skipped[SKIP_OUTSIDE]++;
            continue;
        }
        const uint8_t *code = (const uint8_t *)call;
        int32_t rel;
        memcpy(&rel, code + 1, sizeof rel);
        uintptr_t target = call + CALL_SIZE + (intptr_t)rel;
        bool at_entry = code[0] == CALL_REL32 && target != malloc_addr && is_entry(pass, target);
        if (code[0] != CALL_REL32 || (target != malloc_addr && !at_entry)) {
            if (entry)
                pass->skipped[SKIP_NOT_CALL]++;
            continue;
        }
        uintptr_t to = entry ? (uintptr_t)entry : malloc_addr;
        if (target == to) {
            pass->using_entry += entry != NULL;
            continue;
        }
        if (!entry && !at_entry)
            continue;   /* at malloc, and staying there */
        plan(pass, call, to, entry != NULL);
    }
    if (!pass->busy)
        flush(pass);
}

/* ---- writing --------------------------------------------------------------- */

/* One atomic store of the aligned word that holds the displacement. */
static void store_displacement(uintptr_t call, int32_t rel)
{
    uintptr_t at = call + 1;
    uint64_t *word = (uint64_t *)(at & ~(uintptr_t)7);
    unsigned shift = (unsigned)(at & 7) * 8;
    uint64_t mask = (uint64_t)0xffffffff << shift;
    uint64_t old = __atomic_load_n(word, __ATOMIC_RELAXED);
    uint64_t new = (old & ~mask) | ((uint64_t)(uint32_t)rel << shift);
    __atomic_store_n(word, new, __ATOMIC_RELEASE);
}

/* Writes the run, one mprotect each way for its pages (each call is a
 * system call and a split of the mapping).  A pass that may not wait
 * for the window lock and finds it taken is busy. */
static void flush(pass_t *pass)
{
    size_t n = pass->run_count;
    if (n == 0)
        return;
    pass->run_count = 0;
    const segment_t *seg = segment_of(pass, pass->run[0].call, CALL_SIZE);
    uintptr_t page = page_of(pass, pass->run[0].call);
    size_t length = page_of(pass, pass->run[n - 1].call) + pass->page_size - page;
    bool protect = !(seg->prot & PROT_WRITE);
    if (pass->wait)
        window_lock_take();
    else if (!window_lock_try()) {
        pass->busy = true;
        return;
    }
    if (protect && mprotect((void *)page, length, PROT_READ | PROT_WRITE | PROT_EXEC) != 0) {
        pass->mprotect_errno = errno;
        window_lock_give();
        pass->stopped = true;
        pass->skipped[SKIP_NOT_WRITABLE] += n;
        return;
    }
    for (size_t k = 0; k < n; k++)
        store_displacement(pass->run[k].call, pass->run[k].rel);
    if (protect && mprotect((void *)page, length, seg->prot) != 0)
        pass->mprotect_errno = errno;   /* cannot happen for a page we just changed */
    window_lock_give();
    for (size_t k = 0; k < n; k++)
        pass->using_entry += pass->run[k].entry;
}

/* ---- the pass --------------------------------------------------------------- */

static bool verbose;   /* LGMALLOC_VERBOSE, read once */

static void report(const pass_t *pass)
{
    size_t skipped = 0;
    char why[256] = "";
    size_t len = 0;
    for (int r = 0; r < SKIP_REASONS; r++) {
        if (!pass->skipped[r])
            continue;
        skipped += pass->skipped[r];
        int n = snprintf(why + len, sizeof why - len, "%s%zu %s", len ? ", " : "",
                         pass->skipped[r], skip_names[r]);
        if (n > 0 && (size_t)n < sizeof why - len)
            len += (size_t)n;
    }
    if (pass->mprotect_errno) {
        int n = snprintf(why + len, sizeof why - len, "%smprotect: %s, a W^X policy?",
                         len ? "; " : "", strerror(pass->mprotect_errno));
        if (n > 0 && (size_t)n < sizeof why - len)
            len += (size_t)n;
    }
    fprintf(stderr, "lgmalloc: short path: %zu call sites patched, %zu skipped%s%s%s\n",
            pass->using_entry, skipped, len ? " (" : "", why, len ? ")" : "");
}

static void off(const char *why)
{
    if (verbose)
        fprintf(stderr, "lgmalloc: short path: off (%s)\n", why);
}

static void get_ready(void)
{
    const char *v = getenv("LGMALLOC_VERBOSE");
    verbose = v && atoi(v) > 0;
    const char *patch = getenv("LGMALLOC_PREDICT_PATCH");
    if (patch && strcmp(patch, "0") == 0) {
        off("LGMALLOC_PREDICT_PATCH=0");
        return;
    }
    if (!__wrap_malloc)
        return;
    if (!lg_route_entry(0)) {   /* the analysis without lgmalloc (a test fixture) */
        off("no class entries in this program");
        return;
    }
    if (pthread_atfork(fork_prepare, fork_release, fork_release) != 0) {
        off("pthread_atfork failed");   /* a fork could copy a writable page for good */
        return;
    }
    found_t found = { known_segments, 0 };
    lgp__objects_iterate(program_segments, &found);
    atomic_store_explicit(&known_segment_count, found.count, memory_order_release);
    ready_ok = true;
}

bool lgp__patch_ready(void)
{
    pthread_once(&ready_once, get_ready);
    return ready_ok;
}

/* One pass over table; with wait false it takes no lock that is taken,
 * and says so in *busy (what it did is done, the rest is not). */
static size_t run_pass(const lgp_table_t *table, bool wait, bool *busy)
{
    *busy = false;
    if (!table || !lgp__patch_ready())
        return 0;
    if (wait)
        pthread_mutex_lock(&pass_lock);
    else if (pthread_mutex_trylock(&pass_lock) != 0) {
        *busy = true;
        return 0;
    }
    pass_t *pass = &the_pass;
    memset(pass, 0, sizeof *pass);
    pass->segments = known_segments;
    pass->segment_count = atomic_load_explicit(&known_segment_count, memory_order_acquire);
    pass->page_size = (uintptr_t)sysconf(_SC_PAGESIZE);
    pass->wait = wait;
    for (size_t c = 0; c < MAX_ENTRIES; c++) {
        lg_route_entry_t entry = lg_route_entry(c);
        if (!entry)
            break;
        pass->entries[pass->entry_count++] = (uintptr_t)entry;
    }
    plan_sites(pass, table);
    size_t using_entry = pass->using_entry;
    *busy = pass->busy;
    if (!pass->busy && verbose)
        report(pass);
    pthread_mutex_unlock(&pass_lock);
    if (!*busy)
        lg_route_count_patched(using_entry);
    return using_entry;
}

size_t lgp__patch_sites(const lgp_table_t *table)
{
    bool busy;
    return run_pass(table, true, &busy);
}

bool lgp__patch_sites_try(const lgp_table_t *table)
{
    bool busy;
    run_pass(table, false, &busy);
    return !busy;
}

/* ---- a new class's sites ---------------------------------------------------- */

static bool is_class_entry(uintptr_t addr)
{
    lg_route_entry_t entry;
    for (size_t c = 0; (entry = lg_route_entry(c)) != NULL; c++)
        if ((uintptr_t)entry == addr)
            return true;
    return false;
}

size_t lgp__patch_repoint(const lgp_table_t *table, size_t size)
{
    size_t cls = lg_route_class_for(size);
    lg_route_entry_t entry = cls != LG_ROUTE_NONE ? lg_route_entry(cls) : NULL;
    size_t nseg = atomic_load_explicit(&known_segment_count, memory_order_acquire);
    if (!table || !entry || nseg == 0 || pthread_mutex_trylock(&pass_lock) != 0)
        return 0;
    uintptr_t page_size = (uintptr_t)sysconf(_SC_PAGESIZE);
    size_t moved = 0;
    for (size_t i = 0; i < table->count; i++) {
        const lgp_site_t *site = &table->sites[i];
        if (!patched_malloc_site(site) || !qualifies(site) || site->size != size)
            continue;
        uintptr_t call = (uintptr_t)site->address + table->bias - CALL_SIZE;
        const segment_t *seg = segment_in(known_segments, nseg, call, CALL_SIZE);
        intptr_t rel = (intptr_t)entry - (intptr_t)(call + CALL_SIZE);
        if (!seg || ((call + 1) & 7) > 4 || rel < INT32_MIN || rel > INT32_MAX)
            continue;
        const uint8_t *code = (const uint8_t *)call;
        int32_t old;
        memcpy(&old, code + 1, sizeof old);
        uintptr_t target = call + CALL_SIZE + (intptr_t)old;
        if (code[0] != CALL_REL32 || target == (uintptr_t)entry || !is_class_entry(target))
            continue;   /* at malloc (never patched), or there already */
        if (!window_lock_try())
            break;
        uintptr_t page = (call + 1) & ~(page_size - 1);
        bool protect = !(seg->prot & PROT_WRITE);
        if (!protect || mprotect((void *)page, page_size, PROT_READ | PROT_WRITE | PROT_EXEC) == 0) {
            store_displacement(call, (int32_t)rel);
            if (protect)
                (void)mprotect((void *)page, page_size, seg->prot); /* a page just changed */
            moved++;
        }
        window_lock_give();
    }
    pthread_mutex_unlock(&pass_lock);
    return moved;
}
