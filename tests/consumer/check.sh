#!/usr/bin/env bash
# Builds tests/consumer, a separate Meson project, with lgmalloc as its
# subproject (a link to this source tree under its subprojects/), the way
# README says, in a temporary directory and from nothing: no part of an
# existing lgmalloc build is used.  Runs its C and C++ programs, each of
# which fails unless its allocations are lgmalloc's.
#
#   check.sh [CC [CXX [MESON...]]]
#
# An empty CC or CXX leaves the choice to Meson; with CXX the C++ program
# must be built.  MESON is the command that runs Meson (default: meson).
# Where the subproject has the prediction, both programs must have it
# linked in and see it run before main.
set -euo pipefail
cc=${1:-}
cxx=${2:-}
shift $(($# < 2 ? $# : 2))
if (($# > 0)); then meson=("$@"); else meson=(meson); fi
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

mkdir "$tmp/consumer"
cp "$here/meson.build" "$here/consumer.c" "$here/consumer.cc" "$tmp/consumer/"
mkdir "$tmp/consumer/subprojects"
ln -s "$root" "$tmp/consumer/subprojects/lgmalloc"

# --force-fallback-for: an lgmalloc installed on this machine must not
# stand in for the subproject.
(
    if [[ -n $cc ]]; then export CC=$cc; fi
    if [[ -n $cxx ]]; then export CXX=$cxx; fi
    "${meson[@]}" setup "$tmp/build" "$tmp/consumer" --force-fallback-for=lgmalloc \
        >"$tmp/setup.log" 2>&1
) || { cat "$tmp/setup.log"; exit 1; }
grep -q "Subproject lgmalloc finished" "$tmp/setup.log" ||
    { cat "$tmp/setup.log"; echo "check.sh: lgmalloc was not built as a subproject" >&2; exit 1; }
"${meson[@]}" compile -C "$tmp/build" >"$tmp/compile.log" 2>&1 ||
    { cat "$tmp/compile.log"; exit 1; }
# The subproject's tests, examples and tools stay out of the consumer's build.
if [[ -e $tmp/build/subprojects/lgmalloc/tests || -e $tmp/build/subprojects/lgmalloc/examples ]]; then
    echo "check.sh: the subproject built its tests or examples" >&2
    exit 1
fi

predict=0
if grep -Eq "instruction scan \(Zydis\) *: *(True|YES)" "$tmp/setup.log"; then
    predict=1
fi

# run EXE: it checks its own blocks; the prediction's report tells that the
# analysis is linked in whole and ran.
run() {
    if ! LGMALLOC_PREDICT_SYNC=1 LGMALLOC_VERBOSE=1 "$1" 2>"$tmp/stderr"; then
        cat "$tmp/stderr" >&2
        echo "check.sh: $(basename "$1") failed" >&2
        exit 1
    fi
    if ((predict)) && ! grep -q "^lgmalloc: prediction" "$tmp/stderr"; then
        cat "$tmp/stderr" >&2
        echo "check.sh: $(basename "$1"): the prediction did not run" >&2
        exit 1
    fi
}

run "$tmp/build/consumer-c"
if [[ -e $tmp/build/consumer-cxx ]]; then
    run "$tmp/build/consumer-cxx"
elif [[ -n $cxx ]]; then
    echo "check.sh: consumer-cxx was not built with CXX=$cxx" >&2
    exit 1
fi
echo "meson subproject: ok (prediction: $( ((predict)) && echo yes || echo no))"
