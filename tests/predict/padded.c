/* A program with more than 128 KiB of code: 300,000 bytes of nops in
 * .text, outside any function.  For the test of where the analysis runs
 * when nothing says (predict.c): before main for a small program, on a
 * thread for a larger one (predict/runtime/self.c).  It waits for the analysis
 * before it exits, so the report always comes. */
#include "lgmalloc_predict.h"

#include <stdlib.h>

__asm__(".text\n.fill 300000, 1, 0x90\n");

int main(void)
{
    char *volatile p = malloc(64);
    if (!p)
        return 1;
    p[0] = 1;
    free(p);
    return lgp_self_wait() ? 0 : 2;
}
