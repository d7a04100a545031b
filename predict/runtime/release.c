/* The analysis' libraries (Zydis, libdwarf, libelf, zlib) put their code
 * and tables into the process's resident set while they work, for nothing
 * more once they are done.  Their read-only segments are file-backed and
 * clean: MADV_DONTNEED drops those pages, and any later use (the next
 * pass, or the program's own use of zlib) reads them back from the page
 * cache.  Writable segments are never touched.  Dropping the DWARF
 * libraries as soon as the call-site values are read, and Zydis after each
 * pass, keeps the two sets from adding up at the analysis' peak (see
 * docs/decisions.md#release-libraries).
 *
 * On a fault in a file mapping the kernel maps up to 16 pages around it
 * that are in the page cache ("fault-around"), but never past the
 * mapping's ends.  Zydis' decoder reads a few bytes here and there in its
 * tables, and nearly all of them became resident; after the release,
 * every symbol the dynamic linker looked up brought back the start of
 * each library's first segment, and the code each library runs at exit
 * the code around it.  So the segments are split into smaller mappings by
 * marking parts of them MADV_RANDOM, which only turns off read-ahead (of
 * files that are in the page cache anyway) and makes the part a mapping
 * of its own: at start-up the pages those lookups and exits read, before a
 * pass every page of what it runs (every other one marked, one madvise
 * each, on the analysis' thread), merged again at the end (see
 * docs/decisions.md#split-library-mappings).
 *
 * The analysis reaches the steps inside a pass through its hooks
 * (lgp__release_hooks): it knows nothing of them. */
#include "runtime.h"

#include <link.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/* Of the first segment: the page every symbol lookup reads (the ELF
 * header and the start of .gnu.hash, its bloom filter), and the pages a
 * lookup reads when the filter lets it through (the rest of .gnu.hash,
 * .dynsym, .dynstr) */
#define BLOOM_PAGES  1
#define LOOKUP_PAGES 4

static const char *const dwarf_libraries[] = {
    "/libdwarf.so", "/libelf.so", "/libelf-", "/libz.so", NULL,
};
static const char *const decoder_library[] = { "/libZydis.so", NULL };
static const char *const all_libraries[] = {
    "/libZydis.so", "/libdwarf.so", "/libelf.so", "/libelf-", "/libz.so", NULL,
};

static bool listed(const char *path, const char *const *list)
{
    for (; *list; list++)
        if (strstr(path, *list))
            return true;
    return false;
}

#define MAX_EXITS 8

/* What the dynamic linker runs of an object at exit: DT_FINI and the
 * functions of DT_FINI_ARRAY (crtstuff's __do_global_dtors_aux). */
typedef struct exits_s {
    uintptr_t addr[MAX_EXITS];
    unsigned  count;
} exits_t;

/* first: the segment at the start of the file, with the ELF header and
 * the dynamic linker's tables */
typedef void segment_fn(uintptr_t start, uintptr_t end, uintptr_t page, bool first,
                        const exits_t *exits);

typedef struct visit_s {
    const char *const *list;
    segment_fn        *fn;
} visit_t;

/* A dynamic entry's address: the dynamic linker has made some of them
 * absolute in place, not these (but an address below the load address
 * cannot be one). */
static uintptr_t dynamic_address(const struct dl_phdr_info *info, ElfW(Addr) ptr)
{
    return ptr < info->dlpi_addr ? info->dlpi_addr + ptr : ptr;
}

static void find_exits(const struct dl_phdr_info *info, exits_t *exits)
{
    exits->count = 0;
    for (unsigned i = 0; i < info->dlpi_phnum; i++) {
        if (info->dlpi_phdr[i].p_type != PT_DYNAMIC)
            continue;
        const ElfW(Dyn) *dyn = (const ElfW(Dyn) *)(info->dlpi_addr + info->dlpi_phdr[i].p_vaddr);
        const uintptr_t *array = NULL;
        size_t array_bytes = 0;
        for (; dyn->d_tag != DT_NULL; dyn++) {
            if (dyn->d_tag == DT_FINI && exits->count < MAX_EXITS)
                exits->addr[exits->count++] = dynamic_address(info, dyn->d_un.d_ptr);
            else if (dyn->d_tag == DT_FINI_ARRAY)
                array = (const uintptr_t *)dynamic_address(info, dyn->d_un.d_ptr);
            else if (dyn->d_tag == DT_FINI_ARRAYSZ)
                array_bytes = dyn->d_un.d_val;
        }
        /* relocated: absolute addresses (0 or -1 are no function) */
        for (size_t j = 0; array && j < array_bytes / sizeof *array && exits->count < MAX_EXITS; j++)
            if (array[j] + 1 > 1)
                exits->addr[exits->count++] = array[j];
    }
}

/* Calls fn on every read-only segment of the listed objects, rounded in
 * to whole pages. */
