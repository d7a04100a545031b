/* Size classes: 16-byte steps up to 128 bytes, then four classes per
 * doubling up to LG_CLASS_MAX, so rounding wastes at most a quarter; and,
 * after them, exact-fit classes for sizes the prediction found. */
#include "internal.h"

uint8_t  lg__class_of_granule[LG_TABLE_MAX / LG_GRANULE + 1];
uint32_t lg__class_size[LG_CLASSES];
uint8_t  lg__class_slices[LG_CLASSES];
_Atomic unsigned lg__class_count;
unsigned lg__class_std_count;
uint16_t lg__class_granule_lo[LG_CLASSES];

/* Slices for a page of this block size: enough for a few blocks (8 up to
 * 16 KiB, 4 up to 64 KiB, 1 above), and among the first lengths that do,
 * the one that leaves the least unused tail.  A page is given back only
 * when all its blocks are free: pages of several large blocks, each kept
 * by one block that lived on, held most of the memory of threads that
 * hand their blocks on, and their long runs of slices, longer than the
 * free runs left between pages, made new pages fault in fresh memory; see
 * docs/decisions.md#one-large-block-a-page. */
static uint8_t page_slices_for(size_t block)
{
    size_t want = block <= ((size_t)16 << 10) ? 8 : block <= ((size_t)64 << 10) ? 4 : 1;
    size_t k0 = (want * block + LG_SLICE_SIZE - 1) / LG_SLICE_SIZE;
    size_t best = k0, best_waste = SIZE_MAX;
    for (size_t k = k0; k < k0 + 3 && k < LG_SLICES; k++) {
        size_t waste = (k * LG_SLICE_SIZE) % block;
        /* valgrind: page_init takes a block off a page its blocks fill
         * exactly, so not off one that holds one block */
        if (LG_VALGRIND && waste == 0 && k * LG_SLICE_SIZE == block)
            continue;
        /* compare waste as a fraction of the page: waste/k */
        if (waste * best < best_waste * k || best_waste == SIZE_MAX) {
            best = k;
            best_waste = waste;
        }
        if (waste * 32 <= k * LG_SLICE_SIZE)
            break; /* within 3%: a longer page is not worth it */
    }
    return (uint8_t)best;
}

size_t lg__class_of_large(size_t size)
{
    size_t s = size - 1;
    unsigned b = lg__log2(s);   /* 2^b <= s < 2^(b+1) */
    return 8 + 4 * (b - 7) + ((s >> (b - 2)) & 3);
}

void lg__classes_init(void)
{
    unsigned n = 0;
    for (size_t s = LG_ALIGN; s <= 128; s += LG_ALIGN)
        lg__class_size[n++] = (uint32_t)s;
    for (size_t base = 128; base < LG_CLASS_MAX; base *= 2)
        for (size_t i = 1; i <= 4; i++)
            lg__class_size[n++] = (uint32_t)(base + i * base / 4);
    lg__class_std_count = n;
    for (unsigned c = 0; c < n; c++)
        lg__class_slices[c] = page_slices_for(lg__class_size[c]);

    unsigned c = 0;
    for (size_t g = 0; g <= LG_TABLE_MAX / LG_GRANULE; g++) {
        if (lg__class_size[c] < g * LG_GRANULE)
            lg__class_granule_lo[++c] = (uint16_t)g;
        lg__class_of_granule[g] = (uint8_t)c;
    }
    atomic_store_explicit(&lg__class_count, n, memory_order_release);
}

/* An exact-fit class of `block` bytes (a multiple of LG_GRANULE, at most
 * LG_TABLE_MAX) takes the granules up to its size from the larger class
 * that served them.  Under lg__lock.  Other threads may read the table
 * meanwhile: a granule they see unchanged maps to the larger class, whose
 * blocks fit too.  Returns the new class, or LG_CLASSES when there is no
 * room or the size has a class already. */
size_t lg__class_add_exact(size_t block)
{
    unsigned n = atomic_load_explicit(&lg__class_count, memory_order_relaxed);
    size_t top = block / LG_GRANULE;
    size_t old = lg__class_of_granule[top];
    if (n == LG_CLASSES || lg__class_size[old] == block)
        return LG_CLASSES;
    lg__class_size[n] = (uint32_t)block;
    lg__class_slices[n] = page_slices_for(block);
    size_t g = top;
    while (g > 0 && lg__class_of_granule[g - 1] == old)
        g--;
    lg__class_granule_lo[n] = (uint16_t)g;
    lg__class_granule_lo[old] = (uint16_t)(top + 1);
    /* the class exists before any granule leads to it */
    atomic_store_explicit(&lg__class_count, n + 1, memory_order_release);
    for (; g <= top; g++)
        __atomic_store_n(&lg__class_of_granule[g], (uint8_t)n, __ATOMIC_RELEASE);
    return n;
}
