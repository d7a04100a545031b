/* The table as bytes (table.h): what lgmalloc-scan --embed puts in a
 * program and the per-user cache keeps.  Read back in the running program
 * before main, so no stdio: the reasons are fixed strings. */
#include "table.h"
#include "analysis/internal.h"   /* lgp__calloc: a call the scan does not see */

#include <elf.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define MAGIC       "LGPTABLE"
#define VERSION     1u
#define NO_NAME     UINT32_MAX
#define MAX_SITES   (1u << 22)   /* far more than any program has */
#define MAX_STRINGS (1u << 28)

enum { FLAG_DWARF = 1, FLAG_DEBUG_INFO = 2 };

typedef struct header_s {
    char     magic[8];
    uint32_t version;
    uint32_t flags;
    uint64_t key;
    uint64_t count;
    uint64_t strings;        /* bytes of names after the records */
    uint32_t build_id_size;
    uint8_t  build_id[LGP_BUILD_ID_MAX];
    uint32_t reserved;
} header_t;

typedef struct record_s {
    uint64_t address, size, wrapper, target;
    int32_t  frame;
    uint32_t line;
    float    confidence;
    uint8_t  evidence, via;
    uint16_t reserved;
    uint32_t function, file, callee;   /* offsets into the names, or NO_NAME */
    uint32_t reserved2;
} record_t;

_Static_assert(sizeof(header_t) == 80 && sizeof(record_t) == 64, "the file format");

static uint32_t name_offset(const lgp_table_t *t, const char *name)
{
    return name ? (uint32_t)(name - t->strings) : NO_NAME;
}

/* The pool of names, up to the end of the last one a site points to. */
static size_t strings_used(const lgp_table_t *t)
{
    size_t used = 0;
    for (size_t i = 0; i < t->count; i++) {
        const char *names[] = { t->sites[i].function, t->sites[i].file, t->sites[i].callee };
        for (size_t k = 0; k < 3; k++)
            if (names[k]) {
                size_t end = (size_t)(names[k] - t->strings) + strlen(names[k]) + 1;
                used = end > used ? end : used;
            }
    }
    return used;
}

void *lgp_table_encode(const lgp_table_t *table, const lgp_build_id_t *id, uint64_t key,
                       size_t *size)
{
    size_t strings = strings_used(table);
    if (table->count > MAX_SITES || strings > MAX_STRINGS)
        return NULL;
    size_t total = sizeof(header_t) + table->count * sizeof(record_t) + strings;
    uint8_t *out = lgp__calloc(1, total);
    if (!out)
        return NULL;
    header_t h = {
        .version = VERSION,
        .flags = (table->dwarf ? FLAG_DWARF : 0) | (table->debug_info ? FLAG_DEBUG_INFO : 0),
        .key = key,
        .count = table->count,
        .strings = strings,
        .build_id_size = id->size,
    };
    memcpy(h.magic, MAGIC, sizeof h.magic);
    memcpy(h.build_id, id->bytes, sizeof h.build_id);
    memcpy(out, &h, sizeof h);
    uint8_t *at = out + sizeof h;
    for (size_t i = 0; i < table->count; i++, at += sizeof(record_t)) {
        const lgp_site_t *s = &table->sites[i];
        record_t r = {
            .address = s->address, .size = s->size, .wrapper = s->wrapper, .target = s->target,
            .frame = s->frame, .line = s->line, .confidence = s->confidence,
            .evidence = s->evidence, .via = s->via,
            .function = name_offset(table, s->function),
            .file = name_offset(table, s->file),
            .callee = name_offset(table, s->callee),
        };
        memcpy(at, &r, sizeof r);
    }
    if (strings)
        memcpy(at, table->strings, strings);
    *size = total;
    return out;
}

/* ---- reading back: nothing is taken on trust ------------------------------- */

static bool record_valid(const record_t *r, uint64_t strings)
{
    const uint32_t names[] = { r->function, r->file, r->callee };
    for (size_t k = 0; k < 3; k++)
        if (names[k] != NO_NAME && names[k] >= strings)
            return false;
    return r->evidence <= LGP_EVIDENCE_CONFLICT && r->via <= LGP_VIA_WRAPPER
        && isfinite(r->confidence) && r->confidence >= 0.0f && r->confidence <= 1.0f
        && r->frame >= -1;
}

static const char *name_at(char *strings, uint32_t offset)
{
    return offset == NO_NAME ? NULL : strings + offset;
}

/* Where the records are read: the end of the space their sites take, that
 * space made as large as the records need, so one read brings them all and
 * decoding them in order writes each site over records already decoded,
 * never over one still to come (site i ends at or before record i + 1
 * starts, whichever of the two is larger). */
#define SLOT_SIZE (sizeof(lgp_site_t) > sizeof(record_t) ? sizeof(lgp_site_t) : sizeof(record_t))

/* The table read through `read`, straight into its one mapping: no copy
 * of the bytes is made first (each page touched is a page fault), and
 * three reads in all (header, names, records). */
