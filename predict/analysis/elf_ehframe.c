/* Function starts from .eh_frame_hdr's binary search table (sorted): the
 * one list of functions a stripped binary still carries.  Only the encoding every
 * toolchain emits for that table (datarel sdata4) is read. */
#include "internal.h"

#include <stdlib.h>
#include <string.h>

#define PE_OMIT    0xff
#define PE_UDATA4  0x03
#define PE_SDATA4  0x0b
#define PE_UDATA8  0x04
#define PE_SDATA8  0x0c
#define PE_FORMAT  0x0f
#define PE_DATAREL_SDATA4 0x3b

static size_t encoded_size(uint8_t enc)
{
    switch (enc & PE_FORMAT) {
    case PE_UDATA4 & PE_FORMAT: case PE_SDATA4 & PE_FORMAT: return 4;
    case PE_UDATA8 & PE_FORMAT: case PE_SDATA8 & PE_FORMAT: return 8;
    default: return 0;
    }
}

int lgp__elf_ehframe_starts(const lgp_elf_t *elf, uint64_t **starts, size_t *count)
{
    const Elf64_Shdr *sh = lgp__elf_section(elf, ".eh_frame_hdr");
    const uint8_t *p = sh ? lgp__elf_section_bytes(elf, sh) : NULL;
    if (!p || sh->sh_size < 4 || p[0] != 1)
        return -1;
    uint8_t ptr_enc = p[1], count_enc = p[2], table_enc = p[3];
    size_t ptr_size = encoded_size(ptr_enc);
    if (ptr_enc == PE_OMIT || ptr_size == 0 || table_enc != PE_DATAREL_SDATA4
        || (count_enc != PE_UDATA4 && count_enc != PE_SDATA4))
        return -1;
    size_t off = 4 + ptr_size;
    if (off + 4 > sh->sh_size)
        return -1;
    uint32_t n;
    memcpy(&n, p + off, 4);
    off += 4;
    if (n == 0 || n > (sh->sh_size - off) / 8)
        return -1;
    uint64_t *out = lgp__malloc(n * sizeof *out);
    if (!out)
        return -1;
    for (uint32_t i = 0; i < n; i++) {
        int32_t rel;
        memcpy(&rel, p + off + 8 * (size_t)i, 4);
        out[i] = sh->sh_addr + (uint64_t)(int64_t)rel;
        if (i > 0 && out[i] < out[i - 1]) {   /* a search table is sorted */
            free(out);
            return -1;
        }
    }
    *starts = out;
    *count = n;
    return 0;
}
