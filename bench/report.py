#!/usr/bin/env python3
"""Turns bench/run's raw.tsv and meta.json into RESULTS.md and one gnuplot
chart per group:  report.py RESULTS_DIR

Every figure is the median over the rounds; every ratio is to the reference
allocator (mimalloc, or glibc where mimalloc is absent) of the same run."""
import json
import math
import os
import shutil
import statistics
import subprocess
import sys

GROUPS = [
    ("fastpath", "Fast path", ["fastpath"]),
    ("server", "Server: predicted sizes", ["server", "threads"]),
    ("cross", "Cross-thread frees", ["larson", "xmalloc"]),
    ("sharing", "False sharing", ["cache-scratch", "cache-thrash"]),
    ("stress", "Stress", ["stress"]),
    ("large", "Growth and large blocks", ["growth", "large"]),
    ("cxx", "C++ new and delete", ["cxx"]),
    ("frag", "Fragmentation", ["frag"]),
]
# Workloads whose every thread does the same work whatever their number, so
# that time at 1 thread over time at N is throughput per thread at N
# relative to 1 ("threads" starts a fixed total of threads: not among them).
PER_THREAD = ["fastpath", "server", "larson", "xmalloc", "cache-scratch", "cache-thrash",
              "stress", "cxx"]
LOOPS = [("one size", "loop_one", "loop_one_empty", "pairs"),
         ("8 sizes, 64 live", "loop_mixed", "loop_mixed_empty", "pairs"),
         ("malloc(136), literal", "loop_const", "loop_fill_empty", "fills"),
         ("malloc(n), n = 136", "loop_var", "loop_fill_empty", "fills")]


def load(d):
    with open(os.path.join(d, "meta.json")) as f:
        meta = json.load(f)
    runs = {}
    with open(os.path.join(d, "raw.tsv")) as f:
        next(f)
        for line in f:
            w, t, a, _, wall, rss, flt, output = line.rstrip("\n").split("\t")
            r = runs.setdefault((w, int(t), a), [])
            if output != "failed":
                kv = dict(x.split("=", 1) for x in output.split() if "=" in x)
                r.append((float(wall), int(rss), int(flt), kv))
    return meta, runs


def medians(runs):
    """(workload, threads, allocator) -> dict of medians, or None if failed."""
    m = {}
    for key, r in runs.items():
        if not r:
            m[key] = None
            continue
        m[key] = {"time": statistics.median(x[0] for x in r),
                  "rss": statistics.median(x[1] for x in r) / 1024,
                  "faults": statistics.median(x[2] for x in r)}
        for k in ("end_rss_kb", "end_live_kb", "peak_live_kb"):
            if k in r[0][3]:
                m[key][k] = statistics.median(float(x[3][k]) for x in r)
    return m


def ratio(m, key, ref, field):
    a, b = m.get(key), m.get((key[0], key[1], ref))
    return a[field] / b[field] if a and b and b[field] > 0 else None


def fmt(v, ratio_v):
    if v is None:
        return "failed"
    return "%.3g (%.2f)" % (v, ratio_v) if ratio_v is not None else "%.3g" % v


def table(m, rows, allocs, ref, field, unit):
    head = "| workload | threads | " + " | ".join(allocs) + " |"
    lines = [head, "|" + "---|" * (len(allocs) + 2)]
    for w, t in rows:
        cells = [fmt(m[w, t, a][field] if m.get((w, t, a)) else None,
                     ratio(m, (w, t, a), ref, field)) for a in allocs]
        lines.append("| %s | %d | %s |" % (w, t, " | ".join(cells)))
    return "\n".join(lines) + "\n\n*%s; in brackets the ratio to %s.*\n" % (unit, ref)


def frag_table(m, rows, allocs):
    lines = ["| threads | allocator | live at peak MiB | peak RSS MiB | peak RSS / live | "
             "live at end MiB | RSS at end MiB | RSS at end / live |", "|" + "---|" * 8]
    for w, t in rows:
        for a in allocs:
            x = m.get((w, t, a))
            if not x or "end_rss_kb" not in x:
                continue
            pl, el, er = x["peak_live_kb"] / 1024, x["end_live_kb"] / 1024, x["end_rss_kb"] / 1024
            lines.append("| %d | %s | %.1f | %.1f | %.2f | %.1f | %.1f | %.2f |" % (
                t, a, pl, x["rss"], x["rss"] / pl, el, er, er / el))
    return "\n".join(lines) + "\n"


