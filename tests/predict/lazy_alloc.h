/* A zero test whose zero side is the allocation itself: `return have ?
 * have : malloc(24)`, with the 24 written to the tested register (as a
 * compiler may reuse it), in assembly so that the shape holds at every
 * optimisation level.  Unlike a guard's zero side (zmalloc_like.h), this
 * path is the only one to the call: its constant is the size. */
#ifndef LGFX_LAZY_ALLOC_H
#define LGFX_LAZY_ALLOC_H

void *lgfx_lazy_alloc(void *have);

__asm__(".text\n.globl lgfx_lazy_alloc\n.type lgfx_lazy_alloc, @function\n"
        "lgfx_lazy_alloc:\n\t.cfi_startproc\n"
        "\ttestq %rdi, %rdi\n\tjne 1f\n"
        "\tsubq $8, %rsp\n\t.cfi_def_cfa_offset 16\n"
        "\tmovl $24, %edi\n\tcall malloc\n"
        "\taddq $8, %rsp\n\t.cfi_def_cfa_offset 8\n\tret\n"
        "1:\n\tmovq %rdi, %rax\n\tret\n"
        "\t.cfi_endproc\n.size lgfx_lazy_alloc, .-lgfx_lazy_alloc\n");

#endif
