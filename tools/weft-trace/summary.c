/* weft-trace: what the summary computes (docs/trace-format.md, "What the
 * summary computes from it"), and printing it as a table or as JSON. */
#include <stdlib.h>
#include <stddef.h>
#include <string.h>

#include "wt.h"

static int64_t mark_parkish_tid(const void *c, uint32_t i) {
  const wt_mark *m = &((const wt_trace *)c)->marks[i];
  return m->kind == WT_MARK_STEAL ? -1 : (int64_t)m->tid;
}
static int64_t mark_ts(const void *c, uint32_t i) { return ((const wt_trace *)c)->marks[i].ts; }

/* ---- parks ------------------------------------------------------------------------------ */

static void parks(wt_trace *t, wt_stats *st) {
  size_t *start;
  uint32_t *idx;
  size_t nl = (size_t)t->workers + 1;
  wt_group_by(t->nmarks, nl, mark_parkish_tid, t, &start, &idx);
  wt_sort_groups(idx, start, nl, mark_ts, t);
  size_t cap = 0;
  for (size_t tid = 0; tid < nl; tid++) {
    bool parked = false;
    int64_t since = 0, sum = 0;
    for (size_t j = start[tid]; j <= start[tid + 1]; j++) {
      bool last = j == start[tid + 1];
      const wt_mark *m = last ? NULL : &t->marks[idx[j]];
      if (!last && m->kind == WT_MARK_PARK) {
        if (!parked) parked = true, since = m->ts;
        continue;
      }
      if (!parked) continue;
      int64_t until = last ? (t->tmax > since ? t->tmax : since) : m->ts;
      if (until < since) until = since;
      sum = wt_sat_add(sum, until - since);
      wt_grow(&st->parked, &cap, st->nparked + 1, sizeof *st->parked);
      st->parked[st->nparked++] = (wt_ival){since, until, (uint32_t)tid};
      parked = false;
    }
    t->lanes[tid].parked = sum;
  }
  free(start);
  free(idx);
}

/* ---- work and span ------------------------------------------------------------------------ */

enum { S_UNSTARTED, S_READY, S_BLOCKED, S_DONE };

/* Each task's slices and children, copied in task order (so the walk reads
 * them sequentially), each task's in time order. */
typedef struct {
  int64_t ts, dur;
  int32_t awaits;
  uint8_t end;
} dslice_t;
typedef struct {
  int64_t ts; /* its spawn */
  int32_t task;
} dchild_t;
/* sort_by_ts reads the time at the start of each record. */
_Static_assert(offsetof(dslice_t, ts) == 0 && offsetof(dchild_t, ts) == 0, "ts first");

typedef struct {
  const wt_trace *t;
  size_t *sl_start, *ch_start;
  dslice_t *sl;
  dchild_t *ch;
  int64_t *cur;
  uint32_t *pos, *cpos;
  int32_t *pending, *wait_head, *wait_next, *stack;
  uint8_t *state, *forced, *assigned;
  size_t sp;
  uint64_t strands, joins, unresolved;
} dag_t;

static void assign(dag_t *d, int32_t c, int64_t v) {
  if (d->assigned[c]) return;
  d->assigned[c] = 1;
  d->cur[c] = v;
  d->state[c] = S_READY;
  d->stack[d->sp++] = c;
}

/* Runs of equal keys back into index order. */
static void stable_ties(wt_kv *a, size_t n) {
  for (size_t i = 0; i < n;) {
    size_t j = i + 1;
    while (j < n && a[j].k == a[i].k) j++;
    for (size_t x = i + 1; x < j; x++) {
      wt_kv y = a[x];
      size_t z = x;
      while (z > i && a[z - 1].v > y.v) {
        a[z] = a[z - 1];
        z--;
      }
      a[z] = y;
    }
    i = j;
  }
}

