#!/usr/bin/env bash
# Installs the build into a temporary directory and builds programs from it
# the way README says, with pkg-config alone: the usual dynamic program,
# a fully static one, and one in the pure --wrap mode.  Each must be served
# by lgmalloc (app.c checks with lg_owns).
#
#   check.sh BUILD_DIR CC
set -euo pipefail
build=$1
cc=$2
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

meson install -C "$build" --destdir "$tmp/dest" --no-rebuild --quiet >/dev/null
pcdir=$(dirname "$(find "$tmp/dest" -name lgmalloc.pc | head -n 1)")
prefix=$(sed -n 's/^prefix=//p' "$pcdir/lgmalloc.pc")
export PKG_CONFIG_PATH=$pcdir
flags() { pkg-config --define-variable=prefix="$tmp/dest$prefix" --static --cflags --libs "$1"; }

# shellcheck disable=SC2046 # the flags are meant to split
"$cc" "$here/app.c" -o "$tmp/app" $(flags lgmalloc)
"$tmp/app"
echo "pkg-config lgmalloc: ok"

printf 'int main(void) { return 0; }\n' >"$tmp/probe.c"
if "$cc" -static "$tmp/probe.c" -o "$tmp/probe" 2>/dev/null; then
    # shellcheck disable=SC2046
    "$cc" -static "$here/app.c" -o "$tmp/app-static" $(flags lgmalloc-static)
    "$tmp/app-static"
    echo "pkg-config lgmalloc-static (-static): ok"
fi

# shellcheck disable=SC2046
"$cc" "$here/app.c" -o "$tmp/app-wrap" $(flags lgmalloc-wrap)
"$tmp/app-wrap" wrap
echo "pkg-config lgmalloc-wrap: ok"
