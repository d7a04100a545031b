/* The part of Criterion's API that lgmalloc's tests use, for targets with
 * no Criterion package (Debian has none for armhf or musl): tests/meson.build
 * builds the tests with it where dependency('criterion') is not found.
 * Each test runs in a new copy of the program, as Criterion runs it, and the
 * runner ends with Criterion's "Synthesis" line, which tools/test counts. */
#ifndef LG_CRITERION_LITE_H
#define LG_CRITERION_LITE_H

#include <stdbool.h>
#include <string.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The fields of Criterion's test options that the tests set. */
struct criterion_test_extra_data {
    int signal;         /* the test passes when it dies of this signal */
    int exit_code;      /* ... or exits with this status */
    double timeout;     /* seconds; 0: the suite's, or none */
    bool disabled;
};

struct crl_test {
    const char *suite, *name;   /* name NULL: the suite's options */
    void (*run)(void);
    struct criterion_test_extra_data data;
};

void crl_register(struct crl_test *t);
__attribute__((noreturn, format(printf, 4, 5)))
void crl_fail(const char *file, int line, const char *expr, const char *fmt, ...);
__attribute__((noreturn, format(printf, 1, 2)))
void cr_skip_test(const char *fmt, ...);
__attribute__((format(printf, 1, 2)))
void cr_log_info(const char *fmt, ...);

#ifdef __cplusplus
}
#endif

#define CRL_ID(s, n, what) crl_##s##_##n##_##what
/* The options name only the fields they set (C++ warns of the others). */
#define CRL_OPTIONS_BEGIN \
    _Pragma("GCC diagnostic push") _Pragma("GCC diagnostic ignored \"-Wmissing-field-initializers\"")
#define CRL_OPTIONS_END _Pragma("GCC diagnostic pop")

#define Test(s, n, ...)                                                                      \
    static void CRL_ID(s, n, run)(void);                                                     \
    CRL_OPTIONS_BEGIN                                                                        \
    static struct crl_test CRL_ID(s, n, test) = { #s, #n, CRL_ID(s, n, run), { __VA_ARGS__ } }; \
    CRL_OPTIONS_END                                                                          \
    __attribute__((constructor)) static void CRL_ID(s, n, add)(void)                        \
    {                                                                                        \
        crl_register(&CRL_ID(s, n, test));                                                   \
    }                                                                                        \
    static void CRL_ID(s, n, run)(void)

#define TestSuite(s, ...)                                                                   \
    CRL_OPTIONS_BEGIN                                                                       \
    static struct crl_test CRL_ID(s, suite, options) = { #s, NULL, NULL, { __VA_ARGS__ } }; \
    CRL_OPTIONS_END                                                                         \
    __attribute__((constructor)) static void CRL_ID(s, suite, add)(void)                   \
    {                                                                                       \
        crl_register(&CRL_ID(s, suite, options));                                          \
    }

/* The message is optional; when given, its format is a string literal.  It
 * comes after one space, so that no message is not an empty format. */
#define cr_assert(c, ...) \
    do { \
        if (!(c)) \
            crl_fail(__FILE__, __LINE__, #c, " " __VA_ARGS__); \
    } while (0)
#define cr_assert_fail(...)         crl_fail(__FILE__, __LINE__, "cr_assert_fail", " " __VA_ARGS__)
#define cr_assert_not(c, ...)       cr_assert(!(c), __VA_ARGS__)
#define cr_assert_eq(a, b, ...)     cr_assert((a) == (b), __VA_ARGS__)
#define cr_assert_neq(a, b, ...)    cr_assert((a) != (b), __VA_ARGS__)
#define cr_assert_lt(a, b, ...)     cr_assert((a) < (b), __VA_ARGS__)
#define cr_assert_leq(a, b, ...)    cr_assert((a) <= (b), __VA_ARGS__)
#define cr_assert_gt(a, b, ...)     cr_assert((a) > (b), __VA_ARGS__)
#define cr_assert_geq(a, b, ...)    cr_assert((a) >= (b), __VA_ARGS__)
#define cr_assert_null(a, ...)      cr_assert((a) == NULL, __VA_ARGS__)
#define cr_assert_not_null(a, ...)  cr_assert((a) != NULL, __VA_ARGS__)
#define cr_assert_str_eq(a, b, ...) cr_assert(strcmp((a), (b)) == 0, __VA_ARGS__)

#endif