/* Advances task T until it finishes or waits for a task not finished yet. */
static void walk(dag_t *d, int32_t T) {
  const wt_trace *t = d->t;
  size_t sa = d->sl_start[T], nsl = d->sl_start[T + 1] - sa;
  size_t ca = d->ch_start[T], nch = d->ch_start[T + 1] - ca;
  int64_t cur = d->cur[T];
  while (d->pos[T] < nsl) {
    int32_t x = d->pending[T];
    if (x >= 0) {
      if (d->state[x] == S_DONE) {
        if (d->cur[x] > cur) cur = d->cur[x];
        d->joins++;
      } else if (d->forced[T]) {
        d->unresolved++;
      } else {
        /* A child awaited before its spawn instant was placed (timestamps
         * out of order): its spawn came before the await. */
        if (t->tasks[x].has_spawn && t->tasks[x].parent == T) assign(d, x, cur);
        d->cur[T] = cur;
        d->state[T] = S_BLOCKED;
        d->wait_next[T] = d->wait_head[x];
        d->wait_head[x] = T;
        return;
      }
      d->pending[T] = -1;
    }
    uint32_t p = d->pos[T];
    const dslice_t *sl = &d->sl[sa + p];
    int64_t next = p + 1 < nsl ? sl[1].ts : INT64_MAX;
    while (d->cpos[T] < nch) {
      int32_t c = d->ch[ca + d->cpos[T]].task;
      int64_t ts = d->ch[ca + d->cpos[T]].ts;
      if (ts >= next) break;
      int64_t off = ts - sl->ts;
      if (off < 0) off = 0;
      if (off > sl->dur) off = sl->dur;
      if (!d->assigned[c]) d->strands++; /* the spawn splits the strand */
      assign(d, c, wt_sat_add(cur, off));
      d->cpos[T]++;
    }
    cur = wt_sat_add(cur, sl->dur);
    d->strands++;
    if ((sl->end == WT_END_AWAIT || sl->end == WT_END_INLINE) && sl->awaits >= 0 && sl->awaits != T)
      d->pending[T] = sl->awaits;
    d->pos[T] = p + 1;
  }
  while (d->cpos[T] < nch) { /* spawned by a task with no slices */
    assign(d, d->ch[ca + d->cpos[T]].task, cur);
    d->cpos[T]++;
  }
  d->cur[T] = cur;
  d->state[T] = S_DONE;
  for (int32_t w = d->wait_head[T]; w >= 0;) {
    int32_t nx = d->wait_next[w];
    if (d->state[w] == S_BLOCKED && d->pending[w] == T) {
      d->state[w] = S_READY;
      d->stack[d->sp++] = w;
    }
    w = nx;
  }
  d->wait_head[T] = -1;
}

/* The time of record i of an array of records of `size` bytes, each
 * starting with an int64_t time (dslice_t, dchild_t). */
static int64_t ts_at(const char *a, size_t i, size_t size) {
  int64_t t;
  memcpy(&t, a + i * size, sizeof t);
  return t;
}

/* Puts n such records in time order; ties keep their order (stable).
 * Usually they already are in order, and nothing is copied. */
static void sort_by_ts(void *base, size_t n, size_t size, wt_kv **tmp, size_t *cap) {
  char *a = base;
  size_t i = 1;
  while (i < n && ts_at(a, i - 1, size) <= ts_at(a, i, size)) i++;
  if (i >= n) return;
  wt_grow(tmp, cap, n, sizeof **tmp);
  char *cp = wt_xmalloc(n * size);
  memcpy(cp, a, n * size);
  for (size_t j = 0; j < n; j++) (*tmp)[j] = (wt_kv){ts_at(cp, j, size), (int64_t)j};
  wt_sort_kv(*tmp, n);
  stable_ties(*tmp, n);
  for (size_t j = 0; j < n; j++) memcpy(a + j * size, cp + (size_t)(*tmp)[j].v * size, size);
  free(cp);
}

/* Puts each task's slices and children in time order. */
static void sort_runs(dag_t *d, size_t nt) {
  wt_kv *tmp = NULL;
  size_t cap = 0;
  for (size_t g = 0; g < nt; g++) {
    sort_by_ts(d->sl + d->sl_start[g], d->sl_start[g + 1] - d->sl_start[g], sizeof *d->sl, &tmp,
               &cap);
    sort_by_ts(d->ch + d->ch_start[g], d->ch_start[g + 1] - d->ch_start[g], sizeof *d->ch, &tmp,
               &cap);
  }
  free(tmp);
}

static int64_t join_task(const void *ctx, uint32_t i) {
  return ((const wt_trace *)ctx)->joins[i].task;
}
static int64_t join_ts(const void *ctx, uint32_t i) { return ((const wt_trace *)ctx)->joins[i].ts; }

/* A join instant (an await that returned at once) splits its task's slice
 * there: the piece before ends as if it awaited the joined task, so the
 * walk makes the piece after depend on it like any resumed await. A join
 * belongs to the last slice that starts at or before it (clamped into it:
 * the writer records it while that slice is open). Each join adds one
 * piece. */
