/* The program of the ahead-of-time table tests (aot.c): built plain, with
 * its table embedded (lgmalloc-scan --embed), as a second build that
 * carries the first one's table, and -static.  It allocates at sites of
 * one size between the standard classes, waits for its table and prints
 *   origin=N sites=N text_changed=N
 * origin: where the table came from (lgp_origin_t), -1 for none;
 * text_changed: the bytes of its code that differ from its file, that is,
 * what the short path rewrote.  AOT_BLOCKS=N: N live blocks instead of
 * 4,096, a short run. */
#define _GNU_SOURCE
#include <elf.h>
#include <fcntl.h>
#include <link.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lgmalloc_predict.h"

#ifndef AOT_VARIANT
#define AOT_VARIANT 1   /* another value: other code, another build-id */
#endif

#define SITE(pad)                                                              \
    __attribute__((noinline, aligned(32))) static void *site_##pad(void)       \
    {                                                                          \
        __asm__ volatile(".rept " #pad "\n\tnop\n\t.endr");                    \
        void *p = malloc(136);                                                 \
        __asm__ volatile("" : : "r"(p) : "memory"); /* a call, not a tail call */ \
        return p;                                                              \
    }
SITE(0) SITE(1) SITE(2) SITE(3) SITE(4) SITE(5) SITE(6) SITE(7)

static void *(*const sites[])(void) = {
    site_0, site_1, site_2, site_3, site_4, site_5, site_6, site_7,
};

static int text_changed(struct dl_phdr_info *info, size_t size, void *arg)
{
    (void)size;
    size_t *changed = arg;
    int fd = open("/proc/self/exe", O_RDONLY);
    for (unsigned i = 0; fd >= 0 && i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_LOAD || !(ph->p_flags & PF_X))
            continue;
        const unsigned char *mem = (const unsigned char *)(info->dlpi_addr + ph->p_vaddr);
        unsigned char buf[4096];
        for (size_t at = 0; at < ph->p_filesz; at += sizeof buf) {
            size_t n = ph->p_filesz - at < sizeof buf ? ph->p_filesz - at : sizeof buf;
            if (pread(fd, buf, n, (off_t)(ph->p_offset + at)) != (ssize_t)n)
                abort();
            for (size_t k = 0; k < n; k++)
                *changed += buf[k] != mem[at + k];
        }
    }
    if (fd >= 0)
        close(fd);
    return 1;   /* the program only */
}

int main(void)
{
    /* Enough live blocks to fill a dozen pages: the predicted size gets
     * its class once it is used (docs/decisions.md#exact-by-use). */
    enum { LIVE = 4096 };
    static void *blocks[LIVE];
    const char *asked = getenv("AOT_BLOCKS");
    size_t live = asked ? strtoul(asked, NULL, 10) : LIVE;
    if (live > LIVE)
        live = LIVE;
    const lgp_table_t *table = lgp_self_wait();
    for (int round = 0; round < AOT_VARIANT + 1; round++) {
        for (size_t i = 0; i < live; i++)
            blocks[i] = sites[i % 8]();
        for (size_t i = 0; i < live; i++)
            free(blocks[i]);
    }
    size_t changed = 0;
    dl_iterate_phdr(text_changed, &changed);
    printf("origin=%d sites=%zu text_changed=%zu\n", table ? (int)table->origin : -1,
           table ? table->count : 0, changed);
    return 0;
}
