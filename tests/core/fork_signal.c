/* fork() from a signal handler: a program that forks from a timer's signal
 * handler while its main loop allocates in every size range and forks too.
 * glibc makes fork async-signal-safe in a single-threaded process, so the
 * handler's fork runs the allocator's fork handlers while the interrupted
 * code may be inside them, or inside malloc, holding a lock.
 *
 * Not a Criterion test: Criterion's worker has threads of its own, and in
 * a process that ever had a second thread glibc's fork is no longer
 * async-signal-safe.  A plain program, linked in each link mode; it exits
 * 0 when both loops forked many times, and names what failed otherwise. */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../emulation.h"
#include "lgmalloc.h"

#define MIB ((size_t)1 << 20)

static volatile sig_atomic_t handler_forks;

static void fork_in_handler(int sig)
{
    (void)sig;
    int saved = errno;
    pid_t pid = fork();
    if (pid == 0)
        _exit(0);
    if (pid > 0) {
        waitpid(pid, NULL, 0);
        handler_forks++;
    }
    errno = saved;
}

static void start_timer(long usec)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = fork_in_handler;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGALRM, &sa, NULL) != 0)
        _exit(10);
    struct itimerval it = { { 0, usec }, { 0, usec } };
    if (setitimer(ITIMER_REAL, &it, NULL) != 0)
        _exit(11);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* The program under test: a main loop that allocates in every size range
 * (the huge ones take the allocator's lock) and forks, with the timer's
 * handler forking in between, until both forked `enough` times (or
 * `seconds` passed: a fork that a signal interrupts starts again, so on a
 * loaded machine the loop's forks are slow to complete).  Exits 0 then. */
static _Noreturn void fork_loop(double seconds)
{
    /* Under qemu-user a fork takes longer than 10 ms, more so on a loaded
     * machine: the handler would run again at once, and a fork in the loop
     * be interrupted until the time is up.  Fewer, further apart there. */
    int enough = test_emulated() ? 15 : 30;
    start_timer(test_emulated() ? 250000 : 10000);
    void *keep[64] = { 0 };
    unsigned state = 12345;
    int loop_forks = 0;
    double end = now_s() + seconds;
    while (now_s() < end && (loop_forks < enough || handler_forks < enough)) {
        for (int i = 0; i < 200; i++) {
            state = state * 1103515245u + 12345u;
            size_t n = (state >> 8) % 32 == 0 ? 600000 + (state >> 4) % (3 * MIB)
                                               : (state >> 8) % 3000 + 1;
            int slot = (int)((state >> 16) % 64);
            free(keep[slot]);
            keep[slot] = malloc(n);
            if (keep[slot] == NULL)
                _exit(12);
            memset(keep[slot], (int)i, n < 64 ? n : 64);
        }
        pid_t pid = fork();
        if (pid == 0)
            _exit(0);
        if (pid < 0)
            continue; /* EAGAIN under load: the loop goes on */
        while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
            ;
        loop_forks++;
    }
    struct itimerval off = { { 0, 0 }, { 0, 0 } };
    setitimer(ITIMER_REAL, &off, NULL);
    for (int i = 0; i < 64; i++)
        free(keep[i]);
    if (loop_forks < enough || handler_forks < enough) {
        printf("FAIL: too few forks to tell: %d in the loop, %d in the handler\n", loop_forks,
               (int)handler_forks);
        fflush(stdout);
        _exit(13);
    }
    _exit(0);
}

/* Runs fork_loop in a child: 0 when it ended well, -1 when it hung (a
 * deadlock), otherwise its exit status or 128 + its signal. */
static int fork_loop_result(double seconds)
{
    pid_t pid = fork();
    if (pid == 0)
        fork_loop(seconds);
    if (pid < 0)
        return 1;
    int status = 0;
    double deadline = now_s() + seconds + 25;
    pid_t got;
    while ((got = waitpid(pid, &status, WNOHANG)) == 0 && now_s() < deadline)
        usleep(10000);
    if (got == 0) {
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        return -1;
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

int main(void)
{
    void *probe = malloc(100);
    if (!lg_owns(probe)) {
        puts("FAIL: malloc is not lgmalloc's");
        return 1;
    }
    free(probe);
    int r = fork_loop_result(15.0);
    if (r == -1)
        puts("FAIL: the program hung: a fork in the signal handler deadlocked");
    else if (r != 0)
        printf("FAIL: the program ended with %d\n", r);
    else
        puts("PASS: fork from a signal handler while main allocates and forks");
    return r == 0 ? 0 : 1;
}
