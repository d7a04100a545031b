/* The analysis' libraries (Zydis, libdwarf, libelf, zlib) put some 0.5 MiB
 * each of their code and tables into the process's resident set while they
 * work, for nothing more once they are done.  Their read-only segments are
 * file-backed and clean: MADV_DONTNEED drops those pages, and any later use
 * (the next pass, or the program's own use of zlib) reads them back from the
 * page cache.  Writable segments are never touched.  Dropping the DWARF
 * libraries as soon as the call-site values are read, and Zydis after each
 * pass, keeps the two sets from adding up at the analysis' peak. */
#include "internal.h"

#include <link.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static const char *const dwarf_libraries[] = {
    "/libdwarf.so", "/libelf.so", "/libelf-", "/libz.so", NULL,
};
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

static int release_object(struct dl_phdr_info *info, size_t size, void *list)
{
    (void)size;
    if (!info->dlpi_name || !listed(info->dlpi_name, list))
        return 0;
    uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
    for (unsigned i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_LOAD || (ph->p_flags & PF_W))
            continue;
        uintptr_t start = (info->dlpi_addr + ph->p_vaddr) & ~(page - 1);
        uintptr_t end = (info->dlpi_addr + ph->p_vaddr + ph->p_filesz) & ~(page - 1);
        if (end > start)
            (void)madvise((void *)start, end - start, MADV_DONTNEED); /* best effort */
    }
    return 0;
}

void lgp__release_libraries(void)
{
    dl_iterate_phdr(release_object, (void *)all_libraries);
}

void lgp__release_dwarf_libraries(void)
{
    dl_iterate_phdr(release_object, (void *)dwarf_libraries);
}

/* The analysis frees nearly all it allocated, and what it freed stays
 * resident in the heap of the thread that ran it, for a reuse that does
 * not come: a small program held 416 KiB of anonymous memory at main after
 * the analysis before it, 120 KiB once lg_collect gives that back.  Only
 * there: on the analysis' own thread, lg_collect would also adopt the
 * segments of every exited thread and empty the caches the program's
 * threads reuse, and that thread's exit gives its heap back anyway.  Weak,
 * since the analysis is not always linked with lgmalloc. */
extern void lg_collect(void) __attribute__((weak));

void lgp__release_heap(void)
{
    if (lg_collect)
        lg_collect();
}
