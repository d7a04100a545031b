/* Tests run under qemu-user (tools/cross-test sets LGMALLOC_TEST_EMULATED=1
 * for them): what the emulator changes, and the program's resident memory
 * as the emulated program sees it.  docs/testing.md, "Other targets". */
#ifndef LG_TEST_EMULATION_H
#define LG_TEST_EMULATION_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static inline int test_emulated(void)
{
    const char *e = getenv("LGMALLOC_TEST_EMULATED");
    return e && strcmp(e, "1") == 0;
}

/* Resident bytes of the program's own mappings: mincore over each range
 * of /proc/self/maps.  Under qemu-user statm and VmRSS count the emulator
 * too, which keeps host memory for every thread the program ever made and
 * for the code it translated; qemu lists only the program's mappings in
 * its maps and passes mincore through.  Ranges without access (reserved
 * address space) are left out: nothing there was written.  Returns 0 when
 * the maps cannot be read. */
static inline size_t emulated_resident_bytes(void)
{
    enum { CHUNK = 4096 };  /* pages asked of mincore at once */
    static unsigned char vec[CHUNK];
    size_t page = (size_t)sysconf(_SC_PAGESIZE), total = 0;
    FILE *f = fopen("/proc/self/maps", "r");
    if (!f)
        return 0;
    char line[512];
    while (fgets(line, sizeof line, f)) {
        unsigned long long lo, hi;
        char perms[8];
        if (sscanf(line, "%llx-%llx %7s", &lo, &hi, perms) != 3 || strncmp(perms, "---", 3) == 0)
            continue;
        for (uintptr_t a = (uintptr_t)lo; a < (uintptr_t)hi; a += CHUNK * page) {
            size_t pages = ((uintptr_t)hi - a) / page;
            if (pages > CHUNK)
                pages = CHUNK;
            if (mincore((void *)a, pages * page, vec) != 0)
                break;
            for (size_t i = 0; i < pages; i++)
                total += vec[i] & 1;
        }
    }
    fclose(f);
    return total * page;
}

#endif
