#!/usr/bin/env python3
"""Writes the prediction fixture: a few hundred allocation call sites, each
in a function of its own, whose true sizes the tests learn by running them
(tests/predict/record.c).  Usage: gen_fixture.py OUTPUT.c"""
import sys

SIZES = [1, 2, 3, 7, 8, 12, 16, 17, 24, 31, 32, 40, 48, 56, 63, 64, 72, 80, 96,
         100, 112, 127, 128, 160, 192, 200, 255, 256, 300, 320, 384, 448, 500,
         512, 640, 768, 1000, 1024, 1500, 2048, 3000, 4096, 5000, 8192, 10000,
         16384, 20000, 32768, 65536, 100000, 131072, 262144, 1048576]
ALIGNS = [16, 32, 64, 128, 4096]

out = []
sites = []   # (kind, body)


def site(kind, body):
    sites.append((kind, body))


def structs():
    types = ['char', 'short', 'int', 'long', 'double', 'void *', 'char[3]', 'int[5]']
    for i in range(32):
        fields = []
        for j in range(1 + i % 7):
            t = types[(i * 3 + j) % len(types)]
            if '[' in t:
                base, n = t[:-1].split('[')
                fields.append(f'{base} f{j}[{n}];')
            else:
                fields.append(f'{t} f{j};')
        if i % 4 == 0:
            fields.append(f'char tail[{i + 1}];')
        out.append(f'struct lgfx_s{i} {{ {" ".join(fields)} }};')


def constant_sites():
    for n in SIZES:
        site('c', f'lgfx_keep(malloc({n}));')
    site('c', 'lgfx_keep(lgfx_lazy_alloc(NULL));')   # lazy_alloc.h
    for i in range(32):
        site('c', f'lgfx_keep(malloc(sizeof(struct lgfx_s{i})));')
    for i in range(24):
        count = [1, 2, 3, 4, 5, 8, 10, 16, 100, 1000][i % 10]
        site('c', f'lgfx_keep(calloc({count}, sizeof(struct lgfx_s{(i * 5) % 32})));')
    for i, n in enumerate(SIZES[:24]):
        site('c', f'void *q = lgfx_block(); lgfx_site = ID; lgfx_keep(realloc(q, {n + i}));')
    for i in range(12):
        site('c', f'void *q = lgfx_block(); lgfx_site = ID; '
                  f'lgfx_keep(reallocarray(q, {i + 2}, sizeof(struct lgfx_s{i})));')
    for i, a in enumerate(ALIGNS * 3):
        site('c', f'lgfx_keep(aligned_alloc({a}, {a * (i + 1)}));')
    for i, a in enumerate(ALIGNS * 2):
        site('c', f'void *q; if (posix_memalign(&q, {a}, {a * (i + 3)}) == 0) lgfx_keep(q);')
    for i, a in enumerate(ALIGNS * 2):
        site('c', f'lgfx_keep(memalign({a}, {a * (i + 2)}));')
    for n in [1, 4096, 10000, 65536]:
        site('c', f'lgfx_keep(valloc({n}));')
    site('c', 'lgfx_keep(malloc(1ull << 44));')   # movabs; fails at once, touching nothing
    # One-line constant allocators: tail calls at -O2.
    for i, n in enumerate(SIZES[:20]):
        out.append(f'__attribute__((noinline)) static void *lgfx_make{i}(void) '
                   f'{{ return malloc({n * 3}); }}')
        site('c', f'lgfx_keep(lgfx_make{i}());')
    # A pass-through forwarder: a tail call at -O2, so each caller's
    # constant is the size; at -O0 its own site sees them all.
    out.append('__attribute__((noinline)) void *lgfx_forward(size_t n) { return malloc(n); }')
    for n in SIZES[:24]:
        site('c', f'lgfx_keep(lgfx_forward({n + 5}));')


