/* Whether the C library's allocator serves every call (handover.h), and
 * its functions.
 *
 * Handed over: with LGMALLOC_VALGRIND=1; or, unset, when the program runs
 * under a valgrind tool that replaces malloc.  valgrind preloads
 * vgpreload_core-ARCH.so into every program, and vgpreload_TOOL-ARCH.so
 * for a tool that replaces malloc (memcheck, helgrind, drd, massif, dhat):
 * the second in LD_PRELOAD is the sign.  callgrind and cachegrind replace
 * nothing, so under them lgmalloc serves (what bench/ measures).
 * LGMALLOC_VALGRIND=0: lgmalloc serves whatever the tool (with lgmalloc
 * built -Dvalgrind=true, memcheck then checks lgmalloc's blocks).
 *
 * The functions are found with dlsym(RTLD_NEXT): the first definition
 * after the program's own, the C library's (in the default link mode the
 * program defines malloc itself; glibc's __libc_malloc & co. are not the
 * ones valgrind replaces).  A fully static program has no dlsym (the weak
 * reference stays NULL, and valgrind cannot preload into it either): there
 * lgmalloc always serves. */
#include <dlfcn.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "handover.h"
#include "../lib/fast.h"

extern void *dlsym(void *handle, const char *name) __attribute__((weak));

int lg__handover_state; /* LG_HANDOVER_* */
lg_real_t lg__real;

enum { NOT_WANTED, WANTED, ASKED };

static int wanted(void)
{
    const char *env = getenv("LGMALLOC_VALGRIND");
    if (env && strcmp(env, "0") == 0)
        return NOT_WANTED;
    if (env && strcmp(env, "1") == 0)
        return ASKED;
    const char *s = getenv("LD_PRELOAD");
    while (s && (s = strstr(s, "vgpreload_")) != NULL) {
        s += strlen("vgpreload_");
        if (strncmp(s, "core-", 5) != 0)
            return WANTED;
    }
    return NOT_WANTED;
}

#define FIND(field, name) (lg__real.field = (__typeof__(lg__real.field))dlsym(RTLD_NEXT, name))

/* All of the C functions, or no handing over; the C++ operators where the
 * program has libstdc++ (new.cc falls back on malloc and free). */
static bool find_all(void)
{
    if (!dlsym)
        return false;
    bool all = FIND(malloc, "malloc") && FIND(free, "free") && FIND(calloc, "calloc")
            && FIND(realloc, "realloc") && FIND(memalign, "memalign")
            && FIND(aligned_alloc, "aligned_alloc") && FIND(posix_memalign, "posix_memalign")
            && FIND(valloc, "valloc") && FIND(pvalloc, "pvalloc")
            && FIND(malloc_usable_size, "malloc_usable_size");
    FIND(new_one, "_Znwm");
    FIND(new_array, "_Znam");
    FIND(delete_one, "_ZdlPv");
    FIND(delete_array, "_ZdaPv");
    FIND(new_one_aligned, "_ZnwmSt11align_val_t");
    FIND(new_array_aligned, "_ZnamSt11align_val_t");
    FIND(delete_one_aligned, "_ZdlPvSt11align_val_t");
    FIND(delete_array_aligned, "_ZdaPvSt11align_val_t");
    return all;
}

/* A call that dlsym might make back into malloc finds `deciding` set and
 * is lgmalloc's (glibc's dlsym allocates nothing when it finds the name). */
static lg_tls bool deciding;
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void decide(void)
{
    deciding = true;
    int state = LG_HANDOVER_NO;
    int want = wanted();
    if (want != NOT_WANTED) {
        if (find_all()) {
            state = LG_HANDOVER_YES;
        } else if (want == ASKED) {
            static const char msg[] = "lgmalloc: LGMALLOC_VALGRIND: no C library allocator to hand "
                                      "the calls to (a static program): lgmalloc serves them\n";
            ssize_t r = write(STDERR_FILENO, msg, sizeof msg - 1);
            (void)r;
        }
    }
    deciding = false;
    __atomic_store_n(&lg__handover_state, state, __ATOMIC_RELEASE);
}

int lg__handover_decide(void)
{
    if (deciding)
        return 0;
    pthread_once(&once, decide);
    return __atomic_load_n(&lg__handover_state, __ATOMIC_ACQUIRE) == LG_HANDOVER_YES;
}

void *lg__shim_malloc_miss(size_t size)
{
    if (lg_unlikely(lg__handover()))
        return lg__real.malloc(size);
    return lg__malloc_generic(size);
}
