// cxx: C++ containers through new and delete.  Each thread fills a
// std::map from strings to vectors of ints, erases and re-inserts keys, and
// builds strings, over and over.  Models a C++ service's object churn.
//
// It also checks that operator new reaches the same allocator as malloc: a
// binary linked with --wrap=malloc alone sends libstdc++'s new to glibc.
// mallinfo2 counts what one allocator holds (glibc's, or lgmalloc's, which
// defines its own); it grows by the same amount (both nothing, or both
// 256 KB) for 256 KB from malloc and from new.  The blocks of the first
// measure stay until the second is taken: an allocator that keeps freed
// memory would serve the second from it and not grow.
#include "bench.h"

#include <malloc.h>
#include <map>
#include <string>
#include <vector>

static long n_rounds;

static void *worker(void *arg)
{
    uint64_t rng = rng_seed((uint64_t)(intptr_t)arg);
    long sum = 0;
    for (long r = 0; r < n_rounds; r++) {
        std::map<std::string, std::vector<int>> m;
        for (int i = 0; i < 1000; i++) {
            std::string key = "request-" + std::to_string(rng_next(&rng) % 5000) + "-field";
            std::vector<int> &v = m[key];
            for (int j = 0; j < i % 17; j++)
                v.push_back(j);
        }
        for (auto it = m.begin(); it != m.end();) {
            sum += (long)it->second.size();
            it = it->first.size() % 2 ? m.erase(it) : std::next(it);
        }
        for (auto &kv : m)
            kv.second.assign(kv.first.size(), 1);
        for (auto &kv : m)
            sum -= (long)kv.second.size() - (long)kv.first.size();
    }
    CHECK(sum > 0);
    return nullptr;
}

// How much mallinfo2's count grows with 256 blocks of 1000 bytes from
// allocate; the blocks go into `blocks`.
template <class Alloc>
static long mallinfo2_growth(Alloc allocate, std::vector<void *> &blocks)
{
    size_t before = mallinfo2().uordblks;
    for (int i = 0; i < 256; i++)
        blocks.push_back(allocate());
    return (long)(mallinfo2().uordblks - before);
}

int main(int argc, char **argv)
{
    bench_args_t a = bench_args(argc, argv);
    n_rounds = scaled(a, 2000);
    std::vector<void *> from_malloc, from_new;
    from_malloc.reserve(256);
    from_new.reserve(256);
    long by_malloc = mallinfo2_growth([] { return malloc(1000); }, from_malloc);
    long by_new = mallinfo2_growth([] { return (void *)new char[1000]; }, from_new);
    for (void *p : from_malloc)
        free(p);
    for (void *p : from_new)
        delete[] (char *)p;
    bool new_is_malloc = (by_malloc > 128000) == (by_new > 128000);
    if (!new_is_malloc) {
        fprintf(stderr, "cxx: new and malloc are served by different allocators "
                        "(mallinfo2 grew by %ld for malloc, %ld for new)\n", by_malloc, by_new);
        return 4;
    }
    double t0 = now_s();
    run_threads(a.threads, worker);
    double dt = now_s() - t0;
    printf("cxx: rounds=%ld rounds_per_s=%.0f new_is_malloc=yes\n", n_rounds * a.threads,
           (double)n_rounds * a.threads / dt);
    return 0;
}
