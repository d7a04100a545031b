#!/usr/bin/env python3
"""Writes a large synthetic C program for the start-up benchmark: FILES
source files of FUNCS functions, each a switch over many arithmetic cases
with a few allocation sites, so the program has tens of MB of code.

    gen_large.py DIR [FILES [FUNCS]]

Build it with lgmalloc (docs/prediction.md, "Costs"):
    cc -O1 -g -c DIR/large_*.c ...; cc -o large DIR/*.o $(pkg-config --static --libs lgmalloc)
"""
import os
import sys

CASES = 48


def function(f, n):
    body = [f'__attribute__((noinline)) long large_{f}_{n}(long x, long y)', '{',
            '    long r = 0;', '    void *p;', '    switch ((x ^ y) & 63) {']
    for c in range(CASES):
        k = f * 7919 + n * 131 + c
        body.append(f'    case {c}: r = (x * {k % 97 + 3} + y / {k % 13 + 1}) ^ (x >> {k % 11 + 1}); '
                    f'r += (y * {k % 89 + 1}) % {k % 17 + 2}; break;')
    body.append('    default: r = x - y;')
    body.append('    }')
    body.append(f'    p = malloc({(n * 24) % 4000 + 16});')
    body.append('    if (p) { r += *(volatile char *)p; free(p); }')
    body.append(f'    p = calloc({n % 9 + 1}, {(f * 8) % 200 + 8});')
    body.append('    free(p);')
    body.append('    return r;')
    body.append('}')
    return '\n'.join(body)


def main():
    out = sys.argv[1]
    files = int(sys.argv[2]) if len(sys.argv) > 2 else 8
    funcs = int(sys.argv[3]) if len(sys.argv) > 3 else 1500
    os.makedirs(out, exist_ok=True)
    for f in range(files):
        with open(os.path.join(out, f'large_{f}.c'), 'w') as src:
            src.write('#include <stdlib.h>\n\n')
            for n in range(funcs):
                src.write(function(f, n) + '\n\n')
            src.write(f'long large_run_{f}(long x)\n{{\n    long r = 0;\n')
            for n in range(funcs):
                src.write(f'    r += large_{f}_{n}(x, r);\n')
            src.write('    return r;\n}\n')
    with open(os.path.join(out, 'large_main.c'), 'w') as src:
        src.write('#include <stdio.h>\n\n')
        for f in range(files):
            src.write(f'long large_run_{f}(long x);\n')
        src.write('\nint main(int argc, char **argv)\n{\n    (void)argv;\n    long r = 0;\n'
                  '    if (argc > 1) {\n')
        for f in range(files):
            src.write(f'        r += large_run_{f}(argc);\n')
        src.write('    }\n    printf("%ld\\n", r);\n    return 0;\n}\n')


main()
