/* A plugin (a shared object the host dlopens) linked with exactly the
 * flags of its host: `pkg-config --static --libs lgmalloc`, as a project
 * that passes LIBS to every link does.  It calls the malloc family the
 * usual way and must take nothing of lgmalloc in, so it uses the malloc of
 * whatever process loads it.  plugin.sh checks both. */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>

/* A block the host checks and frees. */
void *plugin_alloc(size_t size)
{
    char *p = malloc(size);
    if (p)
        memset(p, 0x5a, size);
    return p;
}

/* Frees a block the host allocated. */
void plugin_free(void *p) { free(p); }

/* Grows a block the host allocated; the host frees the result. */
void *plugin_grow(void *p, size_t size) { return realloc(p, size); }

/* libc's own allocation, called from the plugin. */
char *plugin_strdup(const char *s) { return strdup(s); }

/* Allocates and frees inside the plugin; 0 when every block was usable. */
int plugin_churn(void)
{
    void *keep[64];
    for (int i = 0; i < 64; i++) {
        keep[i] = i % 2 ? calloc(1, 16 + 8 * i) : malloc(16 + 8 * i);
        if (!keep[i])
            return 1;
        memset(keep[i], i, 16 + 8 * i);
    }
    for (int i = 0; i < 64; i++)
        free(keep[i]);
    return 0;
}
