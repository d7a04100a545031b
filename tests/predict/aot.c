/* Ahead-of-time tables (predict/runtime/self.c, embedded.c, cache.c): a
 * table embedded by lgmalloc-scan --embed is used, and no analysis runs;
 * one made for another build is ignored; the analysis' table is cached
 * per build-id and taken from the cache by the next run, but a cache
 * file or directory others could have written, or a table planted there,
 * changes nothing; a -static program gets exact-fit classes and patched
 * sites from its embedded table; and a short run patches no site
 * (docs/decisions.md#deferred-patching).
 *
 * Each test runs aot_program.c, built in the forms tests/predict/meson.build
 * names in the environment (AOT_*), with an environment of its own, and
 * reads the line it prints. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "analysis/analysis.h"

typedef struct run_s {
    int    origin;        /* lgp_origin_t, -1: no table */
    size_t sites;
    size_t text_changed;
    char   err[16384];    /* its stderr */
} run_t;

static char cache_home[64];

static void make_cache_home(void)
{
    strcpy(cache_home, "/tmp/lgmalloc-aot-XXXXXX");
    cr_assert_not_null(mkdtemp(cache_home));
}

static void remove_tree(const char *path)
{
    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", path);
    cr_assert_eq(system(cmd), 0);
}

static void drop_cache_home(void)
{
    if (cache_home[0])
        remove_tree(cache_home);
}

static const char *program(const char *name)
{
    const char *path = getenv(name);
    if (!path)
        cr_skip_test("%s not built here", name);
    return path;
}

static size_t read_file(const char *path, char *buf, size_t size)
{
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "%s", path);
    size_t n = fread(buf, 1, size - 1, f);
    buf[n] = '\0';
    fclose(f);
    return n;
}

/* Runs program `name` with the variables `env` (NULL-terminated) added to
 * a clean environment: the prediction before main, the cache in
 * cache_home or off. */
static run_t run(const char *name, const char *const *env)
{
    const char *path = program(name);
    char xdg[128], out_path[] = "/tmp/lgmalloc-aot-out-XXXXXX", err_path[] = "/tmp/lgmalloc-aot-err-XXXXXX";
    snprintf(xdg, sizeof xdg, "XDG_CACHE_HOME=%s", cache_home);
    const char *envp[32] = { "LGMALLOC_PREDICT_SYNC=1", "LGMALLOC_VERBOSE=1",
                             cache_home[0] ? xdg : "LGMALLOC_PREDICT_CACHE=0" };
    size_t n = 3;
    for (; env && *env && n < 31; env++)
        envp[n++] = *env;
    int out = mkstemp(out_path), err = mkstemp(err_path);
    cr_assert(out >= 0 && err >= 0);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, out, 1);
    posix_spawn_file_actions_adddup2(&actions, err, 2);
    pid_t pid;
    char *argv[] = { (char *)path, NULL };
    cr_assert_eq(posix_spawn(&pid, path, &actions, NULL, argv, (char **)envp), 0);
    int status;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    posix_spawn_file_actions_destroy(&actions);
    close(out);
    close(err);
    run_t r = { .origin = -2 };
    char line[256];
    read_file(out_path, line, sizeof line);
    read_file(err_path, r.err, sizeof r.err);
    unlink(out_path);
    unlink(err_path);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "%s failed: %s", name, r.err);
    cr_assert_eq(sscanf(line, "origin=%d sites=%zu text_changed=%zu", &r.origin, &r.sites,
                        &r.text_changed), 3, "%s printed: %s", name, line);
    return r;
}

/* ---- embedded --------------------------------------------------------------- */

Test(embedded, used_and_no_analysis_runs)
{
    run_t r = run("AOT_EMBEDDED", NULL);
    cr_expect_eq(r.origin, LGP_ORIGIN_EMBEDDED, "%s", r.err);
    cr_expect_gt(r.sites, 0);
    cr_expect_gt(r.text_changed, 0, "the embedded table's sites were patched");
    cr_expect_null(strstr(r.err, "before main"), "an analysis ran: %s", r.err);
}

