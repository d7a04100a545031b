/* lg_owns: which addresses are lgmalloc's. */
#define _GNU_SOURCE
#include <malloc.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "helpers.h"

#ifdef LG_HAVE_LIBC_ALLOCATOR
extern void *__libc_malloc(size_t size);
extern void __libc_free(void *p);
#endif

TestSuite(owns, .timeout = 30);

static int static_object;

Test(owns, every_byte_of_a_block_is_owned)
{
    static const size_t sizes[] = { 1, 16, 100, 5000, 100000, 600000, 20 * MiB };
    for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) {
        size_t n = sizes[i];
        char *p = malloc(n);
        cr_assert_not_null(p);
        cr_assert(lg_owns(p), "start of a %zu-byte block", n);
        cr_assert(lg_owns(p + n / 2), "middle of a %zu-byte block", n);
        cr_assert(lg_owns(p + n - 1), "last byte of a %zu-byte block", n);
        free(p);
    }
}

Test(owns, null_is_not_owned)
{
    cr_assert_not(lg_owns(NULL));
}

Test(owns, stack_and_static_addresses_are_not_owned)
{
    int on_stack = 0;
    cr_assert_not(lg_owns(&on_stack));
    cr_assert_not(lg_owns(&static_object));
    cr_assert_not(lg_owns("a string literal"));
    cr_assert_not(lg_owns((void *)(uintptr_t)lg_owns));
}

Test(owns, glibc_and_mmap_memory_is_not_owned)
{
#ifdef LG_HAVE_LIBC_ALLOCATOR
    void *g = __libc_malloc(64);
    cr_assert_not_null(g);
    cr_assert_not(lg_owns(g));
    __libc_free(g);
#endif
    void *m = mmap(NULL, 8 * MiB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    cr_assert_neq(m, MAP_FAILED);
    cr_assert_not(lg_owns(m));
    cr_assert_not(lg_owns((char *)m + 8 * MiB - 1));
    munmap(m, 8 * MiB);
}

Test(owns, addresses_outside_user_space_are_not_owned)
{
    cr_assert_not(lg_owns((void *)(uintptr_t)-1));
#if UINTPTR_MAX > 0xffffffffu
    cr_assert_not(lg_owns((void *)((uintptr_t)1 << 62)));
#else
    cr_assert_not(lg_owns((void *)(UINTPTR_MAX - 4095)));   /* the last page: the kernel's */
#endif
    cr_assert_not(lg_owns((void *)(uintptr_t)4096));
}
