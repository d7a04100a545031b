/* runner: runs one command and reports what it cost, after its own output:
 *
 *   runner: wall_s=1.234 maxrss_kb=5678 minflt=90 status=0
 *
 * wall time on the monotonic clock from fork to wait4, and the child's peak
 * RSS and minor page faults from wait4's rusage.  Static, so it runs on a
 * machine where nothing is installed (no /usr/bin/time). */
#include <stdio.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: runner COMMAND [ARG...]\n");
        return 2;
    }
    fflush(stdout);
    double t0 = now_s();
    pid_t pid = fork();
    if (pid < 0) {
        perror("runner: fork");
        return 2;
    }
    if (pid == 0) {
        execvp(argv[1], argv + 1);
        perror("runner: exec");
        _exit(127);
    }
    int status;
    struct rusage ru;
    if (wait4(pid, &status, 0, &ru) < 0) {
        perror("runner: wait4");
        return 2;
    }
    double wall = now_s() - t0;
    int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    printf("runner: wall_s=%.4f maxrss_kb=%ld minflt=%ld status=%d\n", wall,
           ru.ru_maxrss, ru.ru_minflt, code);
    return code;
}