static void split_at_joins(const wt_trace *t, dag_t *d, size_t nt) {
  size_t *jstart;
  uint32_t *jidx;
  wt_group_by(t->njoins, nt, join_task, t, &jstart, &jidx);
  wt_sort_groups(jidx, jstart, nt, join_ts, t);
  size_t total = d->sl_start[nt] + t->njoins;
  dslice_t *out = wt_xmalloc(total * sizeof *out + 1);
  size_t *ostart = wt_xcalloc(nt + 2, sizeof *ostart);
  size_t k = 0;
  for (size_t g = 0; g < nt; g++) {
    ostart[g] = k;
    const dslice_t *a = d->sl + d->sl_start[g];
    size_t n = d->sl_start[g + 1] - d->sl_start[g];
    size_t j = jstart[g], je = jstart[g + 1];
    for (size_t i = 0; i < n; i++) {
      int64_t until = i + 1 < n ? a[i + 1].ts : INT64_MAX, done = 0;
      for (; j < je && (t->joins[jidx[j]].ts < until || i + 1 == n); j++) {
        int64_t off = t->joins[jidx[j]].ts - a[i].ts;
        if (off < done) off = done;
        if (off > a[i].dur) off = a[i].dur;
        out[k++] = (dslice_t){a[i].ts + done, off - done, t->joins[jidx[j]].awaits, WT_END_AWAIT};
        done = off;
      }
      out[k++] = (dslice_t){a[i].ts + done, a[i].dur - done, a[i].awaits, a[i].end};
    }
    /* (the joins of a task with no slices split nothing) */
  }
  ostart[nt] = k;
  free(d->sl);
  free(d->sl_start);
  d->sl = out;
  d->sl_start = ostart;
  free(jstart);
  free(jidx);
}

static void drain(dag_t *d) {
  while (d->sp) walk(d, d->stack[--d->sp]);
}

static void work_span(wt_trace *t, wt_stats *st) {
  size_t nt = t->ntasks;
  dag_t d = {0};
  d.t = t;
  /* slices by task (a counting sort), each task's by time */
  d.sl_start = wt_xcalloc(nt + 2, sizeof *d.sl_start);
  for (size_t i = 0; i < t->nslices; i++) d.sl_start[t->slices[i].task + 2]++;
  for (size_t g = 2; g < nt + 2; g++) d.sl_start[g] += d.sl_start[g - 1];
  d.sl = wt_xmalloc(t->nslices * sizeof *d.sl + 1);
  for (size_t i = 0; i < t->nslices; i++) {
    const wt_slice *x = &t->slices[i];
    d.sl[d.sl_start[x->task + 1]++] = (dslice_t){x->ts, x->dur, x->awaits, x->end};
  }
  /* children by parent, each parent's by spawn time */
  d.ch_start = wt_xcalloc(nt + 2, sizeof *d.ch_start);
  size_t nch = 0;
  for (size_t i = 0; i < nt; i++)
    if (t->tasks[i].has_spawn && t->tasks[i].parent >= 0) d.ch_start[t->tasks[i].parent + 2]++, nch++;
  for (size_t g = 2; g < nt + 2; g++) d.ch_start[g] += d.ch_start[g - 1];
  d.ch = wt_xmalloc(nch * sizeof *d.ch + 1);
  for (size_t i = 0; i < nt; i++) {
    const wt_task *k = &t->tasks[i];
    if (k->has_spawn && k->parent >= 0) d.ch[d.ch_start[k->parent + 1]++] = (dchild_t){k->spawn_ts, (int32_t)i};
  }
  sort_runs(&d, nt);
  if (t->njoins) split_at_joins(t, &d, nt);
  d.cur = wt_xcalloc(nt, sizeof *d.cur);
  d.pos = wt_xcalloc(nt, sizeof *d.pos);
  d.cpos = wt_xcalloc(nt, sizeof *d.cpos);
  d.pending = wt_xmalloc(nt * sizeof *d.pending);
  d.wait_head = wt_xmalloc(nt * sizeof *d.wait_head);
  d.wait_next = wt_xmalloc(nt * sizeof *d.wait_next);
  d.stack = wt_xmalloc(nt * sizeof *d.stack);
  d.state = wt_xcalloc(nt, 1);
  d.forced = wt_xcalloc(nt, 1);
  d.assigned = wt_xcalloc(nt, 1);
  for (size_t i = 0; i < nt; i++) d.pending[i] = d.wait_head[i] = d.wait_next[i] = -1;

  int64_t work = 0;
  for (size_t i = 0; i < t->nslices; i++) work = wt_sat_add(work, t->slices[i].dur);

  /* Roots (spawned from outside, or never seen spawned) start at 0. Tasks
   * are pushed in reverse so that they are walked in id order. */
  for (size_t i = nt; i-- > 0;)
    if (!t->tasks[i].has_spawn || t->tasks[i].parent < 0) assign(&d, (int32_t)i, 0);
  drain(&d);
  /* What an inconsistent trace leaves: waits that never end (a cycle, an
   * awaited task that never finishes) and tasks whose spawner never got to
   * them. Forced through, in index order; the joins are counted. */
  for (size_t i = 0; i < nt; i++) {
    if (d.state[i] == S_BLOCKED) {
      d.forced[i] = 1;
      d.state[i] = S_READY;
      d.stack[d.sp++] = (int32_t)i;
      drain(&d);
    } else if (d.state[i] == S_UNSTARTED) {
      d.forced[i] = 1;
      d.unresolved++;
      assign(&d, (int32_t)i, 0);
      drain(&d);
    }
  }
  int64_t span = 0;
  for (size_t i = 0; i < nt; i++)
    if (d.cur[i] > span) span = d.cur[i];
  st->work = work;
  st->span = span;
  st->parallelism = span > 0 ? (double)work / (double)span : 0;
  st->strands = d.strands;
  st->joins = d.joins;
  st->unresolved = d.unresolved;
  free(d.sl_start);
  free(d.sl);
  free(d.ch_start);
  free(d.ch);
  free(d.cur);
  free(d.pos);
  free(d.cpos);
  free(d.pending);
  free(d.wait_head);
  free(d.wait_next);
  free(d.stack);
  free(d.state);
  free(d.forced);
  free(d.assigned);
}

