#!/usr/bin/env bash
# Installs the build into a temporary directory and builds programs from it
# the way README says, with pkg-config alone: the usual dynamic program (as
# PIE and as non-PIE), a fully static one, one in the pure --wrap mode, a
# C++ one, a CMake project through pkg_check_modules and a Meson project
# through dependency(); first, that every module's flags carry one linker
# option per -Wl, (no comma-joined lists).  Each must be
# served by lgmalloc (app.c and app.cc check with lg_owns) and, where
# lgmalloc.pc brings the prediction, have it linked in and running.
#
#   check.sh BUILD_DIR CC [CXX]     (no CXX: no C++ program; no cmake: no CMake)
set -euo pipefail
build=$1
cc=$2
cxx=${3:-}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

meson install -C "$build" --destdir "$tmp/dest" --no-rebuild --quiet >/dev/null
pcdir=$(dirname "$(find "$tmp/dest" -name lgmalloc.pc | head -n 1)")
prefix=$(sed -n 's/^prefix=//p' "$pcdir/lgmalloc.pc")
export PKG_CONFIG_PATH=$pcdir
flags() { pkg-config --define-variable=prefix="$tmp/dest$prefix" --static --cflags --libs "$1"; }

# Flags that scripts and build systems carry whole: one linker option per
# -Wl, (no -Wl,a,b lists, no --whole-archive around a path), so that no
# comma but the one after -Wl is left, and `sed 's/-Wl,/-Xlinker /g'`
# gives flags without any comma for a script that cannot take one
# (docs/linking.md); the program linked with those must work too.
for pc in "$pcdir"/*.pc; do
    module=$(basename "$pc" .pc)
    for flag in $(flags "$module"); do
        if [[ ${flag#-Wl,} == *,* ]]; then
            echo "check.sh: $module.pc: more than one option in $flag" >&2
            exit 1
        fi
    done
done
echo "pkg-config flags, one option per -Wl,: ok"

# Built with prediction, lgmalloc.pc names its archive, and every program
# linked with it must have the analysis in it and see it run before main.
predict=
if pkg-config --libs lgmalloc | grep -q -- -llgmalloc_predict; then
    predict=predict
fi

# check NAME EXE [ARG...]: runs EXE, which checks its blocks itself; with
# the prediction also checks that the analysis ran.
check() {
    local name=$1 exe=$2
    shift 2
    if ! LGMALLOC_PREDICT_SYNC=1 LGMALLOC_VERBOSE=1 "$exe" "$@" 2>"$tmp/stderr"; then
        cat "$tmp/stderr" >&2
        echo "check.sh: $name failed" >&2
        exit 1
    fi
    if [[ " $* " == *" predict "* ]] && ! grep -q "^lgmalloc: prediction" "$tmp/stderr"; then
        cat "$tmp/stderr" >&2
        echo "check.sh: $name: the prediction did not run (LGMALLOC_VERBOSE=1 says nothing)" >&2
        exit 1
    fi
    echo "$name: ok"
}

# expect_type EXE DYN|EXEC: a PIE is ELF type DYN, a non-PIE one EXEC.
expect_type() {
    local type
    type=$(readelf -h "$1" | sed -n 's/^ *Type: *\([A-Z]*\).*/\1/p')
    if [[ $type != "$2" ]]; then
        echo "check.sh: $1 is ELF type $type, not $2" >&2
        exit 1
    fi
}

# shellcheck disable=SC2046 # the flags are meant to split
"$cc" "$here/app.c" -o "$tmp/app" $(flags lgmalloc)
check "pkg-config lgmalloc" "$tmp/app" $predict

# shellcheck disable=SC2046
"$cc" "$here/app.c" -o "$tmp/app-xlinker" $(flags lgmalloc | sed 's/-Wl,/-Xlinker /g')
check "pkg-config lgmalloc (-Xlinker, no comma)" "$tmp/app-xlinker" $predict

# The fast layout for programs whose flags reach no shared object.
# shellcheck disable=SC2046
"$cc" "$here/app.c" -o "$tmp/app-exe" $(flags lgmalloc-exe)
check "pkg-config lgmalloc-exe" "$tmp/app-exe" $predict

# The flags before the objects, where some Makefiles put them (Redis'
# REDIS_LDFLAGS): the start wrapper pulls everything in on its own.
# shellcheck disable=SC2046
"$cc" $(flags lgmalloc) "$here/app.c" -o "$tmp/app-flags-first"
check "pkg-config lgmalloc (flags before the objects)" "$tmp/app-flags-first" $predict
# shellcheck disable=SC2046
"$cc" $(flags lgmalloc-nopredict) "$here/app.c" -o "$tmp/app-nopredict-flags-first"
check "pkg-config lgmalloc-nopredict (flags before the objects)" "$tmp/app-nopredict-flags-first"

