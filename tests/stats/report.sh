#!/bin/sh
# Where the statistics go (tests/stats/report.c is the program):
#
#   tests/stats/report.sh PROGRAM CHECK
#
#   closed-stderr  LGMALLOC_STATS=1 reaches stderr although the program
#                  closed it before exit (the descriptor lgmalloc copied)
#   file           LGMALLOC_STATS=/path appends the report to that file,
#                  with the process id, and not to stderr
#   signal         LGMALLOC_STATS_SIGNAL=USR2: the signal gives a report,
#                  and the program runs on
set -eu
prog=$1
check=$2
dir=$(mktemp -d "${TMPDIR:-/tmp}/lgmalloc-stats.XXXXXX")
trap 'rm -rf "$dir"' EXIT
failed=0

has() { # what, file, pattern
    if grep -q "$3" "$2"; then
        echo "ok: $1"
    else
        echo "FAIL: $1: no line with '$3' in:"
        cat "$2"
        failed=1
    fi
}

case $check in
closed-stderr)
    LGMALLOC_STATS=1 "$prog" close-stderr 2>"$dir/err"
    has "the report reached the closed stderr" "$dir/err" "^lgmalloc: segments"
    has "with the class table" "$dir/err" "^lgmalloc: *class *requests"
    ;;
file)
    LGMALLOC_STATS="$dir/stats.txt" "$prog" close-stderr 2>"$dir/err"
    LGMALLOC_STATS="$dir/stats.txt" "$prog" close-stderr 2>>"$dir/err"
    touch "$dir/stats.txt"
    has "the report is in the file" "$dir/stats.txt" "^lgmalloc: segments"
    if [ "$(grep -c '^lgmalloc: process [0-9]' "$dir/stats.txt")" -eq 2 ]; then
        echo "ok: both processes' reports, each with its process id"
    else
        echo "FAIL: not two reports with a process id in the file"
        failed=1
    fi
    if [ -s "$dir/err" ]; then
        echo "FAIL: the report went to stderr too:"
        cat "$dir/err"
        failed=1
    fi
    ;;
signal)
    rc=0
    LGMALLOC_STATS_SIGNAL=USR2 "$prog" signal >"$dir/out" 2>"$dir/err" || rc=$?
    has "the signal gave a report" "$dir/err" "^lgmalloc: segments"
    has "said to be from a signal" "$dir/err" "from a signal"
    has "the program ran on" "$dir/out" "^running on"
    [ "$rc" -eq 0 ] || { echo "FAIL: exit status $rc"; failed=1; }
    ;;
*)
    echo "unknown check $check"
    exit 2
    ;;
esac
exit $failed
