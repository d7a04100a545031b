// cxx-cache: a C++ LRU cache whose every object comes from lgmalloc.
//
// Shows that a C++ program linked with lgmalloc_dep needs nothing more:
// operator new and delete are lgmalloc's, so the nodes of std::list and
// std::unordered_map, the bucket arrays, and the buffers of std::string all
// are.  The cache maps string keys to string values with the usual pair of
// a list (newest first) and a hash map into it; clients get and put keys
// drawn mostly from a hot set, so entries churn: strings are built, copied,
// grown and destroyed all the time.  Every value is checked when it is
// read, and every so often a sample of the cache's objects is checked with
// lg_owns().  Prints hit rate and lgmalloc's statistics.
//
// Exits non-zero if an object was not lgmalloc's or a value was wrong.
//
// Usage: cxx-cache [operations [capacity]]   (default 2000000 20000)
#include <lgmalloc.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <list>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>

namespace {

class LruCache {
public:
    using Entry = std::pair<std::string, std::string>;

    explicit LruCache(std::size_t capacity) : capacity_(capacity) {}

    std::optional<std::string> get(const std::string &key)
    {
        auto found = index_.find(key);
        if (found == index_.end())
            return std::nullopt;
        entries_.splice(entries_.begin(), entries_, found->second);
        return found->second->second;
    }

    void put(std::string key, std::string value)
    {
        auto found = index_.find(key);
        if (found != index_.end()) {
            found->second->second = std::move(value);
            entries_.splice(entries_.begin(), entries_, found->second);
            return;
        }
        if (entries_.size() == capacity_) {
            index_.erase(entries_.back().first);
            entries_.pop_back();
            evictions_++;
        }
        entries_.emplace_front(std::move(key), std::move(value));
        index_.emplace(entries_.front().first, entries_.begin());
    }

    // Counts the objects of the cache that are not lgmalloc's: list nodes,
    // hash map nodes and the strings' buffers, of every stride-th entry.
    std::size_t foreign_objects(std::size_t stride) const
    {
        std::size_t foreign = 0, i = 0;
        for (const Entry &entry : entries_) {
            if (i++ % stride != 0)
                continue;
            foreign += !lg_owns(&entry);             // inside the list's node
            foreign += !lg_owns(entry.first.data());
            foreign += !lg_owns(entry.second.data());
        }
        i = 0;
        for (const auto &slot : index_) {
            if (i++ % stride != 0)
                continue;
            foreign += !lg_owns(&slot);              // inside the map's node
            foreign += !lg_owns(slot.first.data());
        }
        return foreign;
    }

    std::size_t size() const { return entries_.size(); }
    std::size_t evictions() const { return evictions_; }

private:
    std::size_t capacity_;
    std::size_t evictions_ = 0;
    std::list<Entry> entries_;
    std::unordered_map<std::string, std::list<Entry>::iterator> index_;
};

std::uint64_t rng_state = 0x2545f4914f6cdd1dULL;

std::uint64_t rng()
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

// Keys long enough that std::string keeps them on the heap (more than the
// 15 characters of the small-string buffer).
std::string key_for(std::uint64_t n)
{
    return "session:" + std::to_string(n) + ":user-profile";
}

// The value a key has: its length varies with the key, its text is the key's.
std::string value_for(const std::string &key, std::uint64_t n)
{
    std::string value = "{\"key\":\"" + key + "\",\"payload\":\"";
    value.append(16 + n % 1500, static_cast<char>('a' + n % 26));
    value += "\"}";
    return value;
}

} // namespace

int main(int argc, char **argv)
{
    std::size_t operations = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 2000000;
    std::size_t capacity = argc > 2 ? std::strtoull(argv[2], nullptr, 10) : 20000;
    if (operations < 1 || capacity < 1) {
        std::fprintf(stderr, "usage: cxx-cache [operations [capacity]]\n");
        return EXIT_FAILURE;
    }

    LruCache cache(capacity);
    std::size_t hits = 0, misses = 0, wrong = 0, foreign = 0, checks = 0;
    auto start = std::chrono::steady_clock::now();
    for (std::size_t op = 0; op < operations; op++) {
        // Nine in ten requests go to a hot set a little larger than the cache.
        std::uint64_t range = rng() % 10 != 0 ? capacity + capacity / 4 : capacity * 20;
        std::uint64_t n = rng() % range;
        std::string key = key_for(n);
        if (auto value = cache.get(key)) {
            hits++;
            if (*value != value_for(key, n))
                wrong++;
        } else {
            misses++;
            cache.put(key, value_for(key, n));
        }
        if (op % (operations / 8 + 1) == 0) {
            foreign += cache.foreign_objects(/* stride: */ 7);
            checks++;
        }
    }
    foreign += cache.foreign_objects(/* stride: */ 1);
    double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

    std::printf("cxx-cache: %zu operations in %.3f s (%.0f per second): %zu hits (%.1f%%), "
                "%zu misses, %zu evictions, %zu entries now\n",
                operations, seconds, static_cast<double>(operations) / seconds, hits,
                100.0 * static_cast<double>(hits) / static_cast<double>(operations), misses,
                cache.evictions(), cache.size());
    std::printf("wrong values: %zu; objects not from lgmalloc: %zu (in %zu checks and a full "
                "one)\n\n", wrong, foreign, checks);
    std::fflush(stdout);
    lg_stats_print(stdout);

    // Every miss stored a value; what is not in the cache now was evicted.
    bool ok = wrong == 0 && foreign == 0 && cache.evictions() == misses - cache.size();
    if (!ok)
        std::fprintf(stderr, "cxx-cache: FAILED\n");
    return ok ? EXIT_SUCCESS : EXIT_FAILURE;
}
