"""The programs of the field suite: how each is fetched, built, tested, and
how its test suite's results are read.

Every program is built twice from the same Debian source, with the same
options: "plain" (glibc's malloc) and "lgmalloc", linked the way
docs/linking.md tells users for its build system (the installed
lgmalloc.pc, `pkg-config --static --libs lgmalloc`): autoconf's LIBS,
Redis's REDIS_LDFLAGS, a plain Makefile's LDLIBS.
"""

import glob
import os
import re

import makefiles

CFLAGS = "-O2 -g"

# What lg__fatal() writes before it aborts (lib/init.c): every lgmalloc
# abort carries this line.
ABORT_MARK = "lgmalloc: the program misused the heap"
ABORT_RE = re.compile(r"lgmalloc: (free\(\)|realloc\(\)|heap |free\(\)/realloc\(\)|"
                      r"the program misused)[^\n]*")
CRASH_RE = re.compile(r"(Segmentation fault|core dumped|Aborted|stack smashing|"
                      r"double free or corruption|free\(\): invalid|malloc\(\): )[^\n]*")


class Program:
    """One program: subclasses fill in the recipe."""
    name = ""
    package = ""          # the Debian source package
    quick = False         # part of --quick
    suite = ""            # what its own test suite is, for the docs
    binary = ""           # the executable checked with nm, relative to the tree
    link_note = ""        # how lgmalloc was linked when README's way failed

    def __init__(self, ctx):
        self.ctx = ctx

    # -- steps; each returns the shell command to run in the build tree ------
    def prepare_source(self, srcdir):
        """Once, in the unpacked source, before it is copied per variant."""
        return None

    def build(self, variant, lgflags):
        raise NotImplementedError

    def test(self, variant):
        raise NotImplementedError

    def stats_run(self, tree, data):
        """A short representative run for LGMALLOC_STATS=1."""
        return None

    def results(self, tree, log):
        """{test name: PASS | FAIL | SKIP} from the test suite's output."""
        raise NotImplementedError


def automake_results(tree):
    """The .trs files of automake's parallel test harness."""
    res = {}
    for trs in glob.glob(os.path.join(tree, "**", "*.trs"), recursive=True):
        name = os.path.relpath(trs, tree)[:-4]
        status = None
        with open(trs, errors="replace") as f:
            for line in f:
                if line.startswith(":test-result:"):
                    status = line.split()[1]
        if status in ("PASS", "XFAIL"):
            res[name] = "PASS"
        elif status == "SKIP":
            res[name] = "SKIP"
        elif status is not None:
            res[name] = "FAIL"
    return res


class Sed(Program):
    name = "sed"
    package = "sed"
    quick = True
    binary = "sed/sed"
    suite = ("`make check`: sed's testsuite/ (shell and Perl tests, automake harness); "
             "the full run adds gnulib's unit tests (gnulib-tests/)")

    def build(self, variant, lgflags):
        libs = f' LIBS="{lgflags}"' if variant == "lgmalloc" else ""
        return (f'./configure -C -q --disable-dependency-tracking CFLAGS="{CFLAGS}"{libs} '
                f'&& make -j{self.ctx.jobs}')

    def test(self, variant):
        subdirs = " SUBDIRS=." if self.ctx.quick else ""
        return f"make -k -j{self.ctx.jobs} check{subdirs}"

    def stats_run(self, tree, data):
        return (f"./sed/sed -E 's/([a-z]+) ([a-z]+)/\\2 \\1/g; s/[aeiou]+/<&>/g; "
                f"/^$/d' {data}/text.txt > /dev/null")

    def results(self, tree, log):
        return automake_results(tree)


