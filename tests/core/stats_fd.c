/* lg_stats_print_fd: the statistics report written to a file descriptor
 * while the program runs (a service's admin command). */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <lgmalloc.h>

/* Reads what the pipe holds (the writer end closed). */
static char *read_all(int fd)
{
    static char buf[1 << 16];
    size_t len = 0;
    ssize_t n;
    while ((n = read(fd, buf + len, sizeof buf - 1 - len)) > 0)
        len += (size_t)n;
    buf[len] = 0;
    return buf;
}

Test(stats_fd, writes_the_report_to_the_descriptor)
{
    void *p = malloc(2000);   /* an ordinary page, so its class has a line (lib/nursery.c) */
    cr_assert(p);
    int fds[2];
    cr_assert_eq(pipe(fds), 0);
    cr_assert_eq(lg_stats_print_fd(fds[1]), 0);
    close(fds[1]);
    const char *text = read_all(fds[0]);
    close(fds[0]);
    free(p);
    cr_assert(strstr(text, "lgmalloc: segments "), "no totals in: %s", text);
    cr_assert(strstr(text, "lgmalloc: reserved "), "no memory line in: %s", text);
    cr_assert(strstr(text, "pages KiB"), "no class table in: %s", text);
}

Test(stats_fd, says_when_the_descriptor_is_closed)
{
    int fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
    cr_assert_geq(fd, 0);
    close(fd);
    errno = 0;
    cr_assert_eq(lg_stats_print_fd(fd), -1);
    cr_assert_eq(errno, EBADF);
}