/* A program that allocates a few blocks and exits gains nothing from the
 * short path: its code pages are left as the file has them. */
Test(embedded, a_short_run_patches_no_code)
{
    const char *env[] = { "AOT_BLOCKS=16", NULL };
    run_t r = run("AOT_EMBEDDED", env);
    cr_expect_eq(r.origin, LGP_ORIGIN_EMBEDDED, "%s", r.err);
    cr_expect_eq(r.text_changed, 0, "%zu bytes of code rewritten", r.text_changed);
}

Test(embedded, made_for_another_build_is_ignored)
{
    run_t r = run("AOT_MISMATCH", NULL);
    cr_expect_eq(r.origin, LGP_ORIGIN_ANALYSIS, "%s", r.err);
    cr_expect_not_null(strstr(r.err, "embedded table not used: made for another build-id"),
                       "%s", r.err);
}

Test(embedded, off_with_the_variable)
{
    const char *env[] = { "LGMALLOC_PREDICT_EMBEDDED=0", NULL };
    cr_expect_eq(run("AOT_EMBEDDED", env).origin, LGP_ORIGIN_ANALYSIS);
}

Test(embedded, none_without_one)
{
    run_t r = run("AOT_PLAIN", NULL);
    cr_expect_eq(r.origin, LGP_ORIGIN_ANALYSIS);
    cr_expect_not_null(strstr(r.err, "embedded table not used: no embedded table"), "%s", r.err);
}

/* ---- the cache ----------------------------------------------------------------- */

/* The one file in the cache directory, by full path. */
static void cached_file(char *path, size_t size)
{
    char dir[128];
    snprintf(dir, sizeof dir, "%s/lgmalloc", cache_home);
    DIR *d = opendir(dir);
    cr_assert_not_null(d);
    struct dirent *e;
    path[0] = '\0';
    while ((e = readdir(d)))
        if (e->d_name[0] != '.') {
            cr_assert_eq(path[0], '\0', "one file only");
            snprintf(path, size, "%s/%s", dir, e->d_name);
        }
    closedir(d);
    cr_assert_neq(path[0], '\0', "a table was cached");
}

static void populate(const char *name, char *file, size_t size)
{
    run_t r = run(name, NULL);
    cr_assert_eq(r.origin, LGP_ORIGIN_ANALYSIS, "%s", r.err);
    cached_file(file, size);
}

TestSuite(cache, .init = make_cache_home, .fini = drop_cache_home);

Test(cache, hit_skips_the_analysis)
{
    char file[512];
    populate("AOT_PLAIN", file, sizeof file);
    run_t r = run("AOT_PLAIN", NULL);
    cr_expect_eq(r.origin, LGP_ORIGIN_CACHE, "%s", r.err);
    cr_expect_gt(r.text_changed, 0, "the cached table's sites were patched");
    cr_expect_null(strstr(r.err, "before main"), "an analysis ran: %s", r.err);
}

Test(cache, made_private)
{
    char file[512], dir[128];
    populate("AOT_PLAIN", file, sizeof file);
    snprintf(dir, sizeof dir, "%s/lgmalloc", cache_home);
    struct stat st;
    cr_assert_eq(stat(dir, &st), 0);
    cr_expect_eq(st.st_mode & 0777, 0700);
    cr_assert_eq(stat(file, &st), 0);
    cr_expect_eq(st.st_mode & 077, 0);
}

Test(cache, off_with_the_variable)
{
    const char *env[] = { "LGMALLOC_PREDICT_CACHE=0", NULL };
    run_t r = run("AOT_PLAIN", env);
    cr_expect_eq(r.origin, LGP_ORIGIN_ANALYSIS);
    char dir[128];
    struct stat st;
    snprintf(dir, sizeof dir, "%s/lgmalloc", cache_home);
    cr_expect_neq(stat(dir, &st), 0, "nothing written");
}