static int visit_object(struct dl_phdr_info *info, size_t size, void *arg)
{
    (void)size;
    const visit_t *visit = arg;
    if (!info->dlpi_name || !listed(info->dlpi_name, visit->list))
        return 0;
    uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
    exits_t exits;
    find_exits(info, &exits);
    for (unsigned i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_LOAD || (ph->p_flags & PF_W))
            continue;
        uintptr_t start = (info->dlpi_addr + ph->p_vaddr) & ~(page - 1);
        uintptr_t end = (info->dlpi_addr + ph->p_vaddr + ph->p_filesz) & ~(page - 1);
        if (end > start)
            visit->fn(start, end, page, ph->p_offset == 0, &exits);
    }
    return 0;
}

static void visit(const char *const *list, segment_fn *fn)
{
    visit_t v = { list, fn };
    lgp__objects_iterate(visit_object, &v);
}

static void drop(uintptr_t start, uintptr_t end, uintptr_t page, bool first,
                 const exits_t *exits)
{
    (void)page, (void)first, (void)exits;
    (void)madvise((void *)start, end - start, MADV_DONTNEED); /* best effort */
}

static void advise(uintptr_t from, uintptr_t to, uintptr_t end, int advice)
{
    if (to > end)
        to = end;
    if (to > from)
        (void)madvise((void *)from, to - from, advice); /* best effort */
}

/* Each becomes a mapping of its own, so that a fault maps in no more than
 * its mapping: the first segment's bloom filter page (in every program,
 * the dynamic linker's lookups of symbols defined further on bring it
 * back), its other lookup pages (a lookup the filter lets through: with
 * them in the same mapping, it brought the start of the segment back; see
 * docs/decisions.md#lookup-pages), and the rest; of the other segments
 * the first and the last page, each page with code run at exit (libdwarf's
 * __do_global_dtors_aux is on the page after its long .plt: in the middle,
 * every exit brought the code around it back, with prediction off too;
 * see docs/decisions.md#exit-code-pages), and the rest.  Neighbours differ
 * in their advice, or the kernel would merge them again. */
static void split_ends(uintptr_t start, uintptr_t end, uintptr_t page, bool first,
                       const exits_t *exits)
{
    if (first) {
        advise(start + BLOOM_PAGES * page, start + LOOKUP_PAGES * page, end, MADV_RANDOM);
        advise(start + LOOKUP_PAGES * page, end, end, MADV_NORMAL);
        return;
    }
    advise(start + page, end - page, end, MADV_RANDOM);
    for (unsigned i = 0; i < exits->count; i++) {
        uintptr_t at = exits->addr[i] & ~(page - 1);
        if (at > start && at + page < end)
            advise(at, at + page, end, MADV_NORMAL);
    }
}

/* Every page of code and data: the middle MADV_RANDOM (again), every
 * other page of it back to MADV_NORMAL. */
static void split_pages(uintptr_t start, uintptr_t end, uintptr_t page, bool first,
                        const exits_t *exits)
{
    split_ends(start, end, page, first, exits);
    if (first)
        return;
    for (uintptr_t p = start + 2 * page; p + page < end; p += 2 * page)
        (void)madvise((void *)p, page, MADV_NORMAL); /* best effort */
}

void lgp__split_library_ends(void)
{
    visit(all_libraries, split_ends);
}

/* Once each until the merge, on the thread that runs the analysis. */
static bool decoder_split, dwarf_split;

static void split_decoder_pages(void)
{
    if (!decoder_split)
        visit(decoder_library, split_pages);
    decoder_split = true;
}

static void split_dwarf_pages(void)
{
    if (!dwarf_split)
        visit(dwarf_libraries, split_pages);
    dwarf_split = true;
}

/* The middle of each segment one mapping again (all of it MADV_RANDOM),
 * the ends as at start-up: the split's many mappings made every
 * fork of the program slower (see docs/decisions.md#merge-library-mappings).
 * Called by the program's own analysis (self.c) when it is done. */
void lgp__merge_library_pages(void)
{
    if (decoder_split || dwarf_split)
        visit(all_libraries, split_ends);
    decoder_split = dwarf_split = false;
}

void lgp__release_libraries(void)
{
    visit(all_libraries, drop);
}

static void release_dwarf_libraries(void)
{
    visit(dwarf_libraries, drop);
}

const lgp_hooks_t lgp__release_hooks = {
    .before_decode = split_decoder_pages,
    .before_dwarf = split_dwarf_pages,
    .after_dwarf = release_dwarf_libraries,
};

/* The analysis frees nearly all it allocated, and what it freed stays
 * resident in the heap of the thread that ran it, for a reuse that does
 * not come (see docs/decisions.md#analysis-heap-release).  On the
 * analysis' own thread only that thread's heap: lg_collect would also
 * adopt the segments of every exited thread and empty the caches the
 * program's threads reuse (and the thread's exit would keep its free
 * slices resident for the next thread).  Weak, since the analysis is not
 * always linked with lgmalloc. */
extern void lg_collect(void) __attribute__((weak));
extern void lg_thread_collect(void) __attribute__((weak));

void lgp__release_heap(bool before_main)
{
    if (before_main && lg_collect)
        lg_collect();
    else if (!before_main && lg_thread_collect)
        lg_thread_collect();
}
