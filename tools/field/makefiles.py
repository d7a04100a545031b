"""Generated makefiles that model a large project's build, for GNU make's
runs (the field test's LGMALLOC_STATS run, bench/real/run).  Deterministic:
the same arguments write the same files.  Each writes DIR/Makefile and the
source tree it names (empty files: make only stats them).  Run as `make
-C DIR -n` (list every command of a full build, as compile-database tools
such as compiledb do, without running them), or for flat() also as `make
-C DIR`: an incremental build that finds everything up to date.

- flat(n): one rule a translation unit, as a generated flat Makefile has
  it (CMake's or a kernel-style build's): `oN.o: src/sN.c src/sN.h
  include/hM.h include/config.h` with a compile recipe, a per-object
  flags variable, and one link of all the objects; the objects and the
  program exist, made after the sources (`make -n -B` lists the full build).
- automake(libs, per): a non-recursive Automake Makefile.in as configure
  leaves it: `libs` convenience libraries of `per` sources each, their
  _SOURCES and _OBJECTS variables, Automake's verbosity variables, the
  suffix rule `.c.o`, and one `include`d dependency file (.Po, as gcc -MD
  -MP writes it: the object's own, shared and system headers, and an
  empty rule for each header) per object.
"""

import os

# A stamp written last: a directory without it is made again.
DONE = ".generated"


def _touch(path):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    open(path, "w").close()


def _start(d):
    if os.path.exists(os.path.join(d, DONE)):
        return False
    os.makedirs(d, exist_ok=True)
    return True


def flat(d, n):
    """A flat makefile of n objects in directory d."""
    if not _start(d):
        return d
    shared = [f"include/h{i}.h" for i in range(100)] + ["include/config.h"]
    for h in shared:
        _touch(os.path.join(d, h))
    objs = [f"o{i}.o" for i in range(n)]
    with open(os.path.join(d, "Makefile"), "w") as f:
        f.write("CC := cc\nCFLAGS := -O2 -g -Wall\nCPPFLAGS := -Iinclude -DHAVE_CONFIG_H\n\n"
                "all: prog\n\n")
        f.write("OBJS := " + " ".join(objs) + "\n\n")
        f.write("prog: $(OBJS)\n\t$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)\n\n")
        for i in range(n):
            _touch(os.path.join(d, f"src/s{i}.c"))
            _touch(os.path.join(d, f"src/s{i}.h"))
            f.write(f"o{i}.o: src/s{i}.c src/s{i}.h include/h{i % 100}.h include/config.h\n"
                    f"\t$(CC) $(CPPFLAGS) $(FLAGS_o{i}) $(CFLAGS) -c -o $@ $<\n"
                    f"FLAGS_o{i} := -DUNIT={i}\n")
    for o in objs + ["prog"]:       # the last build's outputs, newer than the sources
        _touch(os.path.join(d, o))
    _touch(os.path.join(d, DONE))
    return d


# Automake's own lines, as a generated Makefile.in carries them.
AUTOMAKE_HEAD = """\
SHELL = /bin/bash
srcdir = .
top_builddir = .
DEPDIR = .deps
OBJEXT = o
CC = gcc
DEFS = -DHAVE_CONFIG_H
DEFAULT_INCLUDES = -I.
AM_CPPFLAGS = -I$(srcdir)/include -I$(top_builddir)/include
CPPFLAGS =
AM_CFLAGS = -Wall -Wextra
CFLAGS = -g -O2
AR = ar
ARFLAGS = cr
RANLIB = ranlib
COMPILE = $(CC) $(DEFS) $(DEFAULT_INCLUDES) $(INCLUDES) $(AM_CPPFLAGS) \\
	$(CPPFLAGS) $(AM_CFLAGS) $(CFLAGS)
AM_V_P = $(am__v_P_$(V))
am__v_P_ = $(am__v_P_$(AM_DEFAULT_VERBOSITY))
am__v_P_0 = false
am__v_P_1 = :
AM_V_GEN = $(am__v_GEN_$(V))
am__v_GEN_ = $(am__v_GEN_$(AM_DEFAULT_VERBOSITY))
am__v_GEN_0 = @echo "  GEN     " $@;
am__v_GEN_1 =
AM_V_at = $(am__v_at_$(V))
am__v_at_ = $(am__v_at_$(AM_DEFAULT_VERBOSITY))
am__v_at_0 = @
am__v_at_1 =
AM_V_CC = $(am__v_CC_$(V))
am__v_CC_ = $(am__v_CC_$(AM_DEFAULT_VERBOSITY))
am__v_CC_0 = @echo "  CC      " $@;
am__v_CC_1 =
AM_V_AR = $(am__v_AR_$(V))
am__v_AR_ = $(am__v_AR_$(AM_DEFAULT_VERBOSITY))
am__v_AR_0 = @echo "  AR      " $@;
am__v_AR_1 =
AM_DEFAULT_VERBOSITY = 0
am__mv = mv -f
am__depfiles_remade =
am__leading_dot = .
am__dirstamp = $(am__leading_dot)dirstamp
MKDIR_P = /bin/mkdir -p

all: all-am

.SUFFIXES:
.SUFFIXES: .c .o
.c.o:
	$(AM_V_CC)depbase=`echo $@ | sed 's|[^/]*$$|$(DEPDIR)/&|;s|\\.o$$||'`;\\
	$(COMPILE) -MT $@ -MD -MP -MF $$depbase.Tpo -c -o $@ $< &&\\
	$(am__mv) $$depbase.Tpo $$depbase.Po

"""