Test(cache, file_others_may_write_is_rejected)
{
    char file[512];
    populate("AOT_PLAIN", file, sizeof file);
    cr_assert_eq(chmod(file, 0622), 0);
    run_t r = run("AOT_PLAIN", NULL);
    cr_expect_eq(r.origin, LGP_ORIGIN_ANALYSIS, "%s", r.err);
    cr_expect_not_null(strstr(r.err, "others may write it"), "%s", r.err);
}

Test(cache, directory_others_may_write_is_rejected)
{
    char file[512], dir[128];
    populate("AOT_PLAIN", file, sizeof file);
    snprintf(dir, sizeof dir, "%s/lgmalloc", cache_home);
    cr_assert_eq(chmod(dir, 0777), 0);
    run_t r = run("AOT_PLAIN", NULL);
    cr_expect_eq(r.origin, LGP_ORIGIN_ANALYSIS, "%s", r.err);
}

Test(cache, symbolic_link_is_rejected)
{
    char file[512], elsewhere[300];
    populate("AOT_PLAIN", file, sizeof file);
    snprintf(elsewhere, sizeof elsewhere, "%s/elsewhere", cache_home);
    cr_assert_eq(rename(file, elsewhere), 0);
    cr_assert_eq(symlink(elsewhere, file), 0);
    cr_expect_eq(run("AOT_PLAIN", NULL).origin, LGP_ORIGIN_ANALYSIS);
}

Test(cache, another_builds_table_is_rejected)
{
    char file[512], other[512];
    populate("AOT_OTHER", other, sizeof other);
    cr_assert_eq(unlink(other), 0);   /* the next run caches again */
    populate("AOT_PLAIN", file, sizeof file);
    cr_assert_eq(rename(file, other), 0);
    /* AOT_OTHER's name, AOT_PLAIN's table */
    run_t r = run("AOT_OTHER", NULL);
    cr_expect_eq(r.origin, LGP_ORIGIN_ANALYSIS, "%s", r.err);
    cr_expect_not_null(strstr(r.err, "made for another build-id"), "%s", r.err);
}

Test(cache, garbage_is_rejected)
{
    char file[512];
    populate("AOT_PLAIN", file, sizeof file);
    FILE *f = fopen(file, "r+b");
    cr_assert_not_null(f);
    fseek(f, 80 + 40, SEEK_SET);   /* the first record's confidence and evidence */
    fwrite("\xff\xff\xff\xff\xff\xff\xff\xff", 8, 1, f);
    fclose(f);
    run_t r = run("AOT_PLAIN", NULL);
    cr_expect_eq(r.origin, LGP_ORIGIN_ANALYSIS, "%s", r.err);
}

/* A well-formed table for this very build, as an attacker who can write
 * the user's files would plant it: every site a malloc(136) of full
 * confidence, at addresses next to the real calls.  It is taken, but no
 * byte of code changes: the patcher rewrites only what it reads to be a
 * call of malloc. */
