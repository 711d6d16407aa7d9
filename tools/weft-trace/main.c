/* weft-trace: reads a weft trace (docs/trace-format.md, version 1) and
 * prints a summary (`summary`, `--json`) or draws a timeline (`svg`).
 * Usage and the meaning of every number: README.md next to this file.
 *
 * How the spec is read where it leaves room (the reader follows these):
 *
 *  1. Header. Line 1 must start with {"otherData":{"weft_trace": ; without
 *     it the file is "not a weft trace". A version other than 1 is its own
 *     error. The rest of otherData is read as JSON (any order, extra keys);
 *     "workers" is required (1..4096). Lines between it and
 *     "traceEvents":[ may hold other top-level members
 *     ("displayTimeUnit":"ns",). Blank lines are skipped anywhere.
 *  2. Commas between events are accepted at the end of an event line (as
 *     in the spec) or at the start of the next one; a missing comma, or one
 *     after the last event, is an error (the file would not be JSON).
 *  3. Truncated vs malformed. No "]}" line before the end of the file:
 *     "truncated". The last line has no newline and its event (or the
 *     header) runs out before it is complete: "truncated event" on that
 *     line. An event that is incomplete at the end of a line that does end
 *     in a newline breaks "one event per line": malformed. Anything but
 *     whitespace after "]}": an error.
 *  4. Known vs unknown. Events of another "ph", another "cat" or another
 *     instant name, and extra keys anywhere, are skipped (counted, noted
 *     in the summary) so that a newer writer's additions do not break the
 *     reader. For the known kinds: a missing field the spec gives them, a
 *     value of the wrong type, a tid outside 0..workers, a steal victim
 *     outside 0..workers-1, a task id <= 0, a negative dur, an "end" that
 *     is not one of the four: malformed.
 *  5. Times. ts and dur may be any JSON number (the writer's 3 decimals
 *     are exact); they are rounded to ns; magnitudes above 1e15 us are an
 *     error.
 *  6. Names. A run slice named exactly "task ID" (its own id) is unnamed:
 *     one legend entry rather than one per task.
 *  7. Time accounting. The wall time is the whole trace's: first ts to
 *     last end over all timed events, the same for every worker; idle =
 *     wall - busy - parked, at least 0. Park and unpark pair per track in
 *     time order; a second park while parked and an unpark while not
 *     parked are ignored; a park never unparked ends at the trace's end.
 *     The tid-0 ("main") lane is listed when it has events but is not in
 *     the workers' totals. "steals" counts steal events on the thief's
 *     track; tasks_stolen (JSON) sums their counts.
 *  8. Latencies are read from the flows: an "s" and the "f" with the same
 *     name and id, which the spec puts exactly at the spawn/wake instant
 *     and at the start of the first/next run slice. This pairs each wake
 *     with its resume exactly, where matching a wake instant to "the next
 *     slice of that task" by time goes wrong when the resume's timestamp is
 *     earlier than the wake's (a wake recorded just after the task was made
 *     runnable, and a thief that started it first). A negative difference
 *     (clock skew) counts as 0; a flow end without its partner is ignored.
 *  9. Percentiles are nearest-rank: the p-th is the ceil(p*n/100)-th
 *     smallest sample.
 * 10. Work and span. Each run slice is a strand, split at its task's spawn
 *     instants. A spawn belongs to the parent's last slice that starts at or
 *     before it (clamped into that slice: a spawn stamped between two slices
 *     ends the earlier one). The child's first strand depends on the part
 *     of the parent's strand up to the spawn; the strand after an await or
 *     inline slice with "awaits" also depends on the awaited task's end.
 *     An await without "awaits" (on a future that is not a task) and a
 *     yield add no edge; nor does an await that is a task's last slice.
 *     Tasks spawned from outside (parent 0), and tasks never seen spawned,
 *     start at 0: several roots are independent (the order in which the
 *     main thread made them is not in the trace). A task that never ran
 *     ends where it was spawned. Span = the longest path over all tasks.
 *     Inconsistent traces (a wait cycle, an awaited task that never ends)
 *     are forced through and the dependencies dropped are counted.
 *     Not in the spec (so not in the DAG): an await on a task that had
 *     already finished does not suspend, leaves no slice end and so no
 *     join edge; the span can be short by what that task's path had over
 *     the awaiter's.
 * 11. Predicted speedup on P workers: min(P, work/span), and the greedy
 *     estimate work / (work/P + span), both as the spec says.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "wt.h"

#define WT_VERSION "1"

/* CPU time of the process (WEFT_TRACE_TIMES=1: per phase, on stderr). */
static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static const char usage_text[] =
    "usage: weft-trace summary [--json] TRACE\n"
    "       weft-trace svg [-o FILE] [--width PX] [--color depth|name] TRACE\n"
    "       weft-trace --help | --version\n"
    "\n"
    "  summary   per-worker busy/idle/parked time, runs, steals, parks; scheduling\n"
    "            latency and run-length percentiles; spawn-tree depth; work, span,\n"
    "            parallelism and predicted speedups. --json: the same, as JSON.\n"
    "  svg       a timeline: a lane per worker, runs coloured by spawn depth\n"
    "            (default) or by task name, steals and parks marked.\n"
    "            -o FILE (default: standard output), --width PX (default 1600).\n"
    "\n"
    "TRACE is a weft trace file (WEFT_TRACE=path), or - for standard input.\n"
    "Exit status: 0 done, 2 bad usage or a trace that cannot be read.\n";

