/* The host of plugin.c, linked with the same pkg-config flags: dlopens
 * the plugin (argv[1]) and passes blocks both ways.  Exits non-zero,
 * naming the first block that is not lgmalloc's or the first call that
 * fails.  Built with -DLG_PLAIN_HOST (no lgmalloc at all) it checks that
 * the plugin also works in a program that has only glibc's malloc. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef LG_PLAIN_HOST
#define OWNED(p) ((p) != NULL)
#else
#include <lgmalloc.h>
#define OWNED(p) lg_owns(p)
#endif

static int failures;

static void expect(int ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "host: %s\n", what);
        failures++;
    }
}

static void *need(void *lib, const char *name)
{
    void *f = dlsym(lib, name);
    if (!f) {
        fprintf(stderr, "host: %s\n", dlerror());
        exit(1);
    }
    return f;
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return 2;
    void *lib = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
        fprintf(stderr, "host: %s\n", dlerror());
        return 1;
    }
    void *(*plugin_alloc)(size_t) = (void *(*)(size_t))need(lib, "plugin_alloc");
    void (*plugin_free)(void *) = (void (*)(void *))need(lib, "plugin_free");
    void *(*plugin_grow)(void *, size_t) = (void *(*)(void *, size_t))need(lib, "plugin_grow");
    char *(*plugin_strdup)(const char *) = (char *(*)(const char *))need(lib, "plugin_strdup");
    int (*plugin_churn)(void) = (int (*)(void))need(lib, "plugin_churn");

    unsigned char *p = plugin_alloc(100);
    expect(OWNED(p), "the plugin's malloc is not the host's allocator");
    expect(p && p[0] == 0x5a && p[99] == 0x5a, "the plugin's block lost its contents");
    free(p);                                   /* the plugin's block, freed here */

    plugin_free(malloc(200));                  /* the host's block, freed there */

    char *g = plugin_grow(strcpy(malloc(10), "grow me"), 5000);
    expect(OWNED(g), "the plugin's realloc is not the host's allocator");
    expect(g && strcmp(g, "grow me") == 0, "the plugin's realloc lost the contents");
    free(g);

    char *s = plugin_strdup("from libc, called in the plugin");
    expect(OWNED(s), "libc's strdup called in the plugin is not the host's allocator");
    free(s);

    expect(plugin_churn() == 0, "the plugin's own malloc and free failed");
    dlclose(lib);
    return failures ? 1 : 0;
}
