#!/usr/bin/env bash
# The link without the analysis (pkg-config lgmalloc-nopredict, and the
# Meson dependency lgmalloc-nopredict): its programs load none of Zydis,
# libdwarf, libelf and zlib, and are served by lgmalloc.  Builds the core
# api test (tests/core/api.c, Criterion) from an installed lgmalloc with
# those flags, checks its DT_NEEDED with readelf -d and runs it; then the
# same for the Meson-built test-core-api-nopredict when given.
#
#   nopredict.sh BUILD_DIR CC [MESON_BUILT_EXE]
set -euo pipefail
build=$1
cc=$2
meson_exe=${3:-}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# no_analysis EXE: none of the analysis' libraries in its DT_NEEDED.
no_analysis() {
    readelf -d "$1" >"$tmp/dynamic"
    if grep -Eq 'NEEDED.*\[lib(Zydis|dwarf|elf|z)\.so' "$tmp/dynamic"; then
        grep NEEDED "$tmp/dynamic" >&2
        echo "nopredict.sh: $1 needs the analysis' libraries" >&2
        exit 1
    fi
}

# runs EXE: the api test, with the analysis asked for (it must not be there).
runs() {
    if ! LGMALLOC_VERBOSE=1 "$1" >"$tmp/out" 2>&1; then
        cat "$tmp/out" >&2
        echo "nopredict.sh: $1 failed" >&2
        exit 1
    fi
    if ! grep -q "^lgmalloc: no prediction: this program was linked without" "$tmp/out"; then
        cat "$tmp/out" >&2
        echo "nopredict.sh: $1 does not say that it was linked without the analysis" >&2
        exit 1
    fi
}

meson install -C "$build" --destdir "$tmp/dest" --no-rebuild --quiet >/dev/null
pcdir=$(dirname "$(find "$tmp/dest" -name lgmalloc-nopredict.pc | head -n 1)")
if [[ $pcdir == . ]]; then
    echo "nopredict.sh: no lgmalloc-nopredict.pc installed" >&2
    exit 1
fi
prefix=$(sed -n 's/^prefix=//p' "$pcdir/lgmalloc-nopredict.pc")
flags=$(PKG_CONFIG_PATH=$pcdir pkg-config --define-variable=prefix="$tmp/dest$prefix" \
    --static --cflags --libs lgmalloc-nopredict)
# shellcheck disable=SC2046,SC2086 # the flags are meant to split
"$cc" -fno-builtin "$here/../core/api.c" -o "$tmp/api" $(pkg-config --cflags criterion) \
    $flags $(pkg-config --libs criterion)
no_analysis "$tmp/api"
runs "$tmp/api"
echo "pkg-config lgmalloc-nopredict: ok (no Zydis, libdwarf, libelf or zlib)"

if [[ -n $meson_exe ]]; then
    no_analysis "$meson_exe"
    runs "$meson_exe"
    echo "meson lgmalloc-nopredict: ok (no Zydis, libdwarf, libelf or zlib)"
fi
