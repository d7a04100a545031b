/* The environment: every variable the core reads is in the table below,
 * read once at start-up (lg__process_init) into lg__options, which the
 * files that use a setting read.  An empty variable counts as unset; a
 * value that does not parse is reported on stderr and the default stays.
 * README.md ("Environment") documents each. */
#include "internal.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LG_STR_(x) #x
#define LG_STR(x)  LG_STR_(x)

lg_options_t lg__options = {
    .purge_delay_ms = LG_PURGE_DELAY_MS,
};

/* "1" (or anything else but "0"): count per class, report at exit to
 * stderr; a value with a '/' names a file to append the report to. */
static bool parse_stats(const char *text)
{
    lg__options.stats = strcmp(text, "0") != 0;
    lg__options.stats_path = strchr(text, '/') ? text : NULL;
    return true;
}

/* USR1, SIGUSR1, USR2, SIGUSR2 or a number; 0 for anything else. */
static int signal_named(const char *name)
{
    if (strncmp(name, "SIG", 3) == 0)
        name += 3;
    if (strcmp(name, "USR1") == 0)
        return SIGUSR1;
    if (strcmp(name, "USR2") == 0)
        return SIGUSR2;
    char *end;
    long n = strtol(name, &end, 10);
    return *name && !*end && n > 0 && n < NSIG && n != SIGKILL && n != SIGSTOP ? (int)n : 0;
}

/* A signal to report on; anything else is taken as none. */
static bool parse_stats_signal(const char *text)
{
    lg__options.stats_signal = signal_named(text);
    return true;
}

/* "64M", "512k", "1G", "64MiB", "64MB" or plain bytes. */
static bool parse_limit(const char *text)
{
    char *end;
    errno = 0;
    unsigned long long n = strtoull(text, &end, 10);
    if (end == text || errno)
        return false;
    unsigned shift = 0;
    switch (*end) {
    case 'k': case 'K': shift = 10; end++; break;
    case 'm': case 'M': shift = 20; end++; break;
    case 'g': case 'G': shift = 30; end++; break;
    default: break;
    }
    if (shift && (strcmp(end, "iB") == 0 || strcmp(end, "B") == 0))
        end += strlen(end);
    if (*end != '\0' || n > (SIZE_MAX >> shift))
        return false;
    lg__options.limit = (size_t)n << shift;
    lg__options.limit_set = true;
    return true;
}

static bool parse_purge_delay(const char *text)
{
    char *end;
    errno = 0;
    unsigned long ms = strtoul(text, &end, 10);
    if (*end != '\0' || errno || ms > 60000 || text[0] == '-')
        return false;
    lg__options.purge_delay_ms = (unsigned)ms;
    return true;
}

static const struct {
    const char *name;
    bool (*parse)(const char *text);  /* false: the value is refused */
    const char *refused;              /* then said after "NAME=value " */
} options[] = {
    { "LGMALLOC_STATS",        parse_stats,        NULL },
    { "LGMALLOC_STATS_SIGNAL", parse_stats_signal, NULL },
    { "LGMALLOC_LIMIT",        parse_limit,
      "is not a size (like 64M or 1G): no limit set" },
    { "LGMALLOC_PURGE_DELAY",  parse_purge_delay,
      "is not a number of milliseconds (0 to 60000): the delay stays "
      LG_STR(LG_PURGE_DELAY_MS) " ms" },
};

void lg__options_init(void)
{
    for (size_t i = 0; i < sizeof options / sizeof *options; i++) {
        const char *text = getenv(options[i].name);
        if (text && *text && !options[i].parse(text))
            fprintf(stderr, "lgmalloc: %s=%s %s\n", options[i].name, text, options[i].refused);
    }
}
