/* weft-trace: the in-memory model of one weft trace, and the helpers the
 * reader, the summary and the SVG writer share. See read.c for how the
 * format (docs/trace-format.md) is read and where the spec was interpreted. */
#ifndef WT_H
#define WT_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define WT_MAX_WORKERS 4096
#define WT_DIRECT_HI 4096 /* task ids below 4097 << 40 may be indexed directly */

enum wt_end { WT_END_DONE, WT_END_AWAIT, WT_END_YIELD, WT_END_INLINE };

/* One run slice ("ph":"X","cat":"run"). Times in ns relative to t0. */
typedef struct {
  int64_t ts, dur;
  int32_t task;   /* dense task index */
  int32_t awaits; /* dense index of the awaited task, or -1 */
  int32_t name;   /* interned name, 0: unnamed ("task ID") */
  int32_t depth;  /* the slice's depth argument, -1 if absent */
  uint16_t tid;
  uint8_t end;  /* enum wt_end */
  uint8_t open; /* "open":true: closed at write time */
} wt_slice;

enum wt_mark_kind { WT_MARK_STEAL, WT_MARK_PARK, WT_MARK_UNPARK };

/* Steals, parks and unparks, kept for the pairing of parks and for the SVG. */
typedef struct {
  int64_t ts;
  uint32_t tid;
  uint32_t kind;
} wt_mark;

typedef struct {
  int64_t id;       /* the trace's task id */
  int64_t spawn_ts; /* the spawn instant */
  int64_t flow_s, flow_f; /* the spawn flow's ends (spawn, first run) */
  int32_t parent;   /* dense index of the spawning task; -1: root or unknown */
  int32_t depth;    /* -1 unknown */
  uint8_t has_spawn, has_flow_s, has_flow_f;
} wt_task;

/* A join instant: an await that returned at once (the awaited task had
 * finished). From ts on, `task` depends on `awaits`. */
typedef struct {
  int64_t ts;
  int32_t task, awaits; /* dense indices */
} wt_join;

/* A wake flow: "s" at the wake, "f" at the resume. */
typedef struct {
  int64_t s, f;
  uint8_t has_s, has_f;
} wt_wake;

typedef struct {
  char *name; /* thread_name metadata, or NULL */
  int64_t busy, parked;
  uint64_t runs, steals, stolen_tasks, given, parks, injects, events;
} wt_lane;

/* int64 -> int32 open-addressing map (key and value side by side: one
 * cache line per probe). */
typedef struct {
  int64_t key;
  int32_t val; /* -1: empty slot */
  int32_t pad;
} wt_slot;
typedef struct {
  wt_slot *slots;
  size_t cap, n;
} wt_map;

/* Interned strings: index 0 is reserved for "unnamed". */
typedef struct {
  size_t off; /* of its NUL-terminated text in the arena */
  uint64_t hash;
} wt_strent;
typedef struct {
  char *arena;
  size_t arena_len, arena_cap;
  wt_strent *ent;
  size_t n, cap;
  int32_t *slots; /* hash table of string indices, -1 empty */
  size_t nslots;
} wt_strtab;

typedef struct {
  const char *path; /* as the user gave it, for messages */
  /* header */
  int workers;
  int64_t t0_ns;
  uint64_t dropped;
  bool complete, has_complete;
  /* lanes: index = tid (0 = outside the workers, 1 + i = worker i) */
  wt_lane *lanes;
  /* tasks */
  wt_task *tasks;
  size_t ntasks, tasks_cap;
  wt_map task_map;
  /* Task ids of the runtime's form (spawner << 40 | seq) are dense per
   * spawner: direct[hi][lo] (-1 none) while dense enough; the rest are in
   * task_map. */
  int32_t *direct[WT_DIRECT_HI + 1];
  size_t direct_cap[WT_DIRECT_HI + 1], direct_n[WT_DIRECT_HI + 1];
  /* run slices */
  wt_slice *slices;
  size_t nslices, slices_cap;
  /* steals, parks, unparks */
  wt_mark *marks;
  size_t nmarks, marks_cap;
  /* join instants */
  wt_join *joins;
  size_t njoins, joins_cap;
  /* wake flows */
  wt_wake *wakes;
  size_t nwakes, wakes_cap;
  wt_map wake_map;
  wt_strtab names;
  /* time range of all timed events */
  int64_t tmin, tmax;
  bool any_time;
  /* counts */
  uint64_t events, ignored, wake_instants, completes, failed, open_slices;
  uint64_t dup_spawns, bad_flows;
  int32_t max_depth;
} wt_trace;