Test(cache, planted_table_writes_no_code)
{
    char file[512];
    populate("AOT_PLAIN", file, sizeof file);
    lgp_build_id_t id;
    char why[160];
    cr_assert_eq(lgp_file_build_id(program("AOT_PLAIN"), &id, why, sizeof why), 0, "%s", why);
    const char *dash = strrchr(file, '-');
    uint64_t key = strtoull(dash + 1, NULL, 16);
    static char bytes[1 << 20];
    FILE *f = fopen(file, "rb");
    size_t size = fread(bytes, 1, sizeof bytes, f);
    fclose(f);
    lgp_table_t *real = lgp_table_decode(bytes, size, &id, key, why, sizeof why);
    cr_assert_not_null(real, "%s", why);

    static const int shifts[] = { -3, -2, -1, 1, 2, 3 };
    size_t n = 0, count = real->count * 6;
    lgp_site_t *sites = calloc(count, sizeof *sites);
    for (size_t i = 0; i < real->count; i++)
        for (size_t k = 0; k < 6; k++)
            sites[n++] = (lgp_site_t){
                .address = real->sites[i].address + (uint64_t)(int64_t)shifts[k],
                .size = 136, .confidence = 1.0f, .evidence = LGP_EVIDENCE_BOTH,
                .via = LGP_VIA_DIRECT, .callee = "malloc",
            };
    for (size_t i = 1; i < n; i++)   /* sorted by address */
        for (size_t j = i; j > 0 && sites[j - 1].address > sites[j].address; j--) {
            lgp_site_t t = sites[j];
            sites[j] = sites[j - 1];
            sites[j - 1] = t;
        }
    char strings[] = "malloc";
    for (size_t i = 0; i < n; i++)
        sites[i].callee = strings;
    lgp_table_t planted = { .sites = sites, .count = n, .strings = strings };
    size_t planted_size;
    void *planted_bytes = lgp_table_encode(&planted, &id, key, &planted_size);
    cr_assert_not_null(planted_bytes);
    f = fopen(file, "wb");
    cr_assert_eq(fwrite(planted_bytes, 1, planted_size, f), planted_size);
    fclose(f);

    run_t r = run("AOT_PLAIN", NULL);
    cr_expect_eq(r.origin, LGP_ORIGIN_CACHE, "%s", r.err);
    cr_expect_eq(r.sites, n);
    cr_expect_eq(r.text_changed, 0, "the planted table made lgmalloc write code");
    free(planted_bytes);
    free(sites);
    lgp_table_free(real);
}

/* ---- -static ------------------------------------------------------------------- */

Test(static_program, embedded_table_patches_sites)
{
    run_t r = run("AOT_STATIC_EMBEDDED", NULL);
    cr_expect_eq(r.origin, LGP_ORIGIN_EMBEDDED, "%s", r.err);
    cr_expect_gt(r.text_changed, 0, "sites patched in a static program");
}

Test(static_program, a_short_run_patches_no_code)
{
    const char *env[] = { "AOT_BLOCKS=16", NULL };
    run_t r = run("AOT_STATIC_EMBEDDED", env);
    cr_expect_eq(r.origin, LGP_ORIGIN_EMBEDDED, "%s", r.err);
    cr_expect_eq(r.text_changed, 0, "%zu bytes of code rewritten", r.text_changed);
}

Test(static_program, embedded_table_makes_exact_fit_classes)
{
    const char *env[] = { "LGMALLOC_STATS=1", NULL };
    run_t r = run("AOT_STATIC_EMBEDDED", env);
    cr_expect_eq(r.origin, LGP_ORIGIN_EMBEDDED, "%s", r.err);
    const char *at = strstr(r.err, "with a size; ");
    cr_assert_not_null(at, "%s", r.err);
    unsigned classes = 0;
    cr_assert_eq(sscanf(at, "with a size; %u exact-fit classes", &classes), 1, "%s", at);
    cr_expect_gt(classes, 0, "%s", r.err);
    at = strstr(r.err, "prediction: ");
    size_t served = 0;
    at = strstr(r.err, "allocations from exact-fit classes");
    cr_assert_not_null(at, "%s", r.err);
    while (at > r.err && at[-1] == ' ')
        at--;
    while (at > r.err && at[-1] >= '0' && at[-1] <= '9')
        at--;
    served = strtoul(at, NULL, 10);
    cr_expect_gt(served, 0, "%s", r.err);
}

Test(static_program, no_table_without_one)
{
    run_t r = run("AOT_STATIC", NULL);
    cr_expect_eq(r.origin, -1, "%s", r.err);
    cr_expect_eq(r.text_changed, 0);
}
