#!/usr/bin/env bash
# A program that builds plugins, linked the way autoconf projects link
# (LIBS="$(pkg-config --static --libs lgmalloc)" on every link): the host
# (host.c) and the plugin it dlopens (plugin.c, a shared object) are built
# from an installed lgmalloc with exactly the same flags.  The plugin must
# link, take nothing of lgmalloc in, and use the host's allocator: blocks
# go both ways between them (host.c checks with lg_owns).  It must also
# load into a program without lgmalloc; linked with the flags before its
# objects, into the host.  With lgmalloc-nopredict too.
#
#   plugin.sh BUILD_DIR CC
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

for module in lgmalloc lgmalloc-nopredict; do
    flags=$(pkg-config --define-variable=prefix="$tmp/dest$prefix" --static --cflags --libs $module)
    # shellcheck disable=SC2086 # the flags are meant to split
    if ! "$cc" -fPIC -shared "$here/plugin.c" -o "$tmp/plugin.so" $flags 2>"$tmp/link.log"; then
        cat "$tmp/link.log" >&2
        echo "plugin.sh: $module: the plugin does not link with the host's flags" >&2
        exit 1
    fi
    # Nothing of lgmalloc's allocator in it: no thread-local storage, no
    # lg_ function, no analysis.
    if readelf -lW "$tmp/plugin.so" | grep -q ' TLS ' ||
        nm "$tmp/plugin.so" | grep -Eq ' [TtDdBb] (lg_|lg__|lgp_)'; then
        nm "$tmp/plugin.so" | grep -E ' (lg_|lg__|lgp_)' >&2 || true
        echo "plugin.sh: $module: the plugin has a copy of lgmalloc in it" >&2
        exit 1
    fi
    # shellcheck disable=SC2086
    "$cc" "$here/host.c" -o "$tmp/host" $flags
    if ! LGMALLOC_PREDICT_SYNC=1 "$tmp/host" "$tmp/plugin.so"; then
        echo "plugin.sh: $module: the host and its plugin do not share lgmalloc" >&2
        exit 1
    fi
    "$cc" -DLG_PLAIN_HOST "$here/host.c" -o "$tmp/host-plain" -ldl
    if ! "$tmp/host-plain" "$tmp/plugin.so"; then
        echo "plugin.sh: $module: the plugin does not work in a program without lgmalloc" >&2
        exit 1
    fi
    # The flags before the plugin's objects: the linker searched the
    # archives before it saw a call, so __wrap_malloc & co. stay undefined
    # in the plugin and come from the host, which exports them.
    # shellcheck disable=SC2086
    "$cc" -fPIC -shared $flags "$here/plugin.c" -o "$tmp/plugin-first.so"
    if ! "$tmp/host" "$tmp/plugin-first.so"; then
        echo "plugin.sh: $module: a plugin linked with the flags first does not load into the host" >&2
        exit 1
    fi
    echo "$module: program and plugin with the same flags: ok"
done
