// A program whose blocks pass between it and the C library, for
// tests/valgrind/libc.sh: under memcheck it must run as cleanly linked with
// lgmalloc as without it (one allocator: see wrap/handover.h).  Each step
// checks its result and the program exits 1 at the first wrong one.
//
//   libc        then prints "served by lgmalloc: yes|no" for a malloc
//   libc owner  only prints that
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <malloc.h>
#include <new>
#include <string>
#include <vector>

#include <lgmalloc.h>

// Linked without lgmalloc (to compare), lg_owns is not there.
extern "C" int lg_owns(const void *p) __attribute__((weak));

#define CHECK(cond)                                                    \
    do {                                                               \
        if (!(cond)) {                                                 \
            std::fprintf(stderr, "libc: line %d: %s\n", __LINE__, #cond); \
            std::exit(1);                                              \
        }                                                              \
    } while (0)

static const char text[] =
    "a first line, longer than the eight bytes of the buffer it is read into\n"
    "second;field;third\n";

// getline and getdelim grow a buffer from malloc with the C library's realloc.
static void lines()
{
    FILE *f = fmemopen(const_cast<char *>(text), sizeof text - 1, "r");
    CHECK(f);
    size_t cap = 8;
    char *buf = static_cast<char *>(std::malloc(cap));
    CHECK(buf);
    ssize_t n = getline(&buf, &cap, f);
    CHECK(n == std::strchr(text, '\n') - text + 1 && cap > 8);
    n = getdelim(&buf, &cap, ';', f);
    CHECK(n == 7 && std::strcmp(buf, "second;") == 0);
    std::fclose(f);
    std::free(buf);
}

// The C library allocates; the program reallocates and frees.
static void libc_blocks()
{
    char *s = strdup("copied by the C library");
    CHECK(s);
    s = static_cast<char *>(std::realloc(s, 4096));
    CHECK(s && std::strcmp(s, "copied by the C library") == 0);
    std::free(s);
    char *t = strndup("abcdef", 3);
    CHECK(t && std::strcmp(t, "abc") == 0 && malloc_usable_size(t) >= 4);
    std::free(t);
    char *a = nullptr;
    CHECK(asprintf(&a, "%d and %s", 42, "more") > 0);
    a = static_cast<char *>(std::realloc(a, 10));
    CHECK(a);
    std::free(a);
}

// open_memstream: the C library's buffer, grown by it, freed by the program.
static void memstream()
{
    char *buf = nullptr;
    size_t size = 0;
    FILE *m = open_memstream(&buf, &size);
    CHECK(m);
    for (int i = 0; i < 1000; i++)
        std::fprintf(m, "%d ", i);
    std::fclose(m);
    CHECK(size > 3000 && buf);
    std::free(buf);
}

// The rest of the family, from the program.
static void family()
{
    void *c = std::calloc(100, 10);
    CHECK(c && static_cast<char *>(c)[999] == 0);
    std::free(c);
    void *al = aligned_alloc(64, 256);
    CHECK(al && reinterpret_cast<uintptr_t>(al) % 64 == 0);
    std::free(al);
    void *pm = nullptr;
    CHECK(posix_memalign(&pm, 128, 100) == 0 && reinterpret_cast<uintptr_t>(pm) % 128 == 0);
    std::free(pm);
    void *big = std::malloc(5 << 20);
    CHECK(big);
    std::memset(big, 1, 5 << 20);
    big = std::realloc(big, 9 << 20);
    CHECK(big);
    std::free(big);
}

struct alignas(64) Line {
    char bytes[64];
};

// new and delete of each kind, and strings and vectors that libstdc++ grows.
static void cxx()
{
    int *one = new int(7);
    int *many = new int[100]();
    Line *line = new Line;
    CHECK(reinterpret_cast<uintptr_t>(line) % 64 == 0);
    int *none = new (std::nothrow) int[10];
    CHECK(none);
    delete one;
    delete[] many;
    delete line;
    delete[] none;
    std::string s;
    for (int i = 0; i < 200; i++)
        s += "grown by libstdc++ ";
    std::vector<std::string> v(50, s);
    v.resize(500, "short");
    CHECK(v[499] == "short" && v[0].size() == s.size());
}

int main(int argc, char **argv)
{
    if (argc < 2 || std::strcmp(argv[1], "owner") != 0) {
        lines();
        libc_blocks();
        memstream();
        family();
        cxx();
    }
    void *q = std::malloc(10);
    std::printf("served by lgmalloc: %s\n", lg_owns && lg_owns(q) ? "yes" : "no");
    std::free(q);
    return 0;
}