/* ---- everything ------------------------------------------------------------------------------ */

void wt_analyse(wt_trace *t, wt_stats *st) {
  memset(st, 0, sizeof *st);
  st->wall = t->any_time ? t->tmax - t->tmin : 0;
  parks(t, st);
  for (int i = 1; i <= t->workers; i++) {
    st->busy_total = wt_sat_add(st->busy_total, t->lanes[i].busy);
    st->parked_total = wt_sat_add(st->parked_total, t->lanes[i].parked);
  }

  size_t n = 0;
  int64_t *a = wt_xmalloc((t->ntasks > t->nwakes ? t->ntasks : t->nwakes) * sizeof *a + 8);
  for (size_t i = 0; i < t->ntasks; i++) {
    const wt_task *k = &t->tasks[i];
    if (k->has_flow_s && k->has_flow_f) a[n++] = k->flow_f > k->flow_s ? k->flow_f - k->flow_s : 0;
  }
  st->spawn_lat = wt_percentiles(a, n);
  n = 0;
  for (size_t i = 0; i < t->nwakes; i++) {
    const wt_wake *w = &t->wakes[i];
    if (w->has_s && w->has_f) a[n++] = w->f > w->s ? w->f - w->s : 0;
  }
  st->wake_lat = wt_percentiles(a, n);
  free(a);
  a = wt_xmalloc(t->nslices * sizeof *a + 8);
  for (size_t i = 0; i < t->nslices; i++) a[i] = t->slices[i].dur;
  st->run_len = wt_percentiles(a, t->nslices);
  free(a);

  st->tasks = t->ntasks;
  st->max_depth = t->max_depth;
  double dsum = 0;
  size_t dn = 0;
  for (size_t i = 0; i < t->ntasks; i++) {
    const wt_task *k = &t->tasks[i];
    if (k->has_spawn && k->parent < 0) st->roots++;
    if (k->depth >= 0) dsum += k->depth, dn++;
  }
  st->mean_depth = dn ? dsum / (double)dn : 0;
  work_span(t, st);
}

void wt_stats_free(wt_stats *st) {
  free(st->parked);
  st->parked = NULL;
  st->nparked = 0;
}

/* ---- printing ------------------------------------------------------------------------------ */

static const int speedup_p[] = {2, 4, 8, 16, 32, 64};
#define NP (sizeof speedup_p / sizeof speedup_p[0])

static double pct(int64_t x, int64_t of) { return of > 0 ? 100.0 * (double)x / (double)of : 0; }