_Noreturn static void usage(const char *why) {
  if (why) fprintf(stderr, "weft-trace: %s\n", why);
  fputs(usage_text, stderr);
  exit(2);
}

/* --name VALUE or --name=VALUE; advances *i. */
static const char *opt_value(int argc, char **argv, int *i, const char *name) {
  size_t n = strlen(name);
  const char *a = argv[*i];
  if (strncmp(a, name, n) != 0) return NULL;
  if (a[n] == '=') return a + n + 1;
  if (a[n] != 0) return NULL;
  if (*i + 1 >= argc) {
    char m[64];
    snprintf(m, sizeof m, "%s needs a value", name);
    usage(m);
  }
  return argv[++*i];
}

int main(int argc, char **argv) {
  if (argc < 2) usage(NULL);
  const char *cmd = argv[1];
  if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help")) {
    fputs(usage_text, stdout);
    return 0;
  }
  if (!strcmp(cmd, "--version")) {
    printf("weft-trace %s (reads weft trace format version 1)\n", WT_VERSION);
    return 0;
  }
  bool is_summary = !strcmp(cmd, "summary"), is_svg = !strcmp(cmd, "svg");
  if (!is_summary && !is_svg) usage("unknown command (summary or svg)");

  bool json = false, opts_done = false;
  const char *trace = NULL, *out = NULL, *v;
  wt_svg_opts so = {1600, WT_COLOR_DEPTH};
  for (int i = 2; i < argc; i++) {
    const char *a = argv[i];
    if (opts_done || a[0] != '-' || !strcmp(a, "-")) {
      if (trace) usage("more than one TRACE");
      trace = a;
    } else if (!strcmp(a, "--")) {
      opts_done = true;
    } else if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
      fputs(usage_text, stdout);
      return 0;
    } else if (is_summary && !strcmp(a, "--json")) {
      json = true;
    } else if (is_svg && (v = opt_value(argc, argv, &i, "-o"))) {
      out = v;
    } else if (is_svg && (v = opt_value(argc, argv, &i, "--output"))) {
      out = v;
    } else if (is_svg && (v = opt_value(argc, argv, &i, "--width"))) {
      char *end;
      errno = 0;
      long wd = strtol(v, &end, 10);
      if (errno || *end || end == v || wd < 300 || wd > 100000)
        usage("--width takes a number of pixels, 300..100000");
      so.width = (int)wd;
    } else if (is_svg && (v = opt_value(argc, argv, &i, "--color"))) {
      if (!strcmp(v, "depth"))
        so.color = WT_COLOR_DEPTH;
      else if (!strcmp(v, "name"))
        so.color = WT_COLOR_NAME;
      else
        usage("--color takes depth or name");
    } else {
      char m[96];
      snprintf(m, sizeof m, "unknown option for %s: %.40s", cmd, a);
      usage(m);
    }
  }
  if (!trace) usage("no TRACE given");

  static wt_trace t; /* static: reachable from anywhere when exiting on an error */
  static wt_stats st;
  wt_trace_init(&t);
  double c0 = now_s();
  wt_read(&t, trace, is_svg);
  double c1 = now_s();
  wt_analyse(&t, &st);
  double c2 = now_s();
  if (getenv("WEFT_TRACE_TIMES"))
    fprintf(stderr, "weft-trace: cpu: read %.3f s, analyse %.3f s\n", c1 - c0, c2 - c1);

  int rc = 0;
  if (is_summary) {
    wt_print_summary(stdout, &t, &st, json);
    if (fflush(stdout) != 0 || ferror(stdout)) wt_die("writing the summary: %s", strerror(errno));
  } else {
    FILE *f = stdout;
    if (out && strcmp(out, "-") != 0) {
      f = fopen(out, "w");
      if (!f) wt_die("%s: %s", out, strerror(errno));
    }
    wt_write_svg(f, &t, &st, &so);
    if (fflush(f) != 0 || ferror(f)) wt_die("%s: %s", out ? out : "standard output", strerror(errno));
    if (f != stdout && fclose(f) != 0) wt_die("%s: %s", out, strerror(errno));
  }
  wt_stats_free(&st);
  wt_trace_free(&t);
  return rc;
}
