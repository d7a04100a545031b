#!/usr/bin/env bash
# Builds tests/consumer, a separate Meson project, with lgmalloc as its
# subproject (a link to this source tree under its subprojects/), the way
# README says, in a temporary directory and from nothing: no part of an
# existing lgmalloc build is used.  Runs its C and C++ programs, each of
# which fails unless its allocations are lgmalloc's, linked with
# dependency('lgmalloc') and, by name, 'lgmalloc-static' and 'lgmalloc-wrap'.
# With the subproject's defaults none of its tests, examples, tools or
# benchmarks is configured, built or registered (neither Meson's
# introspection nor ninja's list of targets names one), and the secure
# build stays off in the consumer's debug build; with
# -Dlgmalloc:tests=enabled (and examples, tools, bench) they are.
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

# setup DIR LOG [OPTION...]: configures the consumer in DIR.
# --force-fallback-for: an lgmalloc installed on this machine must not
# stand in for the subproject.
setup() {
    local dir=$1 log=$2
    shift 2
    (
        if [[ -n $cc ]]; then export CC=$cc; fi
        if [[ -n $cxx ]]; then export CXX=$cxx; fi
        "${meson[@]}" setup "$dir" "$tmp/consumer" --force-fallback-for=lgmalloc "$@" \
            >"$log" 2>&1
    ) || { cat "$log"; exit 1; }
    grep -q "Subproject lgmalloc finished" "$log" ||
        { cat "$log"; echo "check.sh: lgmalloc was not built as a subproject" >&2; exit 1; }
}

# extras DIR: one line per program or test of lgmalloc's tests/, examples/,
# tools/ or bench/ that the consumer's build in DIR configures, "FOLDER
# target NAME" or "FOLDER test NAME".
extras() {
    local dir=$1
    "${meson[@]}" introspect "$dir" --targets >"$tmp/targets.json"
    "${meson[@]}" introspect "$dir" --tests >"$tmp/tests.json"
    python3 - "$tmp/targets.json" "$tmp/tests.json" <<'PY'
import json, os, sys
extra = ("tests", "examples", "tools", "bench")
def folder(path):
    # .../subprojects/lgmalloc/FOLDER/... -> FOLDER
    parts = os.path.normpath(path).split(os.sep)
    for i in range(len(parts) - 2):
        if parts[i] == "subprojects" and parts[i + 1] == "lgmalloc" and parts[i + 2] in extra:
            return parts[i + 2]
    return None
for t in json.load(open(sys.argv[1])):
    f = folder(t["defined_in"])
    if f:
        print(f, "target", t["name"])
for t in json.load(open(sys.argv[2])):
    # A subproject's test runs in suites named lgmalloc:SUITE.
    if any(s.startswith("lgmalloc:") for s in t["suite"]):
        print("tests", "test", t["name"])
PY
}

# ninja_extras DIR: the targets of the consumer's build in DIR (every one
# ninja knows, outputs of the subproject's tests/, examples/, tools/ and
# bench/ folders included) that lie in one of those folders.
ninja_extras() {
    ninja -C "$1" -t targets all |
        grep -E '^subprojects/lgmalloc/(tests|examples|tools|bench)/' || true
}

setup "$tmp/build" "$tmp/setup.log"
"${meson[@]}" compile -C "$tmp/build" >"$tmp/compile.log" 2>&1 ||
    { cat "$tmp/compile.log"; exit 1; }
# With the defaults, the subproject's tests, examples, tools and benchmarks
# stay out of the consumer's build: none configured, none built.
extras "$tmp/build" >"$tmp/extras"
if [[ -s $tmp/extras ]]; then
    cat "$tmp/extras" >&2
    echo "check.sh: the subproject configured its tests, examples, tools or benchmarks" >&2
    exit 1
fi
for d in tests examples tools bench; do
    if [[ -e $tmp/build/subprojects/lgmalloc/$d ]]; then
        echo "check.sh: the subproject built something in $d/" >&2
        exit 1
    fi
done
ninja_extras "$tmp/build" >"$tmp/ninja-extras"
if [[ -s $tmp/ninja-extras ]]; then
    head -n 20 "$tmp/ninja-extras" >&2
    echo "check.sh: ninja would build the subproject's tests, examples, tools or benchmarks" >&2
    exit 1
fi
# The consumer's build type is Meson's default, debug: lgmalloc's secure
# build must not follow it.
if ! grep -Eq "^ *secure *: *(False|NO)" "$tmp/setup.log"; then
    grep -E "^ *secure" "$tmp/setup.log" >&2 || true
    echo "check.sh: the consumer's debug build switched on lgmalloc's secure build" >&2
    exit 1
fi

predict=0
if grep -Eq "instruction scan \(Zydis\) *: *(True|YES)" "$tmp/setup.log"; then
    predict=1
fi

# run EXE [nopredict]: it checks its own blocks; the prediction's report
# tells that the analysis is linked in whole and ran (not in the link modes
# without it).
run() {
    if ! LGMALLOC_PREDICT_SYNC=1 LGMALLOC_VERBOSE=1 "$1" 2>"$tmp/stderr"; then
        cat "$tmp/stderr" >&2
        echo "check.sh: $(basename "$1") failed" >&2
        exit 1
    fi
    if ((predict)) && [[ ${2:-} != nopredict ]] && ! grep -q "^lgmalloc: prediction" "$tmp/stderr"; then
        cat "$tmp/stderr" >&2
        echo "check.sh: $(basename "$1"): the prediction did not run" >&2
        exit 1
    fi
}

run "$tmp/build/consumer-c"
run "$tmp/build/consumer-static" nopredict
run "$tmp/build/consumer-wrap" nopredict
if [[ -e $tmp/build/consumer-cxx ]]; then
    run "$tmp/build/consumer-cxx"
elif [[ -n $cxx ]]; then
    echo "check.sh: consumer-cxx was not built with CXX=$cxx" >&2
    exit 1
fi

# A consumer can still ask for them: each folder then configures programs,
# the tests are registered, and one of them builds and passes.
on=(-Dlgmalloc:tests=enabled -Dlgmalloc:examples=enabled -Dlgmalloc:bench=enabled)
if ((predict)); then on+=(-Dlgmalloc:tools=enabled); fi
setup "$tmp/build-on" "$tmp/setup-on.log" "${on[@]}"
extras "$tmp/build-on" >"$tmp/extras-on"
wants=("tests target" "tests test" "examples target" "bench target")
if ((predict)); then wants+=("tools target"); fi
ninja_extras "$tmp/build-on" >"$tmp/ninja-extras-on"
if [[ ! -s $tmp/ninja-extras-on ]]; then
    echo "check.sh: with ${on[*]}, ninja lists none of the subproject's extras" >&2
    exit 1
fi
for want in "${wants[@]}"; do
    if ! grep -q "^$want " "$tmp/extras-on"; then
        cat "$tmp/setup-on.log"
        echo "check.sh: with ${on[*]}, no $want in ${want%% *}/" >&2
        exit 1
    fi
done
"${meson[@]}" compile -C "$tmp/build-on" test-core-api \
    >"$tmp/compile-on.log" 2>&1 || { cat "$tmp/compile-on.log"; exit 1; }
"$tmp/build-on/subprojects/lgmalloc/tests/test-core-api" >"$tmp/api.log" 2>&1 ||
    { cat "$tmp/api.log"; echo "check.sh: lgmalloc's api test failed in the consumer" >&2; exit 1; }
echo "meson subproject: ok (prediction: $( ((predict)) && echo yes || echo no);" \
    "tests, examples, tools, bench: off by default, on when asked)"