SYSTEM_HEADERS = ([f"/usr/include/{h}.h" for h in (
    "stdio", "stdlib", "string", "errno", "stdint", "stddef", "limits", "unistd",
    "fcntl", "assert", "ctype", "time", "signal", "locale", "wchar")] +
    [f"/usr/include/x86_64-linux-gnu/bits/{h}.h" for h in (
        "libc-header-start", "wordsize", "types", "typesizes", "time64", "stdio_lim",
        "floatn", "floatn-common", "stdlib-float", "waitflags", "waitstatus",
        "endian", "endianness", "byteswap", "uintn-identity", "select",
        "pthreadtypes", "thread-shared-types", "pthreadtypes-arch", "atomic_wide_counter",
        "struct_mutex", "struct_rwlock", "stdint-intn", "stdint-uintn", "posix_opt",
        "environments", "confname", "getopt_posix", "getopt_core", "fcntl",
        "fcntl-linux", "stat", "struct_stat")])


def automake(d, libs, per):
    """A non-recursive Automake makefile of libs libraries of per sources each."""
    if not _start(d):
        return d
    shared = [f"include/common{i}.h" for i in range(40)] + ["config.h"]
    for h in shared:
        _touch(os.path.join(d, h))
    names = [f"lib/m{m}/libm{m}.a" for m in range(libs)]
    with open(os.path.join(d, "Makefile"), "w") as f:
        f.write(AUTOMAKE_HEAD)
        f.write("noinst_LIBRARIES = " + " \\\n\t".join(names) + "\n\n"
                "LIBRARIES = $(noinst_LIBRARIES)\n\n")
        for m in range(libs):
            v = f"lib_m{m}_libm{m}_a"
            srcs = [f"lib/m{m}/f{k}.c" for k in range(per)]
            f.write(f"{v}_AR = $(AR) $(ARFLAGS)\n{v}_LIBADD =\n"
                    f"{v}_SOURCES = " + " \\\n\t".join(srcs) + "\n"
                    f"am_{v}_OBJECTS = " + " \\\n\t".join(
                        f"lib/m{m}/f{k}.$(OBJEXT)" for k in range(per)) + "\n"
                    f"{v}_OBJECTS = $(am_{v}_OBJECTS)\n"
                    f"lib/m{m}/libm{m}.a: $({v}_OBJECTS) $({v}_DEPENDENCIES) "
                    f"$(EXTRA_{v}_DEPENDENCIES) lib/m{m}/$(am__dirstamp)\n"
                    f"\t$(AM_V_at)-rm -f $@\n"
                    f"\t$(AM_V_AR)$({v}_AR) $@ $({v}_OBJECTS) $({v}_LIBADD)\n"
                    f"\t$(AM_V_at)$(RANLIB) $@\n"
                    f"lib/m{m}/$(am__dirstamp):\n\t@$(MKDIR_P) lib/m{m}\n"
                    f"\t@: > lib/m{m}/$(am__dirstamp)\n"
                    f"lib/m{m}/$(DEPDIR)/$(am__dirstamp):\n\t@$(MKDIR_P) lib/m{m}/$(DEPDIR)\n"
                    f"\t@: > lib/m{m}/$(DEPDIR)/$(am__dirstamp)\n")
            own = f"lib/m{m}/m{m}.h"
            _touch(os.path.join(d, own))
            for k in range(per):
                _touch(os.path.join(d, srcs[k]))
                f.write(f"lib/m{m}/f{k}.$(OBJEXT): lib/m{m}/$(am__dirstamp) "
                        f"lib/m{m}/$(DEPDIR)/$(am__dirstamp)\n"
                        f"include lib/m{m}/$(DEPDIR)/f{k}.Po # am--include-marker\n")
                # What gcc -MD -MP writes: the source, its headers, then an
                # empty rule for each header.
                hdrs = ([own, "config.h"] +
                        [shared[(m * 7 + k * j) % 40] for j in range(1, 6)] +
                        SYSTEM_HEADERS[:20 + (k % 28)])
                hdrs = list(dict.fromkeys(hdrs))
                po = os.path.join(d, f"lib/m{m}/.deps/f{k}.Po")
                os.makedirs(os.path.dirname(po), exist_ok=True)
                with open(po, "w") as g:
                    g.write(f"lib/m{m}/f{k}.o: {srcs[k]} " + " \\\n ".join(hdrs) + "\n")
                    g.write("".join(f"{h}:\n" for h in hdrs))
        f.write("all-am: Makefile $(LIBRARIES)\n")
    _touch(os.path.join(d, DONE))
    return d