def wrapper_sites():
    out.append('__attribute__((noinline)) void *lgfx_xmalloc(size_t n)\n{\n'
               '    lgfx_wrap_ra = __builtin_return_address(0);\n'
               '    void *p = malloc(n);\n    if (!p)\n        abort();\n    return p;\n}')
    out.append('__attribute__((noinline)) void *lgfx_xcalloc(size_t n, size_t m)\n{\n'
               '    lgfx_wrap_ra = __builtin_return_address(0);\n'
               '    void *p = calloc(n, m);\n    if (!p)\n        abort();\n    return p;\n}')
    # Not a pass-through (the size changes on the way): named by the user.
    out.append('__attribute__((noinline)) void *lgfx_pool_alloc(size_t n)\n{\n'
               '    lgfx_wrap_ra = __builtin_return_address(0);\n'
               '    return malloc(n ? n : 1);\n}')
    for n in SIZES[:30]:
        site('w', f'lgfx_keep(lgfx_xmalloc({n + 1}));')
    for i in range(12):
        site('w', f'lgfx_keep(lgfx_xcalloc({i + 1}, sizeof(struct lgfx_s{i})));')
    # Named with its size argument: lgfx_arena_alloc:2.
    out.append('__attribute__((noinline)) void *lgfx_arena_alloc(void *arena, size_t n)\n{\n'
               '    lgfx_wrap_ra = __builtin_return_address(0);\n'
               '    return arena ? NULL : malloc(n | 1);\n}')
    for n in SIZES[:12]:
        site('n', f'lgfx_keep(lgfx_pool_alloc({n + 2}));')
    changing_wrappers()


