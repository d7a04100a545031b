#define _GNU_SOURCE
#include <errno.h>
#include <malloc.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "helpers.h"

TestSuite(glibc_pending, .timeout = 30);

Test(glibc_pending, mallopt_accepts_glibc_parameters_and_returns_one)
{
    static const int params[][2] = {
        { M_MXFAST, 0 },          { M_MXFAST, 64 },         { M_TRIM_THRESHOLD, 128 * 1024 },
        { M_TOP_PAD, 0 },         { M_MMAP_THRESHOLD, 1 << 20 }, { M_MMAP_MAX, 65536 },
        { M_ARENA_TEST, 8 },      { M_ARENA_MAX, 2 },       { M_PERTURB, 0 },
        { M_CHECK_ACTION, 3 },
    };
    for (size_t i = 0; i < sizeof params / sizeof *params; i++)
        cr_assert_eq(mallopt(params[i][0], params[i][1]), 1, "mallopt(%d, %d)", params[i][0],
                     params[i][1]);
    void *p = malloc(opaque(100));
    cr_assert_not_null(p);
    free(p);
}

Test(glibc_pending, posix_memalign_out_of_memory_sets_errno_to_enomem)
{
    static const size_t cases[][2] = {
        { 64, (size_t)PTRDIFF_MAX + 1 }, { 4096, SIZE_MAX }, { 4096, SIZE_MAX - 4095 },
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        void *sentinel = (void *)&sentinel;
        void *p = sentinel;
        errno = 0;
        int rc = posix_memalign(&p, opaque(cases[i][0]), opaque(cases[i][1]));
        cr_assert_eq(rc, ENOMEM, "posix_memalign(%zu, %zu) returned %d", cases[i][0], cases[i][1], rc);
        cr_assert_eq(errno, ENOMEM, "posix_memalign(%zu, %zu) left errno %d", cases[i][0],
                     cases[i][1], errno);
        cr_assert_eq(p, sentinel);
    }
}

Test(glibc_pending, posix_memalign_with_a_bad_alignment_still_leaves_errno_alone)
{
    errno = 12345;
    void *p = NULL;
    cr_assert_eq(posix_memalign(&p, opaque(24), opaque(64)), EINVAL);
    cr_assert_eq(errno, 12345);
}

Test(glibc_pending, mallinfo2_allocated_bytes_fall_when_blocks_are_freed)
{
    enum { N = 2000, SIZE = 16000 };
    static void *b[N];
    struct mallinfo2 before = mallinfo2();
    for (int i = 0; i < N; i++) {
        b[i] = malloc(opaque(SIZE));
        memset(b[i], 1, SIZE);
    }
    for (int i = 0; i < N; i++)
        free(b[i]);
    struct mallinfo2 after = mallinfo2();
    cr_assert_leq(after.uordblks, before.uordblks + MiB,
                  "uordblks %zu before, %zu after %d blocks of %d bytes were allocated and freed",
                  before.uordblks, after.uordblks, N, SIZE);
}
