/* What pulls lgmalloc into an executable, and only into an executable.
 *
 * The link flags (lgmalloc.pc) wrap __libc_start_main: crt1.o, which only
 * an executable's link has, then calls __wrap___libc_start_main, and the
 * linker takes this object from its archive to define it.  Its references
 * below pull in the rest: malloc & co. defined in the program
 * (liblgmalloc-program.a) and, built with LG_START_PREDICT, the analysis.
 * A shared object linked with the same flags has no crt1.o, so none of
 * this (built without -fPIC, for one %fs: load per heap access) reaches
 * it: its calls go to the __wrap_* forwarders of entry.c and from there to
 * the malloc the process has, the executable's. */
#include <stddef.h>

#include "alloc_functions.h"
#ifdef LG_START_PREDICT
#include "../predict/lgmalloc_predict.h"   /* lgp_self_table: in the constructor's object */
#endif

typedef int (*lg_main_t)(int, char **, char **);

extern int __real___libc_start_main(lg_main_t main, int argc, char **argv,
                                    void (*init)(void), void (*fini)(void),
                                    void (*rtld_fini)(void), void *stack_end);

__attribute__((visibility("default")))
int __wrap___libc_start_main(lg_main_t main, int argc, char **argv,
                             void (*init)(void), void (*fini)(void),
                             void (*rtld_fini)(void), void *stack_end)
{
    return __real___libc_start_main(main, argc, argv, init, fini, rtld_fini, stack_end);
}

/* With --wrap=malloc, __real_malloc is the program's own malloc: the
 * definition in liblgmalloc-program.a.  The __wrap_* forwarders are pulled
 * from here too, not only by the program's calls: so the flags also work
 * placed before the program's objects (Redis' REDIS_LDFLAGS), where the
 * linker has searched every archive before it sees those calls. */
extern void *__real_malloc(size_t size);
#define PULLED(ret, name, ...) extern char __wrap_##name[];
#define PULLED_FREE(name, ...) extern char __wrap_##name[];
LG_WRAPPED_FUNCTIONS(PULLED, PULLED_FREE)

#define PULL(ret, name, ...) __wrap_##name,
#define PULL_FREE(name, ...) __wrap_##name,
__attribute__((used)) static const void *const lg__start_pulls[] = {
    (const void *)__real_malloc,
    LG_WRAPPED_FUNCTIONS(PULL, PULL_FREE)
#ifdef LG_START_PREDICT
    (const void *)lgp_self_table,
#endif
};
