#!/usr/bin/env bash
# gawk's case: an autoconf/libtool project configured with
# LIBS="$(pkg-config --static --libs lgmalloc)", which automake puts on
# every link, the program's and its libtool module's (-module
# -avoid-version -no-undefined).  Both must build, and the host must run
# with the module loaded, blocks passing both ways (host.c, plugin.c).
# Skipped (77) without autoreconf and libtoolize.
#
#   libtool.sh BUILD_DIR CC
set -euo pipefail
build=$1
cc=$2
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
for tool in autoreconf libtoolize automake make; do
    command -v $tool >/dev/null 2>&1 || { echo "libtool.sh: no $tool: skipped"; exit 77; }
done
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

meson install -C "$build" --destdir "$tmp/dest" --no-rebuild --quiet >/dev/null
pcdir=$(dirname "$(find "$tmp/dest" -name lgmalloc.pc | head -n 1)")
prefix=$(sed -n 's/^prefix=//p' "$pcdir/lgmalloc.pc")
pc() { PKG_CONFIG_PATH=$pcdir pkg-config --define-variable=prefix="$tmp/dest$prefix" "$@"; }

mkdir "$tmp/src"
cp "$here/libtool/configure.ac" "$here/libtool/Makefile.am" "$here/host.c" "$here/plugin.c" "$tmp/src/"
cd "$tmp/src"
if ! { autoreconf -fi &&
       ./configure CC="$cc" LIBS="$(pc --static --libs lgmalloc)" CPPFLAGS="$(pc --cflags lgmalloc)" &&
       make; } >"$tmp/build.log" 2>&1; then
    tail -n 30 "$tmp/build.log" >&2
    echo "libtool.sh: the program or its libtool module did not build with LIBS from lgmalloc.pc" >&2
    exit 1
fi
if ! LGMALLOC_PREDICT_SYNC=1 ./host .libs/plugin.so; then
    echo "libtool.sh: the host and its libtool module do not share lgmalloc" >&2
    exit 1
fi
echo "autoconf LIBS, program and libtool module: ok"