/* ---- errors: one line on stderr, exit status 2 ------------------------------ */
_Noreturn void wt_die(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
_Noreturn void wt_die_line(const char *path, long line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void *wt_xmalloc(size_t n);
void *wt_xcalloc(size_t n, size_t size);
/* Grows *p (elements of size sz, capacity *cap) to hold at least need. */
void wt_grow(void *pp, size_t *cap, size_t need, size_t sz);

static inline int64_t wt_sat_add(int64_t a, int64_t b) {
  if (b > 0 && a > INT64_MAX - b) return INT64_MAX;
  if (b < 0 && a < INT64_MIN - b) return INT64_MIN;
  return a + b;
}

/* ---- maps ---------------------------------------------------------------------- */
void wt_map_init(wt_map *m, size_t expect);
void wt_map_free(wt_map *m);
/* The value for key, or -1. */
int32_t wt_map_get(const wt_map *m, int64_t key);
/* The slot's value pointer for key, inserting -1 if absent (*inserted set). */
int32_t *wt_map_put(wt_map *m, int64_t key, bool *inserted);

void wt_strtab_init(wt_strtab *t);
void wt_strtab_free(wt_strtab *t);
int32_t wt_strtab_intern(wt_strtab *t, const char *s, size_t len);
const char *wt_strtab_get(const wt_strtab *t, int32_t i);

/* ---- sorting and selection --------------------------------------------------------- */
typedef struct {
  int64_t k;
  int64_t v;
} wt_kv;
void wt_sort_kv(wt_kv *a, size_t n);
/* Counting sort of items 0..n-1 into groups by group(ctx, i) (< 0: left
 * out): *start gets ngroups + 1 offsets into *idx (stable). */
void wt_group_by(size_t n, size_t ngroups, int64_t (*group)(const void *, uint32_t),
                 const void *ctx, size_t **start, uint32_t **idx);
/* Orders each group's items by key(ctx, i); equal keys keep index order. */
void wt_sort_groups(uint32_t *idx, const size_t *start, size_t ngroups,
                    int64_t (*key)(const void *, uint32_t), const void *ctx);
void wt_sort_i64(int64_t *a, size_t n);
/* Partially orders a so that a[k] is the k-th smallest (0-based). */
void wt_select_i64(int64_t *a, size_t n, size_t k);

typedef struct {
  size_t n;
  int64_t p50, p90, p99, max;
  double mean;
} wt_pct;
/* Nearest-rank percentiles of a (reordered in place). */
wt_pct wt_percentiles(int64_t *a, size_t n);

/* ---- reading, analysing, writing ----------------------------------------------------- */
void wt_trace_init(wt_trace *t);
void wt_trace_free(wt_trace *t);
/* Reads path ("-": standard input) into t; on any problem prints one line
 * and exits with status 2. keep_marks: also keep every steal (for the SVG). */
void wt_read(wt_trace *t, const char *path, bool keep_marks);

typedef struct {
  int64_t a, b;
  uint32_t tid;
} wt_ival;

typedef struct {
  int64_t work, span;
  double parallelism;
  uint64_t strands, joins, unresolved; /* joins the DAG could not place */
  int64_t wall, busy_total, parked_total;
  wt_pct spawn_lat, wake_lat, run_len;
  uint64_t tasks, roots;
  int32_t max_depth;
  double mean_depth;
  wt_ival *parked; /* park -> unpark intervals, by tid then time */
  size_t nparked;
} wt_stats;

void wt_analyse(wt_trace *t, wt_stats *st);
void wt_stats_free(wt_stats *st);
void wt_print_summary(FILE *f, const wt_trace *t, const wt_stats *st, bool json);

enum wt_color_by { WT_COLOR_DEPTH, WT_COLOR_NAME };
typedef struct {
  int width;
  enum wt_color_by color;
} wt_svg_opts;
void wt_write_svg(FILE *f, const wt_trace *t, const wt_stats *st, const wt_svg_opts *o);

/* Formatting helpers. */
void wt_fmt_dur(char *buf, size_t len, int64_t ns);
/* Writes s as JSON string contents / XML text, replacing invalid UTF-8 and
 * control characters. */
void wt_put_json_str(FILE *f, const char *s);
void wt_put_xml_str(FILE *f, const char *s);

#endif
