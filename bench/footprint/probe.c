/* Footprint probe (bench/footprint/run): five small mallocs, then VmData
 * and VmRSS from /proc/self/status; with an argument, 4 MiB more in
 * 64-byte blocks, then VmHWM (peak RSS).  Reads the file with open and
 * read, so the probe allocates nothing but its blocks. */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void status(const char *when, const char *const *fields)
{
    static char buf[8192];
    int fd = open("/proc/self/status", O_RDONLY);
    ssize_t n = fd < 0 ? -1 : read(fd, buf, sizeof buf - 1);
    if (n <= 0)
        _exit(3);
    buf[n] = 0;
    close(fd);
    write(1, when, strlen(when));
    for (char *line = strtok(buf, "\n"); line; line = strtok(NULL, "\n"))
        for (const char *const *f = fields; *f; f++)
            if (!strncmp(line, *f, strlen(*f))) {
                write(1, " ", 1);
                write(1, line, strlen(line));
            }
    write(1, "\n", 1);
}

int main(int argc, char **argv)
{
    static const char *const after5[] = { "VmData", "VmRSS", NULL };
    static const char *const after4[] = { "VmHWM", NULL };
    (void)argv;
    void *volatile p[5];
    for (int i = 0; i < 5; i++) {
        p[i] = malloc(24 + 40 * i);
        if (!p[i])
            return 1;
        memset(p[i], 1, 24);
    }
    status("after5", after5);
    if (argc > 1) {
        for (int i = 0; i < (4 << 20) / 64; i++) {
            char *volatile q = malloc(64);
            if (!q)
                return 2;
            q[0] = 1;
        }
        status("after4MiB", after4);
    }
    return 0;
}