def geomean(xs):
    xs = [x for x in xs if x]
    return math.exp(sum(math.log(x) for x in xs) / len(xs)) if xs else None


def chart(d, slug, title, m, rows, allocs, ref):
    """A clustered bar chart: time and peak RSS ratios per workload."""
    data = os.path.join(d, slug + ".dat")
    with open(data, "w") as f:
        f.write("row " + " ".join(allocs) + "\n")
        for field in ("time", "rss"):
            for w, t in rows:
                vals = [ratio(m, (w, t, a), ref, field) for a in allocs]
                f.write('"%s %s/%dt" %s\n' % (field, w, t,
                        " ".join("%.3f" % v if v else "NaN" for v in vals)))
    plot = """set terminal pngcairo size 1000,480 font ",9"
set output "%s.png"
set title "%s: median time and peak RSS, ratio to %s (lower is better)"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.8 border -1
set boxwidth 0.9
set key outside right
set xtics rotate by -30
set grid ytics
set yrange [0:*]
plot for [i=2:%d] "%s.dat" using i:xtic(1) title columnheader(i)
""" % (slug, title, ref, len(allocs) + 1, slug)
    r = subprocess.run(["gnuplot"], input=plot, text=True, cwd=d, capture_output=True)
    if r.returncode != 0:
        sys.stderr.write("gnuplot %s: %s" % (slug, r.stderr))
    os.remove(data)


def scaling_table(m, names, threads, allocs):
    """Throughput per thread at each thread count relative to 1 thread."""
    cols = [t for t in threads if t > 1]
    lines = ["| workload | allocator | " + " | ".join("%d threads" % t for t in cols) + " |",
             "|" + "---|" * (len(cols) + 2)]
    for w in names:
        for a in allocs:
            one = m.get((w, 1, a))
            cells = []
            for t in cols:
                x = m.get((w, t, a))
                cells.append("%.2f" % (one["time"] / x["time"]) if one and x else "-")
            lines.append("| %s | %s | %s |" % (w, a, " | ".join(cells)))
    return "\n".join(lines) + "\n"


def cut_short(meta):
    done, planned = meta.get("runs", (0, 0))
    if done >= planned:
        return ""
    return ("; the time limit stopped it after %d of %d runs, so the last round is "
            "missing for some workloads" % (done, planned))


def instructions_section(meta):
    return ["## Fast path in instructions (callgrind)", "",
            "Instructions per malloc+free pair (first two columns) and per malloc "
            "(last two), the calls included and the same loop without them subtracted "
            "(`bench/instructions.c`, counted with `--toggle-collect='loop_*'`; lgmalloc's "
            "analysis before `main`, `LGMALLOC_PREDICT_SYNC=1`, so that the literal size's "
            "call site is patched before the loops run rather than at some point in them).", "",
            instructions_table(meta)]


def scaling_chart(d, m, names, threads, allocs):
    """One panel per workload: throughput per thread against thread count."""
    names = names[:6]
    data = os.path.join(d, "scaling.dat")
    with open(data, "w") as f:
        for w in names:           # one gnuplot index per workload
            f.write("threads " + " ".join(allocs) + "\n")
            for t in threads:
                vals = []
                for a in allocs:
                    one, x = m.get((w, 1, a)), m.get((w, t, a))
                    vals.append("%.3f" % (one["time"] / x["time"]) if one and x else "NaN")
                f.write("%d %s\n" % (t, " ".join(vals)))
            f.write("\n\n")
    rows = (len(names) + 1) // 2
    # the key once, beside the first panel
    panels = "unset key\n".join('set title "%s"\nplot for [i=2:%d] "scaling.dat" index %d '
                                'using 1:i with linespoints title columnheader(i)\n'
                                % (w, len(allocs) + 1, k) for k, w in enumerate(names))
    plot = """set terminal pngcairo size 1000,%d font ",9"
set output "scaling.png"
set multiplot layout %d,2 title "Throughput per thread relative to 1 thread (higher is better)"
set key outside right
set grid
set yrange [0:*]
set xtics (%s)
%sunset multiplot
""" % (330 * rows, rows, ", ".join(str(t) for t in threads), panels)
    r = subprocess.run(["gnuplot"], input=plot, text=True, cwd=d, capture_output=True)
    if r.returncode != 0:
        sys.stderr.write("gnuplot scaling: %s" % r.stderr)
    os.remove(data)