static int64_t idle_of(const wt_lane *l, int64_t wall) {
  int64_t used = wt_sat_add(l->busy, l->parked); /* both >= 0 */
  return used < wall ? wall - used : 0;
}

static const char *lane_name(const wt_trace *t, int tid, char *buf, size_t len) {
  if (t->lanes[tid].name) return t->lanes[tid].name;
  if (tid == 0) return "main";
  snprintf(buf, len, "weft-w%d", tid - 1);
  return buf;
}

static void json_pct(FILE *f, const char *key, const wt_pct *p, bool comma) {
  fprintf(f, "    \"%s\": {\"n\": %zu, \"p50_ns\": %lld, \"p90_ns\": %lld, \"p99_ns\": %lld, "
             "\"max_ns\": %lld, \"mean_ns\": %.1f}%s\n",
          key, p->n, (long long)p->p50, (long long)p->p90, (long long)p->p99, (long long)p->max,
          p->mean, comma ? "," : "");
}

static void print_json(FILE *f, const wt_trace *t, const wt_stats *st) {
  char nb[32];
  fputs("{\n  \"file\": \"", f);
  wt_put_json_str(f, t->path);
  fprintf(f, "\",\n  \"weft_trace\": 1,\n  \"workers\": %d,\n  \"t0_ns\": %lld,\n", t->workers,
          (long long)t->t0_ns);
  fprintf(f, "  \"dropped\": %llu,\n  \"complete\": %s,\n  \"events\": %llu,\n  \"ignored_events\": %llu,\n",
          (unsigned long long)t->dropped, t->complete ? "true" : "false",
          (unsigned long long)t->events, (unsigned long long)t->ignored);
  fprintf(f, "  \"open_slices\": %llu,\n  \"start_ns\": %lld,\n  \"end_ns\": %lld,\n  \"wall_ns\": %lld,\n",
          (unsigned long long)t->open_slices, (long long)(t->any_time ? t->tmin : 0),
          (long long)(t->any_time ? t->tmax : 0), (long long)st->wall);
  fputs("  \"lanes\": [\n", f);
  bool first = true;
  for (int tid = 0; tid <= t->workers; tid++) {
    const wt_lane *l = &t->lanes[tid];
    if (tid == 0 && !l->events) continue;
    int64_t idle = idle_of(l, st->wall);
    fprintf(f, "%s    {\"tid\": %d, \"worker\": ", first ? "" : ",\n", tid);
    if (tid) fprintf(f, "%d", tid - 1); else fputs("null", f);
    fputs(", \"name\": \"", f);
    wt_put_json_str(f, lane_name(t, tid, nb, sizeof nb));
    fprintf(f, "\", \"busy_ns\": %lld, \"busy_pct\": %.3f, ", (long long)l->busy, pct(l->busy, st->wall));
    if (tid) /* idle means nothing outside the workers */
      fprintf(f, "\"idle_ns\": %lld, \"idle_pct\": %.3f, ", (long long)idle, pct(idle, st->wall));
    else
      fputs("\"idle_ns\": null, \"idle_pct\": null, ", f);
    fprintf(f, "\"parked_ns\": %lld, \"parked_pct\": %.3f, \"runs\": %llu, \"steals_taken\": %llu, "
               "\"tasks_stolen\": %llu, \"steals_given\": %llu, \"parks\": %llu, \"injects\": %llu}",
            (long long)l->parked, pct(l->parked, st->wall), (unsigned long long)l->runs,
            (unsigned long long)l->steals, (unsigned long long)l->stolen_tasks,
            (unsigned long long)l->given, (unsigned long long)l->parks,
            (unsigned long long)l->injects);
    first = false;
  }
  fputs("\n  ],\n  \"latency\": {\n", f);
  json_pct(f, "spawn_to_first_run", &st->spawn_lat, true);
  json_pct(f, "wake_to_resume", &st->wake_lat, false);
  fputs("  },\n  \"run_length\": {\n", f);
  json_pct(f, "run", &st->run_len, false);
  fprintf(f, "  },\n  \"spawn_tree\": {\"tasks\": %llu, \"roots\": %llu, \"max_depth\": %d, "
             "\"mean_depth\": %.3f},\n",
          (unsigned long long)st->tasks, (unsigned long long)st->roots, (int)st->max_depth,
          st->mean_depth);
  fprintf(f, "  \"work_ns\": %lld,\n  \"span_ns\": %lld,\n", (long long)st->work, (long long)st->span);
  if (st->span > 0)
    fprintf(f, "  \"parallelism\": %.6f,\n", st->parallelism);
  else
    fputs("  \"parallelism\": null,\n", f);
  fprintf(f, "  \"strands\": %llu,\n  \"joins\": %llu,\n  \"unresolved_joins\": %llu,\n",
          (unsigned long long)st->strands, (unsigned long long)st->joins,
          (unsigned long long)st->unresolved);
  fprintf(f, "  \"achieved_parallelism\": %.6f,\n",
          st->wall > 0 ? (double)st->busy_total / (double)st->wall : 0.0);
  fputs("  \"speedup\": [\n", f);
  for (size_t i = 0; i < NP; i++) {
    double P = speedup_p[i];
    double bound = st->span > 0 ? (P < st->parallelism ? P : st->parallelism) : 0;
    double greedy =
        st->span > 0 ? (double)st->work / ((double)st->work / P + (double)st->span) : 0;
    fprintf(f, "    {\"workers\": %d, \"bound\": %.6f, \"greedy\": %.6f}%s\n", speedup_p[i], bound,
            greedy, i + 1 < NP ? "," : "");
  }
  fputs("  ]\n}\n", f);
}

