// consumer-cxx: built against lgmalloc as a Meson subproject.  Objects from
// new, and the memory the standard library's containers take, must be
// lgmalloc's; exits non-zero naming the first that is not.
#include <lgmalloc.h>

#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace {

int failures;

void expect(bool ok, const char *what)
{
    if (!ok) {
        std::fprintf(stderr, "consumer-cxx: %s\n", what);
        failures++;
    }
}

struct Session {
    long id;
    char name[40];
};

struct alignas(128) Wide {
    char bytes[200];
};

} // namespace

int main()
{
    int on_stack = 0;
    expect(!lg_owns(&on_stack), "lg_owns claims a stack address");

    Session *one = new Session{};
    Session *many = new Session[50];
    Wide *wide = new Wide;
    expect(lg_owns(one), "new Session is not lgmalloc's");
    expect(lg_owns(many), "new Session[50] is not lgmalloc's");
    expect(lg_owns(wide) && (reinterpret_cast<std::size_t>(wide) & 127) == 0,
           "new of an over-aligned type is not lgmalloc's or not aligned");
    delete one;
    delete[] many;
    delete wide;

    auto shared = std::make_shared<Session>();
    auto unique = std::make_unique<std::string>("a string long enough to live on the heap");
    std::vector<int> numbers(1000, 7);
    std::map<int, std::string> names;
    names[1] = "another string long enough for the heap";
    expect(lg_owns(shared.get()), "make_shared is not lgmalloc's");
    expect(lg_owns(unique.get()) && lg_owns(unique->data()), "std::string is not lgmalloc's");
    expect(lg_owns(numbers.data()), "std::vector's buffer is not lgmalloc's");
    expect(lg_owns(&*names.begin()), "std::map's node is not lgmalloc's");
    expect(lg_owns(names[1].data()), "a std::string in a map is not lgmalloc's");

    if (failures == 0)
        std::printf("consumer-cxx: every object is lgmalloc's\n");
    return failures != 0;
}