class Jq(Program):
    name = "jq"
    package = "jq"
    binary = "jq"
    suite = ("`make check` (every jq program under valgrind's memcheck, as jq's "
             "configure sets up when valgrind is installed): tests/jqtest (~500 programs), "
             "onigtest, shtest, utf8test, base64test, mantest, optionaltest")
    link_note = "autoconf LIBS: the jq executable and the shared libjq.so with the same flags"

    def prepare_source(self, srcdir):
        return "autoreconf -fi"

    def build(self, variant, lgflags):
        libs = f' LIBS="{lgflags}"' if variant == "lgmalloc" else ""
        return (f'./configure -C -q --disable-docs --disable-maintainer-mode '
                f'--disable-dependency-tracking CFLAGS="{CFLAGS}"{libs} '
                f'&& make -j{self.ctx.jobs}')

    def test(self, variant):
        return f"make -k -j{self.ctx.jobs} check"

    def stats_run(self, tree, data):
        return (f"./jq -c 'map(select(.n % 3 == 0) | {{k: .s, v: [.n, .n * 2], t: .tags}}) "
                f"| group_by(.v[0] % 7) | map(length)' {data}/data.json > /dev/null")

    def results(self, tree, log):
        # jqtest and onigtest run many jq programs each: count those, one
        # entry a program, failures named by their line in the .test file.
        res = automake_results(tree)
        for name in ("tests/jqtest", "tests/onigtest"):
            try:
                with open(os.path.join(tree, name + ".log"), errors="replace") as f:
                    text = f.read()
            except OSError:
                continue
            m = re.search(r"^(\d+) of (\d+) tests passed", text, re.M)
            if not m or name not in res:
                continue
            del res[name]
            for line in re.findall(r"^\*\*\*.*at line (?:number )?(\d+)", text, re.M):
                res[f"{name}:{line}"] = "FAIL"
            for i in range(int(m[1])):
                res[f"#{name}-{i}"] = "PASS"
        return res


class Gawk(Program):
    name = "gawk"
    package = "gawk"
    binary = "gawk"
    suite = "`make check`: gawk's test/ (~560 awk programs compared with their expected output)"
    link_note = "autoconf LIBS: the gawk executable and its extension modules with the same flags"

    def build(self, variant, lgflags):
        # No -C: extension/'s own configure rejects the top one's cache.
        # Debian's source lacks the GFDL manual's sources: touched, as
        # debian/rules does, so that doc/ does not try to remake them.
        libs = f' LIBS="{lgflags}"' if variant == "lgmalloc" else ""
        cmd = (f'./configure -q --disable-dependency-tracking CFLAGS="{CFLAGS}"{libs} '
               '&& touch --date="Jan 01 2000" doc/gawktexi.in doc/sidebar.awk doc/gawk.texi '
               'doc/gawk.info doc/gawkinet.texi doc/gawkinet.info doc/gawkworkflow.texi '
               'doc/gawkworkflow.info doc/pm-gawk.texi doc/pm-gawk.info '
               f'&& make -j{self.ctx.jobs}')
        return cmd

    def test(self, variant):
        return "make -k check"

    def stats_run(self, tree, data):
        return ("./gawk '{ for (i = 1; i <= NF; i++) { c[tolower($i)]++; s[NR % 50] = s[NR % 50] $i } } "
                "END { for (w in c) n++; PROCINFO[\"sorted_in\"] = \"@val_num_desc\"; "
                f"for (w in c) if (++k > 10) break; print n }}' {data}/text.txt > /dev/null")

    def results(self, tree, log):
        # Each test echoes its name; a failed one leaves test/_NAME behind.
        res = {}
        for line in log.splitlines():
            m = re.fullmatch(r"([A-Za-z][\w.+-]*)", line.strip())
            if m and not line.startswith(("make", "gawk")):
                res[m[1]] = "PASS"
        for f in glob.glob(os.path.join(tree, "test", "_*")):
            name = os.path.basename(f)[1:]
            if name:
                res[name] = "FAIL"
        return res