def changing_wrappers():
    """Functions that look like wrappers and are not, or change the size
    (issue 21): the first allocation after the site starts is its true
    size, which is what the table must not contradict."""
    wrap = '    lgfx_wrap_ra = __builtin_return_address(0);\n'
    # Several allocations; the argument is only the last one's size, and
    # the function returns the first (sed's allocmust).
    out.append('struct lgfx_multi { void *a, *b; char *buf; };')
    out.append('__attribute__((noinline)) struct lgfx_multi *lgfx_multi_new(size_t n)\n{\n'
               + wrap +
               '    struct lgfx_multi *m = malloc(sizeof *m);\n    if (!m)\n        return NULL;\n'
               '    m->a = malloc(8);\n    m->b = malloc(16);\n    m->buf = malloc(n);\n'
               '    return m;\n}')
    out.append('static void lgfx_multi_free(struct lgfx_multi *m)\n{\n    if (m) {\n'
               '        lgfx_keep(m->a);\n        lgfx_keep(m->b);\n        lgfx_keep(m->buf);\n'
               '    }\n    lgfx_keep(m);\n}')
    # A status, not a pointer: the first request computed, the second the
    # argument (xz's lzma_simple_coder_init).
    out.append('__attribute__((noinline)) int lgfx_coder_init(void **out, size_t extra, '
               'size_t n)\n{\n' + wrap +
               '    char *c = malloc(64 + 2 * extra);\n    if (!c)\n        return 1;\n'
               '    void *s = malloc(n);\n    if (!s) {\n        lgfx_keep(c);\n'
               '        return 1;\n    }\n    out[0] = c;\n    out[1] = s;\n    return 0;\n}')
    # A 24-byte header and a buffer of the argument's size, with and
    # without abort() on failure.
    out.append('struct lgfx_node { size_t cap, used; char *buf; };')
    for name, fail in (('lgfx_node_new', '{\n        lgfx_keep(n);\n        return NULL;\n    }'),
                       ('lgfx_node_new_abort', '\n        abort();')):
        first_fail = 'return NULL;' if 'abort' not in fail else 'abort();'
        out.append(f'__attribute__((noinline)) struct lgfx_node *{name}(size_t cap)\n{{\n'
                   + wrap +
                   f'    struct lgfx_node *n = malloc(sizeof *n);\n    if (!n)\n        {first_fail}\n'
                   '    n->cap = cap;\n    n->used = 0;\n    n->buf = malloc(cap);\n'
                   f'    if (!n->buf){fail}\n    return n;\n}}')
    out.append('static void lgfx_node_free(struct lgfx_node *n)\n{\n    if (n)\n'
               '        lgfx_keep(n->buf);\n    lgfx_keep(n);\n}')
    # Rounds the size up to 8 (sqlite's ROUND8): not followed.
    out.append('__attribute__((noinline)) void *lgfx_round_alloc(size_t n)\n{\n' + wrap +
               '    return malloc((n + 7) & ~(size_t)7);\n}')
    for i, n in enumerate(SIZES[:8]):
        site('m', f'lgfx_multi_free(lgfx_multi_new({n + 3}));')
        site('m', f'void *q[2]; if (lgfx_coder_init(q, {i + 5}, {n + 1}) == 0) '
                  f'{{ lgfx_keep(q[0]); lgfx_keep(q[1]); }}')
        site('m', f'lgfx_node_free(lgfx_node_new({2100 + n}));')
        site('m', f'lgfx_node_free(lgfx_node_new_abort({2100 + n}));')
        site('m', f'lgfx_keep(lgfx_round_alloc({8 * n + 1 + i % 7}));')
    # Wrappers that are wrappers: a constant added (a header before the
    # block), and the same allocation with and without abort() on its
    # failure paths, whose call sites must get the same confidence.
    out.append('volatile int lgfx_count;')
    out.append('__attribute__((noinline)) void *lgfx_header_alloc(size_t n)\n{\n' + wrap +
               '    char *p = malloc(n + 16);\n    if (!p)\n        return NULL;\n'
               '    lgfx_count++;\n    return p + 16;\n}')
    out.append('static void lgfx_header_free(void *p)\n{\n'
               '    lgfx_keep(p ? (char *)p - 16 : NULL);\n}')
    out.append('__attribute__((noinline)) void *lgfx_plus_alloc(size_t n)\n{\n' + wrap +
               '    void *p = malloc(n + 16);\n    lgfx_count++;\n    return p;\n}')
    out.append('__attribute__((noinline)) void *lgfx_guard_plain(size_t n)\n{\n' + wrap +
               '    void *p = malloc(n);\n    lgfx_count++;\n    return p;\n}')
    out.append('__attribute__((noinline)) void *lgfx_guard_abort(size_t n)\n{\n' + wrap +
               '    if (n > ((size_t)1 << 40))\n        abort();\n    void *p = malloc(n);\n'
               '    if (!p)\n        abort();\n    lgfx_count++;\n    return p;\n}')
    for n in SIZES[:10]:
        site('w', f'lgfx_header_free(lgfx_header_alloc({n + 2}));')
        site('w', f'lgfx_keep(lgfx_plus_alloc({n + 4}));')
        site('w', f'lgfx_keep(lgfx_guard_plain({n + 6}));')
        site('w', f'lgfx_keep(lgfx_guard_abort({n + 6}));')
    for n in SIZES[:12]:
        site('n', f'lgfx_keep(lgfx_arena_alloc(NULL, {2 * n + 1}));')
    # Redis' zmalloc, with and without a header, and with its zero guard
    # compiled as a branch (zmalloc_like.h): found as wrappers, not named.
    out.append('static void lgfx_zfree_header(void *p)\n{\n'
               '    lgfx_keep(p ? (char *)p - 16 : NULL);\n}')
    for n in SIZES[:10]:
        site('w', f'lgfx_keep(lgfx_zmalloc({n + 8}));')
        site('w', f'lgfx_zfree_header(lgfx_zmalloc_header({n + 9}));')
        site('w', f'lgfx_keep(lgfx_zmalloc_jnz({n + 10}));')
        site('w', f'lgfx_keep(lgfx_zmalloc_jz({n + 11}));')
    named_unchecked()


