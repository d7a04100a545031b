#!/bin/sh
# Runs tests/valgrind/leak.c (linked with lgmalloc built with valgrind
# annotations) under memcheck and checks that memcheck sees lgmalloc's
# blocks: the planted leak of 4242 bytes is reported as definitely lost,
# from leak_4242; the planted read after free is an invalid read in a freed
# block; and a clean run reports no error at all (no false alarm from
# lgmalloc's own memory).
#
#   tests/valgrind/check.sh PROGRAM [VALGRIND]
set -eu
prog=$1
valgrind=${2:-valgrind}
log=$(mktemp "${TMPDIR:-/tmp}/lgmalloc-valgrind.XXXXXX")
trap 'rm -f "$log"' EXIT
failed=0

# memcheck exits with its own status only for errors; leaks are counted too.
# LGMALLOC_VALGRIND=0: lgmalloc serves under memcheck (by default it hands
# every call to the C library's allocator there, wrap/handover.h).
run() {
    LGMALLOC_VALGRIND=0 "$valgrind" --leak-check=full --show-leak-kinds=definite --error-exitcode=99 \
        --log-file="$log" "$prog" "$@" || true
}

expect() { # what, pattern
    if grep -Eq "$2" "$log"; then
        echo "ok: $1"
    else
        echo "FAIL: $1: memcheck said no line matching /$2/"
        failed=1
    fi
}

show() {
    echo "---- memcheck's report ----"
    sed 's/^==[0-9]*== //' "$log"
    echo "---------------------------"
}

out=$(run)
echo "$out"
case $out in *"served by lgmalloc: yes"*) echo "ok: blocks served by lgmalloc under valgrind" ;;
    *) echo "FAIL: blocks were not lgmalloc's under valgrind"; failed=1 ;; esac
expect "the leak is definitely lost" "4,242 bytes in 1 blocks are definitely lost"
expect "the leak comes from leak_4242" "by 0x[0-9A-F]+: leak_4242"
expect "definitely lost in the summary" "definitely lost: 4,242 bytes in 1 blocks"
show

run uaf >/dev/null
expect "the read after free is reported" "Invalid read of size 1"
expect "in a freed block of 64 bytes" "Address 0x[0-9a-f]+ is 10 bytes inside a block of size 64 free'd"
expect "the read is in use_after_free" "at 0x[0-9A-F]+: use_after_free"
show

run clean >/dev/null
expect "a clean run has no error" "ERROR SUMMARY: 0 errors"
expect "a clean run loses nothing" "definitely lost: 0 bytes|All heap blocks were freed|no leaks are possible"
show

exit $failed