class Sqlite(Program):
    name = "sqlite3"
    package = "sqlite3"
    binary = "testfixture"
    suite = ("`make testfixture`, then `testfixture test/extraquick.test` (the quick "
             "permutation of sqlite's TCL test suite, ~250,000 test cases)")

    def build(self, variant, lgflags):
        libs = f' LIBS="{lgflags}"' if variant == "lgmalloc" else ""
        return (f'./configure -C -q --disable-dependency-tracking CFLAGS="{CFLAGS}"{libs} '
                f'&& make -j{self.ctx.jobs} testfixture')

    def test(self, variant):
        # sqlite's tests refuse to run as root (attach-6.2): as nobody then.
        return ('if [ "$(id -u)" = 0 ]; then chown -R nobody . && '
                'runuser -u nobody -- ./testfixture test/extraquick.test; '
                'else ./testfixture test/extraquick.test; fi')

    def stats_run(self, tree, data):
        return f"./testfixture {data}/sqlite.tcl"

    def results(self, tree, log):
        res = {}
        m = re.search(r"(\d+) errors out of (\d+) tests", log)
        if not m:
            return res
        errors, total = int(m[1]), int(m[2])
        failed = []
        f = re.search(r"Failures on these tests:\s*(.*)", log)
        if f:
            failed = f[1].split()
        for name in failed:
            res[name] = "FAIL"
        # Passing cases are not named one by one: count them as one entry
        # each so the totals are right.
        for i in range(total - max(errors, len(failed))):
            res[f"#{i}"] = "PASS"
        return res


class Redis(Program):
    name = "redis"
    package = "redis"
    binary = "src/redis-server"
    units = ["unit/type/string", "unit/type/incr", "unit/type/list", "unit/type/hash",
             "unit/type/set", "unit/type/zset", "unit/expire", "unit/keyspace",
             "unit/dump", "unit/info", "unit/maxmemory", "unit/client-eviction",
             "unit/memefficiency", "unit/lazyfree", "unit/multi", "unit/scripting"]
    suite = ("`./runtest` on " + str(len(units)) + " units: " + ", ".join(u[5:] for u in units))
    link_note = "Redis's Makefile: MALLOC=libc, the flags in REDIS_LDFLAGS (docs/linking.md)"

    def build(self, variant, lgflags):
        base = f"make -j{self.ctx.jobs} MALLOC=libc USE_SYSTEMD=no BUILD_TLS=no"
        if variant == "lgmalloc":
            base += f' REDIS_LDFLAGS="{lgflags}"'
        return base

    def test(self, variant):
        # A test that dies with an exception stops runtest, and
        # client-eviction's depend on timing: it runs on its own, after the
        # others, with one client.
        main = " ".join(f"--single {u}" for u in self.units if u != "unit/client-eviction")
        return ("rc=0; ./runtest --clients 2 --timeout 1200 " + main + " || rc=1; "
                "./runtest --clients 1 --timeout 1200 --single unit/client-eviction || rc=1; "
                "exit $rc")

    def stats_run(self, tree, data):
        return ("port=$((21000 + RANDOM % 20000)); "
                "./src/redis-server --port $port --save '' --appendonly no --enable-debug-command yes > /dev/null & pid=$!; "
                "for i in $(seq 50); do ./src/redis-cli -p $port ping >/dev/null 2>&1 && break; sleep 0.1; done; "
                "./src/redis-benchmark -p $port -q -n 20000 -r 10000 -t set,get,lpush,lpop,sadd,hset,zadd >/dev/null 2>&1; "
                "./src/redis-cli -p $port debug populate 20000 k 600 >/dev/null 2>&1; "
                "./src/redis-cli -p $port shutdown nosave >/dev/null 2>&1; wait $pid")

    def results(self, tree, log):
        res = {}
        log = re.sub(r"\x1b\[[0-9;]*m", "", log)   # runtest colours its output
        for m in re.finditer(r"^\[(ok|err|skip|exception)\]: (.*?)(?: \(\d+ ms\))?$", log, re.M):
            status = {"ok": "PASS", "skip": "SKIP"}.get(m[1], "FAIL")
            test = m[2].strip()
            if m[1] == "exception":
                # Named in the Tcl stack trace that follows.
                t = re.search(r'"test "(.+?)" \{', log[m.end():m.end() + 3000])
                test = t[1] if t else test
            # Units repeat names (one per encoding): number the repeats.
            name, n = test, 1
            while name in res:
                n += 1
                name = f"{test} #{n}"
            res[name] = status
        return res


