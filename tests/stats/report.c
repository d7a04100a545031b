/* A program for tests/stats/report.sh, which runs it with LGMALLOC_STATS or
 * LGMALLOC_STATS_SIGNAL set and reads where the report went.
 *
 *   report close-stderr   allocates, and closes stderr at exit as gnulib's
 *                         close_stdout does (xz, m4, sed)
 *   report signal         allocates, sends itself SIGUSR2 while it runs,
 *                         and prints "running on" after it */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void close_stderr(void)
{
    fclose(stderr);
}

int main(int argc, char **argv)
{
    const char *what = argc > 1 ? argv[1] : "";
    void *p[100];
    for (int i = 0; i < 100; i++) {
        p[i] = malloc((size_t)(i * 37 % 2000) + 1);
        if (!p[i])
            return 2;
    }
    for (int i = 0; i < 100; i++)
        free(p[i]);
    if (strcmp(what, "close-stderr") == 0) {
        if (atexit(close_stderr) != 0)
            return 2;
        return 0;
    }
    if (strcmp(what, "signal") == 0) {
        if (raise(SIGUSR2) != 0)
            return 2;
        printf("running on\n");
        return 0;
    }
    fprintf(stderr, "report: close-stderr or signal\n");
    return 2;
}
