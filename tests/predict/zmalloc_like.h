/* Wrappers shaped like Redis' zmalloc as GCC -O2 compiles it (written
 * in assembly, so the tests see that shape at every optimisation level):
 * a size check whose failure calls a handler through a pointer and returns
 * NULL, MALLOC_MIN_SIZE(n) (n ? n : 8, a test and a cmov), the allocation,
 * and a counter of the memory used.  lgfx_zmalloc counts the block's
 * usable size; lgfx_zmalloc_header allocates 16 bytes more, stores the size
 * there and returns the block past it.  lgfx_zmalloc_jnz and
 * lgfx_zmalloc_jz are lgfx_zmalloc with the zero guard compiled as a
 * branch: `if (n == 0) n = 8;` falling through a jnz (on the tested
 * register), or taken out of line by a jz (on the copy the function keeps
 * of it, as clang -O2 compiles it).  Each keeps its return address in lgfx_wrap_ra, for the
 * fixture's records.
 *
 * Included once per program: it defines the counter and the handler. */
#ifndef LGFX_ZMALLOC_LIKE_H
#define LGFX_ZMALLOC_LIKE_H

#include <stddef.h>

extern void *volatile lgfx_wrap_ra;

size_t lgfx_used_memory;
static void lgfx_zmalloc_oom(size_t n) { (void)n; }
void (*lgfx_oom_handler)(size_t) = lgfx_zmalloc_oom;

void *lgfx_zmalloc(size_t n);
void *lgfx_zmalloc_header(size_t n);
void *lgfx_zmalloc_jnz(size_t n);
void *lgfx_zmalloc_jz(size_t n);

#define LGFX_GUARD_CMOV "\ttestq %rdi, %rdi\n\tmovl $8, %edi\n\tcmovneq %rbx, %rdi\n"
#define LGFX_GUARD_JNZ  "\ttestq %rdi, %rdi\n\tjne 3f\n\tmovl $8, %edi\n3:\n"
#define LGFX_GUARD_JZ   "\ttestq %rdi, %rdi\n\tje 4f\n3:\n\tmovq %rbx, %rdi\n"
#define LGFX_ZERO_JZ    "4:\n\tmovl $8, %ebx\n\tjmp 3b\n"
#define LGFX_COUNT_USABLE \
    "\tmovq %rax, %rdi\n\tcall malloc_usable_size\n\tlock addq %rax, lgfx_used_memory(%rip)\n"

#define LGFX_ZMALLOC_ASM(name, guard, adjust, after, cold)                         \
    ".text\n.globl " name "\n.type " name ", @function\n" name ":\n"            \
    "\t.cfi_startproc\n"                                                         \
    "\tmovq (%rsp), %rax\n\tmovq %rax, lgfx_wrap_ra(%rip)\n"                     \
    "\tmovabsq $0x7ffffffffffffffe, %rax\n"                                      \
    "\tpushq %rbp\n\t.cfi_def_cfa_offset 16\n\t.cfi_offset %rbp, -16\n"          \
    "\tpushq %rbx\n\t.cfi_def_cfa_offset 24\n\t.cfi_offset %rbx, -24\n"          \
    "\tmovq %rdi, %rbx\n"                                                        \
    "\tsubq $8, %rsp\n\t.cfi_def_cfa_offset 32\n"                                \
    "\tcmpq %rdi, %rax\n\tjb 1f\n"                                               \
    guard                                                                        \
    adjust                                                                       \
    "\tcall malloc\n"                                                            \
    "\tmovq %rax, %rbp\n\ttestq %rax, %rax\n\tje 1f\n"                           \
    after                                                                        \
    "2:\n\t.cfi_remember_state\n"                                                \
    "\taddq $8, %rsp\n\t.cfi_def_cfa_offset 24\n"                                \
    "\tmovq %rbp, %rax\n"                                                        \
    "\tpopq %rbx\n\t.cfi_def_cfa_offset 16\n"                                    \
    "\tpopq %rbp\n\t.cfi_def_cfa_offset 8\n"                                     \
    "\tret\n"                                                                    \
    "\t.cfi_restore_state\n"                                                     \
    "1:\n\tmovq %rbx, %rdi\n\txorl %ebp, %ebp\n"                                 \
    "\tcall *lgfx_oom_handler(%rip)\n\tjmp 2b\n"                                 \
    cold                                                                         \
    "\t.cfi_endproc\n.size " name ", .-" name "\n"

__asm__(LGFX_ZMALLOC_ASM("lgfx_zmalloc", LGFX_GUARD_CMOV, "", LGFX_COUNT_USABLE, "")
        LGFX_ZMALLOC_ASM("lgfx_zmalloc_header", LGFX_GUARD_CMOV, "\tleaq 16(%rdi), %rdi\n",
                         "\tmovq %rbx, (%rbp)\n\taddq $16, %rbp\n"
                         "\tlock addq %rbx, lgfx_used_memory(%rip)\n", "")
        LGFX_ZMALLOC_ASM("lgfx_zmalloc_jnz", LGFX_GUARD_JNZ, "", LGFX_COUNT_USABLE, "")
        LGFX_ZMALLOC_ASM("lgfx_zmalloc_jz", LGFX_GUARD_JZ, "", LGFX_COUNT_USABLE, LGFX_ZERO_JZ));

#endif
