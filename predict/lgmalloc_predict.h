/* lgmalloc call-site prediction: the one interface between the prediction
 * and everything else (the shim, lgmalloc-scan, the tests, the benchmarks).
 *
 * The data flows one way, one folder per stage:
 *
 *   binary --analysis/--> table (table.h) --routing/--> the allocator's heaps
 *
 *   analysis/  reads an x86-64 ELF file and builds the prediction table;
 *              knows nothing of the running process (lgmalloc-scan links it
 *              alone).
 *   runtime/   the running program's table: embedded by lgmalloc-scan
 *              --embed or cached by an earlier run (table.h's bytes), else
 *              its own analysis before main or on a thread; publishes it,
 *              gives the memory the analysis used back.  Without the
 *              analysis (a -static program) only an embedded table.
 *   routing/   acts on a published table: exact-fit classes and the
 *              statistics' lookup (lib/route.h), call sites pointed at the
 *              short path (wrap/entries.h). */
#ifndef LGMALLOC_PREDICT_H
#define LGMALLOC_PREDICT_H

#include "table.h"
#include "analysis/analysis.h"

/* ---- the running program's table (runtime/self.c) ------------------------ */

/* The table of the running program, once published (NULL before, or when
 * there is none: see LGMALLOC_VERBOSE=1 for why); its origin says where
 * it came from.  A published table stays
 * valid for the life of the process; it is replaced once when DWARF evidence
 * arrives from the background thread. */
const lgp_table_t *lgp_self_table(void);

/* Blocks until the analysis of the running program has finished (both its
 * start-up part and its background part), then returns lgp_self_table(). */
const lgp_table_t *lgp_self_wait(void);

#endif /* LGMALLOC_PREDICT_H */
