/* Runs a piece of misuse in a forked child and reports how the child
 * ended and what it wrote to stderr, so a test can check that lgmalloc
 * stopped it with the right message. */
#ifndef LG_TEST_FATAL_H
#define LG_TEST_FATAL_H

#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "helpers.h"

typedef struct fatal_s {
    int signal;          /* the signal that ended the child, 0 if it exited */
    int exit_code;       /* its exit status if it exited */
    char message[1024];  /* its stderr */
} fatal_t;

static inline fatal_t run_fatal(void (*misuse)(void))
{
    int fds[2];
    cr_assert_eq(pipe(fds), 0);
    pid_t pid = fork();
    cr_assert_neq(pid, -1);
    if (pid == 0) {
        dup2(fds[1], STDERR_FILENO);
        signal(SIGABRT, SIG_DFL);
        misuse();
        _exit(0);
    }
    close(fds[1]);
    fatal_t f = { 0 };
    size_t n = 0;
    ssize_t r;
    while (n < sizeof f.message - 1 && (r = read(fds[0], f.message + n, sizeof f.message - 1 - n)) > 0)
        n += (size_t)r;
    close(fds[0]);
    int status;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    f.signal = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
    f.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 0;
    return f;
}

/* The child died of SIGABRT after printing a message containing `what`. */
#define assert_stopped(f, what)                                                        \
    do {                                                                               \
        cr_assert_eq((f).signal, SIGABRT, "expected an abort, got signal %d; stderr: %s", \
                     (f).signal, (f).message);                                         \
        cr_assert(strstr((f).message, "lgmalloc: ") && strstr((f).message, what),     \
                  "message %s lacks \"%s\"", (f).message, what);                       \
    } while (0)

#endif /* LG_TEST_FATAL_H */