lgp_table_t *lgp_table_read(lgp_table_reader_t *read, void *source, uint64_t size,
                            const lgp_build_id_t *id, uint64_t key, char *why, size_t why_size)
{
    header_t h;
    if (size < sizeof h || !read(source, &h, sizeof h, 0)) {
        lgp__copy_text(why, why_size, "too short for a table");
        return NULL;
    }
    if (memcmp(h.magic, MAGIC, sizeof h.magic) != 0 || h.version != VERSION) {
        lgp__copy_text(why, why_size, "not a table of this version");
        return NULL;
    }
    if (id->size == 0 || h.build_id_size != id->size
        || memcmp(h.build_id, id->bytes, id->size) != 0) {
        lgp__copy_text(why, why_size, "made for another build-id");
        return NULL;
    }
    if (h.key != key) {
        lgp__copy_text(why, why_size, "made with other options");
        return NULL;
    }
    if (h.count > MAX_SITES || h.strings > MAX_STRINGS
        || size != sizeof h + h.count * sizeof(record_t) + h.strings) {
        lgp__copy_text(why, why_size, "sizes do not add up");
        return NULL;
    }
    size_t slots = h.count * SLOT_SIZE;
    size_t total = sizeof(lgp_table_t) + slots + h.strings;
    void *p = mmap(NULL, total, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
    if (p == MAP_FAILED) {
        lgp__copy_text(why, why_size, "out of memory");
        return NULL;
    }
    lgp_table_t *t = p;
    t->sites = (lgp_site_t *)(t + 1);
    t->strings = (char *)t->sites + slots;
    t->mapped = total;
    t->dwarf = h.flags & FLAG_DWARF;
    t->debug_info = h.flags & FLAG_DEBUG_INFO;
    uint64_t strings_at = sizeof h + h.count * sizeof(record_t);
    if (!read(source, t->strings, h.strings, strings_at)
        || (h.strings && t->strings[h.strings - 1] != '\0')) {
        munmap(p, total);
        lgp__copy_text(why, why_size, "names unreadable or not terminated");
        return NULL;
    }
    const record_t *records = (const record_t *)(t->strings - h.count * sizeof(record_t));
    if (!read(source, (void *)records, h.count * sizeof(record_t), sizeof h)) {
        munmap(p, total);
        lgp__copy_text(why, why_size, "records unreadable");
        return NULL;
    }
    uint64_t last = 0;
    for (size_t i = 0; i < h.count; i++) {
        const record_t r = records[i];
        if (!record_valid(&r, h.strings) || r.address < last) {
            munmap(p, total);
            lgp__copy_text(why, why_size, "a site out of range or order");
            return NULL;
        }
        last = r.address;
        t->sites[i] = (lgp_site_t){
            .address = r.address, .size = r.size, .wrapper = r.wrapper, .target = r.target,
            .frame = r.frame, .line = r.line, .confidence = r.confidence,
            .evidence = r.evidence, .via = r.via,
            .function = name_at(t->strings, r.function),
            .file = name_at(t->strings, r.file),
            .callee = name_at(t->strings, r.callee),
        };
    }
    t->count = h.count;
    return t;
}

typedef struct bytes_s { const uint8_t *p; size_t size; } bytes_t;

static bool read_bytes(void *source, void *buf, size_t size, uint64_t offset)
{
    const bytes_t *b = source;
    if (offset > b->size || size > b->size - offset)
        return false;
    memcpy(buf, b->p + offset, size);
    return true;
}

lgp_table_t *lgp_table_decode(const void *bytes, size_t size, const lgp_build_id_t *id,
                              uint64_t key, char *why, size_t why_size)
{
    bytes_t b = { bytes, size };
    return lgp_table_read(read_bytes, &b, size, id, key, why, why_size);
}

void lgp_build_id_text(const lgp_build_id_t *id, char text[2 * LGP_BUILD_ID_MAX + 1])
{
    for (uint32_t i = 0; i < id->size && i < LGP_BUILD_ID_MAX; i++) {
        text[2 * i] = "0123456789abcdef"[id->bytes[i] >> 4];
        text[2 * i + 1] = "0123456789abcdef"[id->bytes[i] & 15];
    }
    text[2 * (id->size < LGP_BUILD_ID_MAX ? id->size : LGP_BUILD_ID_MAX)] = '\0';
}

/* Notes are 4-byte aligned: a header, the owner's name, the descriptor. */
static size_t note_align(size_t n)
{
    return (n + 3) & ~(size_t)3;
}

bool lgp_build_id_from_notes(const void *notes, size_t size, lgp_build_id_t *id)
{
    const uint8_t *p = notes;
    size_t at = 0;
    while (size - at >= sizeof(Elf64_Nhdr)) {
        Elf64_Nhdr n;
        memcpy(&n, p + at, sizeof n);
        size_t name = at + sizeof n;
        if (n.n_namesz > size - name || note_align(n.n_namesz) > size - name)
            return false;
        size_t desc = name + note_align(n.n_namesz);
        if (n.n_descsz > size - desc)
            return false;
        if (n.n_type == NT_GNU_BUILD_ID && n.n_namesz == 4 && memcmp(p + name, "GNU", 4) == 0) {
            if (n.n_descsz == 0 || n.n_descsz > LGP_BUILD_ID_MAX)
                return false;
            id->size = n.n_descsz;
            memset(id->bytes, 0, sizeof id->bytes);
            memcpy(id->bytes, p + desc, n.n_descsz);
            return true;
        }
        if (note_align(n.n_descsz) > size - desc)
            return false;
        at = desc + note_align(n.n_descsz);
    }
    return false;
}