def instructions_table(meta):
    ins = meta["instructions"]
    lines = ["| allocator | " + " | ".join(l[0] for l in LOOPS) + " |",
             "|" + "---|" * (len(LOOPS) + 1)]
    for a, loops in ins.items():
        cells = []
        for _, loop, empty, per in LOOPS:
            n = meta["instructions_per"][per]
            cells.append("%.1f" % ((loops.get(loop, 0) - loops.get(empty, 0)) / n)
                         if loop in loops else "-")
        lines.append("| %s | %s |" % (a, " | ".join(cells)))
    return "\n".join(lines) + "\n"


def main():
    d = sys.argv[1]
    meta, runs = load(d)
    m = medians(runs)
    allocs = list(meta["linked"])
    ref = "mimalloc" if "mimalloc" in allocs else "glibc"
    present = {k[0] for k in runs}
    mc = meta["machine"]
    md = ["# lgmalloc benchmark results", "",
          "Made by `bench/run%s` on %s, commit %s." % (
              " --portable" if meta.get("portable") else "", meta["date"], meta["commit"]), "",
          "- Machine: %d CPUs, %s, Linux %s; load average %s before, %s after." % (
              mc["nproc"], mc["cpu"], mc["kernel"], mc["load_before"], mc["load_after"]),
          "- %d rounds, allocators interleaved in each; scale %g; threads %s; %.1f minutes%s." % (
              meta["rounds"], meta["scale"], ",".join(map(str, meta["threads"])),
              meta["minutes"], cut_short(meta)),
          "- Workloads compiled once (`%s`) and the same objects linked against each "
          "allocator:" % meta["cflags"], ""]
    if meta.get("portable"):
        md[-2:-2] = ["- Built elsewhere with `bench/run --portable --build-only` and run here "
                     "with `bench/run --prebuilt`: the shared libraries an allocator's binaries "
                     "need, the C and C++ runtimes aside, copied beside them (`-rpath "
                     "$ORIGIN/lib`); the runtimes are this machine's."]
    md += ["  - **%s**: %s" % (a, how) for a, how in meta["linked"].items()]
    md += ["", "Every figure is the median over the rounds of the wall time (fork to "
           "exit) or the peak RSS of the process; in brackets its ratio to **%s** "
           "from the same run: below 1 is better than %s." % (ref, ref), ""]

    summary = ["## Summary: geometric means over every workload and thread count", "",
               "| allocator | time / %s | peak RSS / %s |" % (ref, ref), "|---|---|---|"]
    all_rows = sorted({(k[0], k[1]) for k in m})
    for a in allocs:
        gt = geomean(ratio(m, (w, t, a), ref, "time") for w, t in all_rows)
        gr = geomean(ratio(m, (w, t, a), ref, "rss") for w, t in all_rows)
        summary.append("| %s | %s | %s |" % (a, "%.2f" % gt if gt else "-",
                                               "%.2f" % gr if gr else "-"))
    md += summary + [""]

    scaled = [w for w in PER_THREAD if w in present]
    if 1 in meta["threads"] and max(meta["threads"]) > 1 and scaled:
        md += ["## Scaling: throughput per thread against 1 thread", "",
               "Each thread of these workloads does the same work at any thread count, so "
               "the median time at 1 thread over the median time at N is the throughput "
               "per thread at N relative to 1: 1.00 is perfect scaling, 0.50 means each "
               "thread does half as much per second.", "",
               "![Scaling](scaling.png)", "",
               scaling_table(m, scaled, meta["threads"], allocs)]
        if shutil.which("gnuplot"):
            scaling_chart(d, m, scaled, meta["threads"], allocs)
    if "instructions" in meta:
        md += instructions_section(meta)

    for slug, title, names in GROUPS:
        rows = [(w, t) for w in names if w in present for t in meta["threads"]]
        if not rows:
            continue
        md += ["## %s" % title, "", "![%s](%s.png)" % (title, slug), "",
               "Time, seconds:", "", table(m, rows, allocs, ref, "time", "seconds"),
               "Peak RSS, MiB:", "", table(m, rows, allocs, ref, "rss", "MiB")]
        if slug in ("large", "stress"):
            md += ["Minor page faults:", "", table(m, rows, allocs, ref, "faults", "faults")]
        if slug == "frag":
            md += ["Memory held against live bytes:", "", frag_table(m, rows, allocs)]
        if shutil.which("gnuplot"):
            chart(d, slug, title, m, rows, allocs, ref)
    with open(os.path.join(d, "RESULTS.md"), "w") as f:
        f.write("\n".join(md))
    print("wrote %s" % os.path.join(d, "RESULTS.md"))


if __name__ == "__main__":
    main()