class TinyXML2(Program):
    name = "tinyxml2"
    package = "tinyxml2"
    quick = True
    binary = "xmltest"
    suite = ("`make xmltest && ./xmltest`: ~500 checks of parsing, printing and editing "
             "XML documents (C++: `new`/`delete`, and a pool allocator of its own for nodes)")
    link_note = "plain Makefile: the flags in LDLIBS (after the objects)"

    def build(self, variant, lgflags):
        libs = f' LDLIBS="{lgflags}"' if variant == "lgmalloc" else ""
        return f'make -j{self.ctx.jobs} xmltest CXXFLAGS="{CFLAGS} -fPIC"{libs}'

    def test(self, variant):
        return "./xmltest"

    def stats_run(self, tree, data):
        return "./xmltest > /dev/null"

    def results(self, tree, log):
        res = {}
        for m in re.finditer(r"^\[(pass|fail)\] (.*?)(?: \[.*)?$", log, re.M):
            test, n = m[2].strip(), 1
            name = test
            while name in res:
                n += 1
                name = f"{test} #{n}"
            res[name] = "PASS" if m[1] == "pass" else "FAIL"
        # A few checks print their result without a line of their own: the
        # closing "Pass N, Fail N" is the count.
        m = re.search(r"^Pass (\d+), Fail (\d+)", log, re.M)
        if m:
            for i in range(int(m[1]) - sum(1 for v in res.values() if v == "PASS")):
                res[f"#pass-{i}"] = "PASS"
            for i in range(int(m[2]) - sum(1 for v in res.values() if v == "FAIL")):
                res[f"#fail-{i}"] = "FAIL"
        return res


class Make(Program):
    name = "make"
    package = "make-dfsg"
    binary = "make"
    suite = ("`make check`: GNU make's tests/ (run_make_tests.pl: ~125 Perl scripts of "
             "~680 makefiles run and compared with their expected output), one entry a "
             "makefile")

    def prepare_source(self, srcdir):
        # Debian's source ships configure.ac without configure (as debian/rules
        # runs dh_autoreconf); autopoint needs gettext's files.
        return "autoreconf -fi"

    def build(self, variant, lgflags):
        libs = f' LIBS="{lgflags}"' if variant == "lgmalloc" else ""
        return (f'./configure -C -q --disable-dependency-tracking --disable-nls '
                f'--without-guile CFLAGS="{CFLAGS}"{libs} && make -j{self.ctx.jobs}')

    def test(self, variant):
        return "make -k check"

    def stats_run(self, tree, data):
        d = makefiles.flat(os.path.join(data, "make-flat-10000"), 10000)
        return f"./make -C {d} -n -B > /dev/null"

    def results(self, tree, log):
        # "features/comments ...... ok     (1 passed)", "... FAILED (2/3
        # passed)", "... N/A"; a failed makefile N leaves
        # tests/work/SCRIPT.diff (N = 1) or SCRIPT.diff_(N-1).
        res = {}
        for m in re.finditer(r"^(\S+) \.+ (?:ok +\((\d+) passed\)|FAILED \((\d+)/(\d+) passed\)"
                             r"|FAILED \(no tests found!\)|(N/A))", log, re.M):
            script = m[1]
            if m[5]:
                res[script] = "SKIP"
            elif m[2]:
                for i in range(1, int(m[2]) + 1):
                    res[f"{script}:{i}"] = "PASS"
            elif m[4]:
                failed = set()
                for f in glob.glob(os.path.join(tree, "tests", "work", script + ".diff*")):
                    n = f[len(os.path.join(tree, "tests", "work", script + ".diff")):]
                    failed.add(int(n[1:]) + 1 if n[1:].isdigit() else 1)
                for i in range(1, int(m[4]) + 1):
                    res[f"{script}:{i}"] = "FAIL" if i in failed else "PASS"
                if not failed:   # died before its diff: the script as a whole
                    res[script] = "FAIL"
            else:
                res[script] = "FAIL"
        return res


ALL = [Sed, Jq, Gawk, Sqlite, Redis, TinyXML2, Make]