# shellcheck disable=SC2046
"$cc" -fPIE -pie "$here/app.c" -o "$tmp/app-pie" $(flags lgmalloc)
expect_type "$tmp/app-pie" DYN
check "pkg-config lgmalloc (-pie)" "$tmp/app-pie" $predict

# shellcheck disable=SC2046
"$cc" -fno-pie -no-pie "$here/app.c" -o "$tmp/app-no-pie" $(flags lgmalloc)
expect_type "$tmp/app-no-pie" EXEC
check "pkg-config lgmalloc (-no-pie)" "$tmp/app-no-pie" $predict

printf 'int main(void) { return 0; }\n' >"$tmp/probe.c"
if "$cc" -static "$tmp/probe.c" -o "$tmp/probe" 2>/dev/null; then
    # shellcheck disable=SC2046
    "$cc" -static "$here/app.c" -o "$tmp/app-static" $(flags lgmalloc-static)
    check "pkg-config lgmalloc-static (-static)" "$tmp/app-static"
fi

# shellcheck disable=SC2046
"$cc" "$here/app.c" -o "$tmp/app-wrap" $(flags lgmalloc-wrap)
check "pkg-config lgmalloc-wrap" "$tmp/app-wrap" wrap

if [[ -n $cxx ]]; then
    # shellcheck disable=SC2046
    "$cxx" "$here/app.cc" -o "$tmp/app-cxx" $(flags lgmalloc)
    check "pkg-config lgmalloc (C++)" "$tmp/app-cxx" define $predict
    # shellcheck disable=SC2046
    "$cxx" "$here/app.cc" -o "$tmp/app-cxx-wrap" $(flags lgmalloc-wrap)
    check "pkg-config lgmalloc-wrap (C++)" "$tmp/app-cxx-wrap" wrap
else
    echo "pkg-config lgmalloc (C++): skipped, no C++ compiler"
fi

# CMake reads the .pc files itself, so they get the temporary prefix here.
if command -v cmake >/dev/null 2>&1; then
    mkdir "$tmp/pc" "$tmp/cmake-src"
    for pc in "$pcdir"/*.pc; do
        sed "s|^prefix=.*|prefix=$tmp/dest$prefix|" "$pc" >"$tmp/pc/$(basename "$pc")"
    done
    cp "$here/CMakeLists.txt" "$here/app.c" "$tmp/cmake-src/"
    if ! PKG_CONFIG_PATH=$tmp/pc cmake -S "$tmp/cmake-src" -B "$tmp/cmake-build" \
            -DCMAKE_C_COMPILER="$cc" -DCMAKE_BUILD_TYPE=Release >"$tmp/cmake.log" 2>&1 ||
        ! cmake --build "$tmp/cmake-build" >>"$tmp/cmake.log" 2>&1; then
        cat "$tmp/cmake.log" >&2
        echo "check.sh: the CMake project did not build" >&2
        exit 1
    fi
    check "cmake pkg_check_modules (IMPORTED_TARGET)" "$tmp/cmake-build/app-cmake-target" $predict
    check "cmake pkg_check_modules (STATIC_LDFLAGS)" "$tmp/cmake-build/app-cmake-flags" $predict
else
    echo "cmake pkg_check_modules: skipped, no cmake"
fi

# Meson's dependency('lgmalloc') through pkg-config (tests/consumer's
# project, found installed here rather than as a subproject): Meson splits
# and reorders flags too.
if command -v meson >/dev/null 2>&1; then
    mkdir -p "$tmp/pc" "$tmp/meson-src"
    for pc in "$pcdir"/*.pc; do
        sed "s|^prefix=.*|prefix=$tmp/dest$prefix|" "$pc" >"$tmp/pc/$(basename "$pc")"
    done
    cp "$here/../consumer/meson.build" "$here/../consumer/consumer.c" "$here/../consumer/consumer.cc" \
        "$tmp/meson-src/"
    if ! CC=$cc PKG_CONFIG_PATH=$tmp/pc meson setup "$tmp/meson-build" "$tmp/meson-src" \
            --wrap-mode=nofallback >"$tmp/meson.log" 2>&1 ||
        ! meson compile -C "$tmp/meson-build" >>"$tmp/meson.log" 2>&1; then
        cat "$tmp/meson.log" >&2
        echo "check.sh: the Meson project did not build with dependency('lgmalloc') from pkg-config" >&2
        exit 1
    fi
    check "meson dependency('lgmalloc') from pkg-config" "$tmp/meson-build/consumer-c" $predict
else
    echo "meson dependency('lgmalloc') from pkg-config: skipped, no meson"
fi