static void cell_dur(FILE *f, int64_t ns, int w) {
  char b[32];
  wt_fmt_dur(b, sizeof b, ns);
  fprintf(f, " %*s", w, b);
}

static void lat_row(FILE *f, const char *what, const wt_pct *p) {
  fprintf(f, "  %-20s %10zu", what, p->n);
  if (!p->n) {
    fprintf(f, " %11s %11s %11s %11s\n", "-", "-", "-", "-");
    return;
  }
  cell_dur(f, p->p50, 11);
  cell_dur(f, p->p90, 11);
  cell_dur(f, p->p99, 11);
  cell_dur(f, p->max, 11);
  fputc('\n', f);
}

static void print_table(FILE *f, const wt_trace *t, const wt_stats *st) {
  char b[64], nb[32];
  fputs("weft-trace summary: ", f);
  for (const char *q = t->path; *q; q++) fputc((unsigned char)*q < 0x20 ? '?' : *q, f);
  wt_fmt_dur(b, sizeof b, st->wall);
  fprintf(f, "\n  %d worker%s, wall %s, %llu events, %llu dropped, %s\n\n", t->workers,
          t->workers == 1 ? "" : "s", b, (unsigned long long)t->events,
          (unsigned long long)t->dropped, t->complete ? "complete" : "INCOMPLETE");

  fprintf(f, "  %-10s %11s %6s %11s %6s %11s %6s %10s %8s %8s %8s\n", "worker", "busy", "%", "idle",
          "%", "parked", "%", "runs", "steals", "given", "parks");
  uint64_t runs = 0, steals = 0, given = 0, nparks = 0;
  int64_t idle_total = 0;
  for (int tid = 1; tid <= t->workers + 1; tid++) {
    int lt = tid == t->workers + 1 ? 0 : tid; /* main last */
    const wt_lane *l = &t->lanes[lt];
    if (lt == 0 && !l->events) continue;
    int64_t idle = idle_of(l, st->wall);
    const char *nm = lane_name(t, lt, nb, sizeof nb);
    char shown[11]; /* at most 10 characters, printable ASCII */
    size_t sl = 0;
    for (; nm[sl] && sl < sizeof shown - 1; sl++)
      shown[sl] = (unsigned char)nm[sl] < 0x20 || (unsigned char)nm[sl] >= 0x7f ? '?' : nm[sl];
    shown[sl] = 0;
    fprintf(f, "  %-10s", shown);
    cell_dur(f, l->busy, 11);
    fprintf(f, " %5.1f%%", pct(l->busy, st->wall));
    if (lt) {
      cell_dur(f, idle, 11);
      fprintf(f, " %5.1f%%", pct(idle, st->wall));
    } else { /* not a worker: idle means nothing */
      fprintf(f, " %11s %6s", "-", "-");
    }
    cell_dur(f, l->parked, 11);
    fprintf(f, " %5.1f%%", pct(l->parked, st->wall));
    fprintf(f, " %10llu %8llu %8llu %8llu\n", (unsigned long long)l->runs,
            (unsigned long long)l->steals, (unsigned long long)l->given,
            (unsigned long long)l->parks);
    if (lt) {
      runs += l->runs, steals += l->steals, given += l->given, nparks += l->parks;
      idle_total = wt_sat_add(idle_total, idle);
    }
  }
  double cap = (double)st->wall * t->workers; /* may exceed int64 with absurd times */
  fprintf(f, "  %-10s", "all");
  cell_dur(f, st->busy_total, 11);
  fprintf(f, " %5.1f%%", cap > 0 ? 100.0 * (double)st->busy_total / cap : 0.0);
  cell_dur(f, idle_total, 11);
  fprintf(f, " %5.1f%%", cap > 0 ? 100.0 * (double)idle_total / cap : 0.0);
  cell_dur(f, st->parked_total, 11);
  fprintf(f, " %5.1f%%", cap > 0 ? 100.0 * (double)st->parked_total / cap : 0.0);
  fprintf(f, " %10llu %8llu %8llu %8llu\n\n", (unsigned long long)runs, (unsigned long long)steals,
          (unsigned long long)given, (unsigned long long)nparks);

  fprintf(f, "  %-20s %10s %11s %11s %11s %11s\n", "latency", "n", "p50", "p90", "p99", "max");
  lat_row(f, "spawn -> first run", &st->spawn_lat);
  lat_row(f, "wake -> resume", &st->wake_lat);
  lat_row(f, "run length", &st->run_len);

  fprintf(f, "\n  spawn tree   %llu tasks, %llu root%s, max depth %d, mean depth %.2f\n",
          (unsigned long long)st->tasks, (unsigned long long)st->roots, st->roots == 1 ? "" : "s",
          (int)st->max_depth, st->mean_depth);
  wt_fmt_dur(b, sizeof b, st->work);
  fprintf(f, "  work         %-12s (total strand time; %llu strands)\n", b,
          (unsigned long long)st->strands);
  wt_fmt_dur(b, sizeof b, st->span);
  fprintf(f, "  span         %-12s (longest dependency path; %llu joins)\n", b,
          (unsigned long long)st->joins);
  if (st->span > 0)
    fprintf(f, "  parallelism  %-12.2f (work / span)\n", st->parallelism);
  else
    fprintf(f, "  parallelism  %-12s (no span)\n", "-");
  fprintf(f, "  achieved     %-12.2f (busy / wall: workers kept busy on average)\n\n",
          st->wall > 0 ? (double)st->busy_total / (double)st->wall : 0.0);

  fprintf(f, "  %-30s", "predicted speedup on P workers");
  for (size_t i = 0; i < NP; i++) fprintf(f, " %7d", speedup_p[i]);
  fprintf(f, "\n  %-30s", "  bound min(P, work/span)");
  for (size_t i = 0; i < NP; i++) {
    double P = speedup_p[i];
    fprintf(f, " %7.2f", st->span > 0 ? (P < st->parallelism ? P : st->parallelism) : 0.0);
  }
  fprintf(f, "\n  %-30s", "  greedy work/(work/P + span)");
  for (size_t i = 0; i < NP; i++) {
    double P = speedup_p[i];
    fprintf(f, " %7.2f",
            st->span > 0 ? (double)st->work / ((double)st->work / P + (double)st->span) : 0.0);
  }
  fputc('\n', f);

  bool notes = false;
#define NOTE(...) (fputs(notes ? "" : "\n", f), notes = true, fprintf(f, "  note: " __VA_ARGS__))
  if (t->dropped)
    NOTE("%llu events were dropped when recording: counts and times are lower bounds\n",
         (unsigned long long)t->dropped);
  if (!t->complete)
    NOTE("written while tasks were still running (%llu open slices closed at the write)\n",
         (unsigned long long)t->open_slices);
  if (st->unresolved)
    NOTE("%llu dependencies could not be placed (inconsistent trace): span is a lower bound\n",
         (unsigned long long)st->unresolved);
  if (t->ignored) NOTE("%llu events of unknown kinds were ignored\n", (unsigned long long)t->ignored);
  if (t->dup_spawns || t->bad_flows)
    NOTE("%llu repeated spawns and %llu repeated flow ends were ignored\n",
         (unsigned long long)t->dup_spawns, (unsigned long long)t->bad_flows);
#undef NOTE
}

void wt_print_summary(FILE *f, const wt_trace *t, const wt_stats *st, bool json) {
  if (json)
    print_json(f, t, st);
  else
    print_table(f, t, st);
}
