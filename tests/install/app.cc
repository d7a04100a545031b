// A C++ program built from an installed lgmalloc with nothing but its
// pkg-config flags: new and delete, and the standard library's containers,
// must land in lgmalloc.  Exits non-zero, naming the first object that did
// not.  With argument "wrap" it is linked in the pure --wrap mode, where
// new and delete are lgmalloc's too.
#include <lgmalloc.h>

#include <cstdio>
#include <cstring>
#include <list>
#include <memory>
#include <new>
#include <string>
#include <unordered_map>
#include <vector>

namespace {

int failures;

void expect(bool ok, const char *what)
{
    if (!ok) {
        std::fprintf(stderr, "app.cc: %s\n", what);
        failures++;
    }
}

struct Order {
    long id;
    double price;
    char symbol[16];
};

struct alignas(64) Line {
    char bytes[64];
};

} // namespace

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "define";
    int on_stack = 0;
    expect(!lg_owns(&on_stack), "lg_owns claims a stack address");

    Order *order = new Order{};
    Order *orders = new Order[100];
    Line *line = new Line;
    Order *quiet = new (std::nothrow) Order;
    expect(lg_owns(order), "new Order is not lgmalloc's");
    expect(lg_owns(orders), "new Order[100] is not lgmalloc's");
    expect(lg_owns(line) && (reinterpret_cast<std::size_t>(line) & 63) == 0,
           "new of an over-aligned type is not lgmalloc's or not aligned");
    expect(lg_owns(quiet), "new (std::nothrow) is not lgmalloc's");
    delete order;
    delete[] orders;
    delete line;
    delete quiet;

    std::vector<std::string> words(100, std::string(40, 'w'));
    std::list<Order> book(10);
    std::unordered_map<int, std::string> names;
    names[7] = std::string(100, 'n');
    auto shared = std::make_shared<Order>();
    expect(lg_owns(words.data()) && lg_owns(words[99].data()), "std::vector<std::string> is not lgmalloc's");
    expect(lg_owns(&book.back()), "std::list's node is not lgmalloc's");
    expect(lg_owns(names[7].data()), "std::unordered_map's string is not lgmalloc's");
    expect(lg_owns(shared.get()), "std::make_shared is not lgmalloc's");

    if (failures == 0)
        std::printf("app.cc (%s): every object is lgmalloc's\n", mode);
    return failures != 0;
}
