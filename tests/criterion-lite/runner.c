/* The runner of tests/criterion-lite: main() of every test program built
 * with it.  Like Criterion, it starts each test in a new copy of the
 * program (here: execv of /proc/self/exe with the test named in the
 * environment), kills it past its timeout, judges it by how it ended (its
 * .signal or .exit_code), and ends with Criterion's "Synthesis" line.
 * Unlike Criterion it runs the tests one at a time, in the order the
 * program lists them. */
#define _GNU_SOURCE
#include <criterion/criterion.h>

#include <fnmatch.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define TEST_ENV  "LG_CRITERION_LITE_TEST"  /* the test a copy runs */
#define SKIP_EXIT 77                        /* a copy's status: skipped */

enum { MAX_TESTS = 1024, MAX_SUITES = 64 };
static struct crl_test *tests[MAX_TESTS], *suites[MAX_SUITES];
static int test_count, suite_count;

void crl_register(struct crl_test *t)
{
    if (t->name ? test_count == MAX_TESTS : suite_count == MAX_SUITES) {
        fprintf(stderr, "criterion-lite: more than %d tests or %d suites\n", MAX_TESTS, MAX_SUITES);
        abort();
    }
    if (t->name)
        tests[test_count++] = t;
    else
        suites[suite_count++] = t;
}

void crl_fail(const char *file, int line, const char *expr, const char *fmt, ...)
{
    char message[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof message, fmt, ap);
    va_end(ap);
    fprintf(stderr, "[----] %s:%d: Assertion Failed\n[----]   %s\n", file, line,
            message[1] ? message + 1 : expr);
    fflush(NULL);
    _exit(1);
}

/* Silent, as Criterion is unless verbose: the tests say why they skip. */
void cr_skip_test(const char *fmt, ...)
{
    (void)fmt;
    fflush(NULL);
    _exit(SKIP_EXIT);
}

void cr_log_info(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("[----] ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static void test_id(const struct crl_test *t, char *id, size_t size)
{
    snprintf(id, size, "%s/%s", t->suite, t->name);
}

/* In a copy: runs the named test and exits. */
static void run_one(const char *wanted)
{
    char id[256];
    for (int i = 0; i < test_count; i++) {
        test_id(tests[i], id, sizeof id);
        if (strcmp(id, wanted) == 0) {
            unsetenv(TEST_ENV);     /* programs the test starts are not copies */
            tests[i]->run();
            fflush(NULL);
            _exit(0);
        }
    }
    fprintf(stderr, "criterion-lite: no test %s\n", wanted);
    _exit(2);
}

static double timeout_of(const struct crl_test *t)
{
    if (t->data.timeout > 0)
        return t->data.timeout;
    for (int s = 0; s < suite_count; s++)
        if (strcmp(suites[s]->suite, t->suite) == 0)
            return suites[s]->data.timeout;
    return 0;
}

typedef enum { PASSED, FAILED, CRASHED, SKIPPED } outcome_t;

/* Runs test t in a new copy of the program and judges how it ended. */
static outcome_t run_copy(const struct crl_test *t, char **argv)
{
    char id[256];
    test_id(t, id, sizeof id);
    double start = now(), timeout = timeout_of(t);
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        perror("criterion-lite: fork");
        return FAILED;
    }
    if (pid == 0) {
        setenv(TEST_ENV, id, 1);
        execv("/proc/self/exe", argv);
        perror("criterion-lite: execv /proc/self/exe");
        _exit(2);
    }
    int status = 0;
    bool timed_out = false;
    while (waitpid(pid, &status, WNOHANG) == 0) {
        if (timeout > 0 && now() - start > timeout) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            timed_out = true;
            break;
        }
        usleep(10000);
    }
    outcome_t outcome;
    const char *why = "";
    if (timed_out) {
        outcome = FAILED;
        why = "Timed out. ";
    } else if (t->data.signal) {
        outcome = WIFSIGNALED(status) && WTERMSIG(status) == t->data.signal ? PASSED : FAILED;
    } else if (WIFSIGNALED(status)) {
        outcome = CRASHED;
        why = "CRASH ";
    } else if (WEXITSTATUS(status) == SKIP_EXIT) {
        return SKIPPED;
    } else {
        outcome = WEXITSTATUS(status) == t->data.exit_code ? PASSED : FAILED;
    }
    if (outcome != PASSED)
        fprintf(stderr, "[FAIL] %s::%s: %s(%.2fs)\n", t->suite, t->name, why, now() - start);
    return outcome;
}

int main(int argc, char **argv)
{
    /* As Criterion's own allocations do before a test: the allocator has
     * started (lg_get_limit and lg_stats_enabled read 0 until then). */
    void *volatile first = malloc(1);
    free(first);

    const char *wanted = getenv(TEST_ENV), *filter = NULL;
    if (wanted)
        run_one(wanted);
    for (int i = 1; i < argc; i++) {
        if (strncmp(argv[i], "--filter=", 9) == 0)
            filter = argv[i] + 9;
        else if (strcmp(argv[i], "--filter") == 0 && i + 1 < argc)
            filter = argv[++i];
    }

    int tested = 0, passing = 0, failing = 0, crashing = 0;
    for (int i = 0; i < test_count; i++) {
        char id[256];
        test_id(tests[i], id, sizeof id);
        if (tests[i]->data.disabled || (filter && fnmatch(filter, id, 0) != 0))
            continue;
        outcome_t o = run_copy(tests[i], argv);
        if (o == SKIPPED)
            continue;
        tested++;
        passing += o == PASSED;
        failing += o != PASSED;
        crashing += o == CRASHED;
    }
    fprintf(stderr, "[====] Synthesis: Tested: %d | Passing: %d | Failing: %d | Crashing: %d \n",
            tested, passing, failing, crashing);
    return failing ? 1 : 0;
}
