/* Once the analysis of the running program is over, the libraries it used
 * (Zydis, libdwarf, libelf, zlib) have put some 0.8 MiB of their code and
 * tables into the process's resident set, for nothing more to do.  Their
 * read-only segments are file-backed and clean: MADV_DONTNEED drops those
 * pages, and any later use (the program may use zlib itself) reads them
 * back from the page cache.  Writable segments are never touched. */
#include "internal.h"

#include <link.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static const char *const analysis_libraries[] = {
    "/libZydis.so", "/libdwarf.so", "/libelf.so", "/libelf-", "/libz.so",
};

static bool used_by_analysis(const char *path)
{
    for (size_t i = 0; i < sizeof analysis_libraries / sizeof analysis_libraries[0]; i++)
        if (strstr(path, analysis_libraries[i]))
            return true;
    return false;
}

static int release_object(struct dl_phdr_info *info, size_t size, void *arg)
{
    (void)size, (void)arg;
    if (!info->dlpi_name || !used_by_analysis(info->dlpi_name))
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
    dl_iterate_phdr(release_object, NULL);
}
