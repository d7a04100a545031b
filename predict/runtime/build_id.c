/* The running program's build-id, read from its loaded notes (PT_NOTE):
 * the code that runs, not whatever file is at /proc/self/exe now. */
#include "runtime.h"

#include <link.h>

static int first_object(struct dl_phdr_info *info, size_t size, void *arg)
{
    (void)size;
    lgp_build_id_t *id = arg;
    for (unsigned i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type == PT_NOTE
            && lgp_build_id_from_notes((const void *)(info->dlpi_addr + ph->p_vaddr),
                                       ph->p_memsz, id))
            break;
    }
    return 1;   /* the first object is the program */
}

bool lgp__self_build_id(lgp_build_id_t *id)
{
    id->size = 0;
    lgp__objects_iterate(first_object, id);
    return id->size != 0;
}
