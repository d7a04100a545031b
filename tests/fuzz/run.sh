#!/bin/sh
# Builds the allocator core and tests/fuzz/fuzz_ops.c with clang's
# libFuzzer and runs it for DURATION seconds (default 60) over the seed
# corpus in tests/fuzz/corpus (copied: new inputs go to a temporary
# directory, not into the source tree).
#
#   tests/fuzz/run.sh [DURATION]       CLANG=clang-16 picks another clang
#
# Sanitizers: -fsanitize=fuzzer,undefined.  No AddressSanitizer: lgmalloc
# maps its own memory, which ASan does not see, so an overflow inside a
# block or a block handed out twice would go unnoticed by it; the
# harness's pattern checks catch those instead.  UBSan is cheap and
# catches the core's undefined shifts, overflows and misaligned accesses.
# LG_FUZZ_SANITIZE=fuzzer,address,undefined overrides (ASan still checks
# the core's globals and stack).
#
# Exits 0 when no input failed, 1 with the failing input saved (its path is
# printed), 77 (a skip to Meson) when clang cannot build a fuzzer.
set -eu
duration=${1:-60}
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
clang=${CLANG:-clang}
sanitize=${LG_FUZZ_SANITIZE:-fuzzer,undefined}

work=$(mktemp -d "${TMPDIR:-/tmp}/lgmalloc-fuzz.XXXXXX")
trap 'rm -rf "$work"' EXIT

printf 'int LLVMFuzzerTestOneInput(const char *d, unsigned long n) { (void)d; (void)n; return 0; }\n' \
    > "$work/probe.c"
if ! "$clang" -fsanitize=fuzzer "$work/probe.c" -o "$work/probe" 2>/dev/null; then
    echo "fuzz: $clang cannot build a libFuzzer program: skipped"
    exit 77
fi

# The core's own flags are lgmalloc_c_args in meson.build.
"$clang" -std=gnu11 -O1 -g -fno-omit-frame-pointer -fsanitize="$sanitize" \
    -fno-sanitize-recover=all -D_GNU_SOURCE -fvisibility=hidden \
    -I"$root/include" -I"$root/lib" \
    "$root"/lib/*.c "$here/fuzz_ops.c" -o "$work/fuzz_ops" -lpthread

mkdir "$work/corpus" "$work/artifacts"
cp "$here"/corpus/* "$work/corpus/"
status=0
"$work/fuzz_ops" -max_total_time="$duration" -max_len=1024 -timeout=20 -rss_limit_mb=4096 \
    -print_final_stats=1 -artifact_prefix="$work/artifacts/" "$work/corpus" || status=$?
if [ "$status" -ne 0 ]; then
    keep=$(mktemp -d "${TMPDIR:-/tmp}/lgmalloc-fuzz-failed.XXXXXX")
    cp "$work"/artifacts/* "$work/fuzz_ops" "$keep/" 2>/dev/null || true
    echo "fuzz: FAILED (status $status); the input and the program are in $keep:"
    ls -l "$keep"
    echo "fuzz: reproduce with $keep/fuzz_ops $keep/crash-*"
    exit 1
fi
echo "fuzz: no failure in $duration s; $(ls "$work/corpus" | wc -l) inputs in the corpus"
