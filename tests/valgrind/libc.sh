#!/bin/sh
# Runs tests/valgrind/libc.cc, linked with lgmalloc, under valgrind: blocks
# pass between the program and the C library (getline, strdup,
# open_memstream, realloc of the C library's blocks, new/delete), and
# valgrind must see one allocator (wrap/handover.h).
#
#   tests/valgrind/libc.sh PROGRAM VALGRIND CHECK
#
#   memcheck   memcheck reports no error, and the C library's allocator
#              served the program (handed over)
#   callgrind  under callgrind, which replaces no allocator, lgmalloc
#              serves: what bench/ counts
#   override   LGMALLOC_VALGRIND=0 keeps lgmalloc under memcheck, and =1
#              hands over without valgrind
set -eu
prog=$1
valgrind=$2
check=$3
log=$(mktemp "${TMPDIR:-/tmp}/lgmalloc-valgrind.XXXXXX")
trap 'rm -f "$log"' EXIT
failed=0

served() { # what, expected yes|no, output
    case $3 in
        *"served by lgmalloc: $2"*) echo "ok: $1" ;;
        *) echo "FAIL: $1: the program said: $3"; failed=1 ;;
    esac
}

case $check in
memcheck)
    rc=0
    out=$("$valgrind" --leak-check=full --error-exitcode=99 --log-file="$log" "$prog") || rc=$?
    if [ "$rc" -eq 0 ]; then
        echo "ok: no error under memcheck"
    else
        echo "FAIL: exit status $rc under memcheck (99: memcheck found errors)"
        failed=1
    fi
    served "the C library's allocator served the program" no "$out"
    echo "---- memcheck's report ----"
    sed 's/^==[0-9]*== //' "$log"
    ;;
callgrind)
    out=$("$valgrind" --tool=callgrind --callgrind-out-file=/dev/null --log-file="$log" "$prog" owner)
    served "lgmalloc serves under callgrind" yes "$out"
    ;;
override)
    out=$(LGMALLOC_VALGRIND=0 "$valgrind" --log-file="$log" "$prog" owner)
    served "LGMALLOC_VALGRIND=0: lgmalloc serves under memcheck" yes "$out"
    out=$(LGMALLOC_VALGRIND=1 "$prog" owner)
    served "LGMALLOC_VALGRIND=1: the C library serves without valgrind" no "$out"
    ;;
*)
    echo "unknown check $check"
    exit 2
    ;;
esac
exit $failed