def named_unchecked():
    """Functions the user names whose allocation the run-time check cannot
    find on the stack above a wrapper (issue 21)."""
    wrap = '    lgfx_wrap_ra = __builtin_return_address(0);\n'
    # Allocates through a pointer and rounds the size up to 8 (sqlite's
    # sqlite3Malloc, calling sqlite3GlobalConfig.m.xMalloc, whose
    # sqlite3MemMalloc adds an 8-byte header): nothing to check it by.
    out.append('__attribute__((noinline)) static void *lgfx_mem_malloc(size_t n)\n{\n'
               '    size_t *p = malloc(n + 8);\n    if (!p)\n        return NULL;\n'
               '    p[0] = n;\n    return p + 1;\n}')
    out.append('void *(*volatile lgfx_mem_hook)(size_t) = lgfx_mem_malloc;')
    out.append('__attribute__((noinline)) void *lgfx_ptr_alloc(size_t n)\n{\n' + wrap +
               '    return lgfx_mem_hook((n + 7) & ~(size_t)7);\n}')
    out.append('static void lgfx_mem_free(void *p)\n{\n'
               '    lgfx_keep(p ? (size_t *)p - 1 : NULL);\n}')
    for n in SIZES[:8]:
        site('u', f'lgfx_mem_free(lgfx_ptr_alloc({n + 2}));')
    # Tail-calls malloc with its argument plus 24: a tail call at -O2, and
    # always in assembly.  The allocator sees the caller's return address.
    out.append('__attribute__((noinline)) void *lgfx_tail_named(size_t n)\n{\n' + wrap +
               '    return malloc(n + 24);\n}')
    out.append('void *lgfx_tail_asm(size_t n);')
    out.append('__asm__(".text\\n.globl lgfx_tail_asm\\n.type lgfx_tail_asm, @function\\n"\n'
               '        "lgfx_tail_asm:\\n\\t.cfi_startproc\\n\\tmovq (%rsp), %rax\\n"\n'
               '        "\\tmovq %rax, lgfx_wrap_ra(%rip)\\n\\tleaq 24(%rdi), %rdi\\n"\n'
               '        "\\tjmp malloc\\n\\t.cfi_endproc\\n.size lgfx_tail_asm, .-lgfx_tail_asm\\n");')
    for n in SIZES[:8]:
        site('n', f'lgfx_keep(lgfx_tail_named({n + 3}));')
        site('n', f'lgfx_keep(lgfx_tail_asm({n + 5}));')


def varying_sites():
    for i in range(24):
        site('r', f'lgfx_keep(malloc(lgfx_rt * {i + 1}));')
    for i in range(12):
        site('r', f'lgfx_keep(calloc(lgfx_rt, {8 * (i + 1)}));')
    for i in range(8):
        site('r', f'void *q = lgfx_block(); lgfx_site = ID; lgfx_keep(realloc(q, lgfx_rt + {i}));')
    for i in range(24):
        a, b = SIZES[i], SIZES[i + 7]
        site('b', f'lgfx_keep(malloc(lgfx_flip ? {a} : {b}));')
    for i in range(12):
        a, b, c = SIZES[i], SIZES[i + 3], SIZES[i + 9]
        site('b', f'size_t n; switch (lgfx_flip) {{ case 0: n = {a}; break; '
                  f'case 1: n = {b}; break; default: n = {c}; }} lgfx_keep(malloc(n));')
    for i in range(8):
        site('b', f'size_t n = {SIZES[i]}; if (lgfx_flip) n += {SIZES[i + 2]}; '
                  f'lgfx_keep(calloc(2, n));')


def main():
    structs()
    constant_sites()
    wrapper_sites()
    varying_sites()
    lines = ['/* Generated by gen_fixture.py: do not edit. */',
             '#include "fixture.h"', '#include "zmalloc_like.h"', '#include "lazy_alloc.h"', '#include <malloc.h>', '#include <stdlib.h>', '']
    lines += out
    lines.append('')
    for i, (kind, body) in enumerate(sites):
        # A body that allocates before its site sets lgfx_site itself.
        start = '' if 'ID' in body else f'lgfx_site = {i};\n    '
        body = body.replace('ID', str(i))
        lines.append(f'__attribute__((noinline)) static void lgfx_site{i}(void)\n'
                     f'{{\n    {start}{body}\n}}')
    lines.append('')
    lines.append('lgfx_site_fn *const lgfx_sites[] = {')
    lines += [f'    lgfx_site{i},' for i in range(len(sites))]
    lines.append('};')
    lines.append('const char lgfx_kinds[] = "' + ''.join(k for k, _ in sites) + '";')
    lines.append(f'const int lgfx_site_count = {len(sites)};')
    with open(sys.argv[1], 'w') as f:
        f.write('\n'.join(lines) + '\n')


main()
