/* The table lgmalloc-scan --embed put in the program: a note in a section
 * that is not loaded (LGP_NOTE_SECTION), read from the file with a few
 * pread calls, so that none of the file's pages is mapped into the
 * process (a mapping would bring 16 pages around each one read). */
#include "runtime.h"

#include <elf.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#define SELF_PATH      "/proc/self/exe"
#define HEADERS_AT_ONCE 16

static bool read_at(int fd, void *buf, size_t size, uint64_t offset)
{
    uint8_t *p = buf;
    while (size) {
        ssize_t n = pread(fd, p, size, (off_t)offset);
        if (n <= 0)
            return false;
        p += n, size -= (size_t)n, offset += (uint64_t)n;
    }
    return true;
}

bool lgp__read_file_part(void *part, void *buf, size_t size, uint64_t offset)
{
    const lgp_file_part_t *f = part;
    return read_at(f->fd, buf, size, f->offset + offset);
}

/* The descriptor of the lgmalloc note in section sh, or 0 (its offset in
 * *at). */
static uint64_t table_note(int fd, const Elf64_Shdr *sh, uint64_t *at)
{
    struct { Elf64_Nhdr n; char name[12]; } note;
    if (sh->sh_type != SHT_NOTE || (sh->sh_flags & SHF_ALLOC) || sh->sh_size < sizeof note
        || !read_at(fd, &note, sizeof note, sh->sh_offset))
        return 0;
    if (note.n.n_type != LGP_NOTE_TYPE || note.n.n_namesz != sizeof LGP_NOTE_OWNER
        || memcmp(note.name, LGP_NOTE_OWNER, sizeof LGP_NOTE_OWNER) != 0
        || note.n.n_descsz > sh->sh_size - sizeof note)
        return 0;
    *at = sh->sh_offset + sizeof note;
    return note.n.n_descsz;
}

lgp_table_t *lgp__embedded_table(const lgp_build_id_t *id, char *why, size_t why_size)
{
    lgp__copy_text(why, why_size, "no embedded table");
    int fd = open(SELF_PATH, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return NULL;
    Elf64_Ehdr eh;
    lgp_table_t *table = NULL;
    if (read_at(fd, &eh, sizeof eh, 0) && memcmp(eh.e_ident, ELFMAG, SELFMAG) == 0
        && eh.e_ident[EI_CLASS] == ELFCLASS64 && eh.e_shentsize == sizeof(Elf64_Shdr)) {
        /* from the last headers back: --embed appends the note's section */
        Elf64_Shdr sh[HEADERS_AT_ONCE];
        for (unsigned end = eh.e_shnum; end > 0 && !table;) {
            unsigned n = end < HEADERS_AT_ONCE ? end : HEADERS_AT_ONCE;
            end -= n;
            if (!read_at(fd, sh, n * sizeof *sh, eh.e_shoff + (uint64_t)end * sizeof *sh))
                break;
            for (unsigned k = n; k-- > 0;) {
                uint64_t at, size = table_note(fd, &sh[k], &at);
                if (size) {
                    lgp_file_part_t part = { fd, at };
                    table = lgp_table_read(lgp__read_file_part, &part, size, id, 0, why, why_size);
                    break;
                }
            }
        }
    }
    close(fd);
    return table;
}
