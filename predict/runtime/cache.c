/* The per-user cache of the analysis' tables: a program without an
 * embedded table is analysed once per build, not at every start.
 *
 * $XDG_CACHE_HOME/lgmalloc (or ~/.cache/lgmalloc), made 0700; one file per
 * build-id and key of the options that made the table, written to a
 * temporary name and renamed into place.  Nothing in it is trusted unless
 * the directory and the file are the user's own and writable by no one
 * else, the file is a regular file, and its bytes decode as a table for
 * this build-id and key (table_file.c).  Even then a table only points at
 * code: the patcher re-reads every call it rewrites (routing/patch.c), so
 * a planted table cannot make lgmalloc write code.  Off in set-user-ID
 * programs, and with LGMALLOC_PREDICT_CACHE=0. */
#include "runtime.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/stat.h>
#include <unistd.h>

#define CACHE_DIR  "lgmalloc"
#define MAX_FILE   ((off_t)64 << 20)
#define NAME_SIZE  (2 * LGP_BUILD_ID_MAX + 1 + 16 + sizeof ".table")

static bool trusted(const struct stat *st)
{
    return st->st_uid == geteuid() && !(st->st_mode & (S_IWGRP | S_IWOTH));
}

/* The cache directory, opened, made if missing; -1 when there is none to
 * trust. */
static int open_dir(char *why, size_t why_size)
{
    if (getauxval(AT_SECURE)) {
        lgp__copy_text(why, why_size, "off in a set-user-ID program");
        return -1;
    }
    const char *xdg = getenv("XDG_CACHE_HOME");
    const char *home = getenv("HOME");
    int base;
    if (xdg && xdg[0] == '/') {
        (void)mkdir(xdg, 0700);   /* may exist */
        base = open(xdg, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    } else if (home && home[0] == '/') {
        int h = open(home, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (h >= 0)
            (void)mkdirat(h, ".cache", 0700);
        base = h >= 0 ? openat(h, ".cache", O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1;
        if (h >= 0)
            close(h);
    } else {
        lgp__copy_text(why, why_size, "no XDG_CACHE_HOME or HOME");
        return -1;
    }
    if (base < 0) {
        lgp__copy_text(why, why_size, "no cache directory");
        return -1;
    }
    (void)mkdirat(base, CACHE_DIR, 0700);
    int dir = openat(base, CACHE_DIR, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    close(base);
    struct stat st;
    if (dir >= 0 && (fstat(dir, &st) != 0 || !trusted(&st))) {
        close(dir);
        lgp__copy_text(why, why_size, "the cache directory is not the user's own, or others may write it");
        return -1;
    }
    if (dir < 0)
        lgp__copy_text(why, why_size, "no cache directory");
    return dir;
}

/* "<build-id>-<key>.table" */
static void file_name(char name[NAME_SIZE], const lgp_build_id_t *id, uint64_t key)
{
    lgp_build_id_text(id, name);
    size_t at = strlen(name);
    name[at++] = '-';
    for (int shift = 60; shift >= 0; shift -= 4)
        name[at++] = "0123456789abcdef"[(key >> shift) & 15];
    memcpy(name + at, ".table", sizeof ".table");
}

lgp_table_t *lgp__cache_load(const lgp_build_id_t *id, uint64_t key, bool *storable, char *why,
                             size_t why_size)
{
    *storable = false;
    int dir = open_dir(why, why_size);
    if (dir < 0)
        return NULL;
    char name[NAME_SIZE];
    file_name(name, id, key);
    /* O_NONBLOCK: a FIFO planted there must not hold the program up */
    int fd = openat(dir, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    *storable = faccessat(dir, ".", W_OK, AT_EACCESS) == 0;
    close(dir);
    if (fd < 0) {
        lgp__copy_text(why, why_size, errno == ENOENT ? "no table for this build" : "cannot open");
        return NULL;
    }
    struct stat st;
    lgp_table_t *table = NULL;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || !trusted(&st)) {
        lgp__copy_text(why, why_size, "the file is not the user's own, or others may write it");
    } else if (st.st_size <= 0 || st.st_size > MAX_FILE) {
        lgp__copy_text(why, why_size, "the file's size is out of range");
    } else {
        lgp_file_part_t part = { fd, 0 };
        table = lgp_table_read(lgp__read_file_part, &part, (uint64_t)st.st_size, id, key,
                               why, why_size);
    }
    close(fd);
    return table;
}

static bool write_all(int fd, const void *buf, size_t size)
{
    const uint8_t *p = buf;
    while (size) {
        ssize_t n = write(fd, p, size);
        if (n <= 0)
            return false;
        p += n, size -= (size_t)n;
    }
    return true;
}

void lgp__cache_store(const lgp_table_t *table, const lgp_build_id_t *id, uint64_t key)
{
    char why[96];
    int dir = open_dir(why, sizeof why);
    if (dir < 0) {
        lgp__report_skipped("cache", why);
        return;
    }
    size_t size;
    void *bytes = lgp_table_encode(table, id, key, &size);
    char name[NAME_SIZE], temp[NAME_SIZE + LGP_HEX_TEXT + 1];
    file_name(name, id, key);
    temp[0] = '.';
    lgp__hex_text(temp + 1, (uint64_t)getpid());
    size_t at = strlen(temp);
    temp[at++] = '-';
    lgp__copy_text(temp + at, sizeof temp - at, name);
    int fd = bytes ? openat(dir, temp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600)
                   : -1;
    bool written = fd >= 0 && write_all(fd, bytes, size);
    if (fd >= 0 && (close(fd) != 0 || !written || renameat(dir, temp, dir, name) != 0))
        (void)unlinkat(dir, temp, 0);   /* best effort */
    free(bytes);
    close(dir);
}
