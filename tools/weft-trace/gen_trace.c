/* weft-trace-gen: writes a synthetic weft trace (docs/trace-format.md) of a
 * simulated work-stealing run of a random fork-join program, for testing
 * and timing weft-trace.
 *
 *   weft-trace-gen [--tasks N] [--workers W] [--seed S] [-o FILE]
 *
 * The program: a root task whose subtree holds N tasks; a task with more
 * than one task in its subtree spawns 1-4 children (splitting the subtree
 * at random), awaits them (in order or in reverse), with short strands in
 * between; a leaf runs one longer strand, sometimes yields, sometimes
 * awaits a timer (a future that is not a task, woken from outside).
 *
 * The run: W workers, each with a deque (push/pop at the bottom, steal from
 * the top), an injection queue for the root and timer wakes, parking when
 * there is no work anywhere. An await on an unstarted child runs it inline;
 * on a running or suspended one it suspends the awaiter, which its child
 * wakes when done; on a finished one it goes on in the same slice. Events
 * are written as they happen, in the spec's format.
 *
 * On stderr, one line of what the run had, for checking weft-trace:
 *   events=E tasks=N work_ns=W span_ns=S full_span_ns=F steals=K parks=P
 * span_ns is the longest path through the dependencies the trace records
 * (what weft-trace computes); full_span_ns also counts awaits on tasks that
 * had already finished, which leave no trace (see main.c, note 10). */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- helpers ------------------------------------------------------------------------ */

static uint64_t rs = 88172645463325252ull;
static uint64_t rnd(void) {
  rs ^= rs << 13;
  rs ^= rs >> 7;
  rs ^= rs << 17;
  return rs * 2685821657736338717ull;
}
static int64_t urange(int64_t lo, int64_t hi) { return lo + (int64_t)(rnd() % (uint64_t)(hi - lo + 1)); }
/* roughly log-uniform in [lo, hi] */
static int64_t logu(int64_t lo, int64_t hi) {
  int64_t v = lo;
  while (v * 2 <= hi && rnd() % 3 != 0) v *= 2;
  return urange(v, v * 2 > hi ? hi : v * 2);
}

static void *xrealloc(void *p, size_t n) {
  p = realloc(p, n ? n : 1);
  if (!p) {
    fprintf(stderr, "weft-trace-gen: out of memory\n");
    exit(1);
  }
  return p;
}
#define GROW(a, n, cap)                                                                    \
  do {                                                                                     \
    if ((n) >= (cap)) {                                                                    \
      (cap) = (cap) ? (cap) * 2 : 64;                                                      \
      (a) = xrealloc((a), (cap) * sizeof *(a));                                            \
    }                                                                                      \
  } while (0)

/* ---- output ------------------------------------------------------------------------------ */

static FILE *out;
static uint64_t nevents;
static int64_t tmin = INT64_MAX, tmax = INT64_MIN;

static void ev_begin(void) {
  fputs(nevents ? ",\n" : "", out);
  nevents++;
}
static void seen(int64_t a, int64_t b) {
  if (a < tmin) tmin = a;
  if (b > tmax) tmax = b;
}
static void put_us(int64_t ns) { fprintf(out, "%" PRId64 ".%03d", ns / 1000, (int)(ns % 1000)); }

static void ev_instant(int tid, int64_t ts, const char *cat, const char *name) {
  ev_begin();
  seen(ts, ts);
  fprintf(out, "{\"ph\":\"i\",\"s\":\"t\",\"pid\":1,\"tid\":%d,\"ts\":", tid);
  put_us(ts);
  fprintf(out, ",\"cat\":\"%s\",\"name\":\"%s\"", cat, name);
}

static void ev_flow(char ph, const char *name, int tid, int64_t ts, int64_t id) {
  ev_begin();
  seen(ts, ts);
  fprintf(out, "{\"ph\":\"%c\",\"pid\":1,\"tid\":%d,\"ts\":", ph, tid);
  put_us(ts);
  fprintf(out, ",\"cat\":\"flow\",\"name\":\"%s\",\"id\":%" PRId64 ",\"bp\":\"e\"}", name, id);
}

/* ---- the program and its run -------------------------------------------------------------- */

enum { OP_RUN, OP_SPAWN, OP_AWAIT, OP_TIMER, OP_YIELD, OP_DONE };
typedef struct {
  int kind;
  int64_t arg; /* RUN/TIMER: ns; SPAWN: subtree size; AWAIT: index into the task's children */
} op_t;

enum { T_NEW, T_QUEUED, T_RUNNING, T_SUSPENDED, T_INLINE_WAIT, T_DONE };

typedef struct {
  int64_t id;
  int32_t parent, depth, budget;
  size_t op0, nops; /* in the op pool, made at the first run */
  size_t ch0;       /* its children's task indices in the child pool */
  int nch;
  size_t pc;
  int state;
  int32_t waiter, inline_parent;
  int in_deque; /* worker whose deque holds it, or -1 */
  bool started;
  int64_t cur, cur_full; /* longest path so far: recorded / true */
  int64_t spawn_ts;
  int spawn_tid;
  bool wake_pending;
  int64_t wake_id, wake_ts;
  int wake_tid;
  const char *name; /* NULL: "task ID" */
} task_t;

static task_t *tasks;
static size_t ntasks, tasks_cap;
static op_t *ops;
static size_t nops, ops_cap;
static int32_t *chpool;
static size_t nch_pool, ch_cap;

typedef struct {
  int32_t *q;
  size_t head, tail, cap;
  int64_t clock;
  int32_t cur;
  int64_t slice_start;
  bool parked;
} worker_t;

static worker_t *wk;
static int W;
static int32_t *inj;
static size_t inj_head, inj_tail, inj_cap;
static uint64_t seq[65];
static int64_t next_wake_id = 1000000000000LL;
static int64_t work_total;
static uint64_t steals, parks;
static int nparked;

typedef struct {
  int64_t t;
  int32_t task;
} timer_t_;
static timer_t_ *heap;
static size_t nheap, heap_cap;

static void heap_push(int64_t t, int32_t task) {
  GROW(heap, nheap, heap_cap);
  size_t i = nheap++;
  while (i && heap[(i - 1) / 2].t > t) {
    heap[i] = heap[(i - 1) / 2];
    i = (i - 1) / 2;
  }
  heap[i] = (timer_t_){t, task};
}
static timer_t_ heap_pop(void) {
  timer_t_ top = heap[0], x = heap[--nheap];
  size_t i = 0;
  for (;;) {
    size_t c = 2 * i + 1;
    if (c >= nheap) break;
    if (c + 1 < nheap && heap[c + 1].t < heap[c].t) c++;
    if (heap[c].t >= x.t) break;
    heap[i] = heap[c];
    i = c;
  }
  if (nheap) heap[i] = x;
  return top;
}

static const char *leaf_names[] = {"leaf", "leaf", "compute", "io-ish", "q\"uote\\d", "na\xc3\xafve <&>"};

static int32_t new_task(int spawner_tid, int32_t parent, int32_t depth, int32_t budget) {
  GROW(tasks, ntasks, tasks_cap);
  task_t *t = &tasks[ntasks];
  memset(t, 0, sizeof *t);
  t->id = ((int64_t)spawner_tid << 40) | (int64_t)++seq[spawner_tid];
  t->parent = parent;
  t->depth = depth;
  t->budget = budget;
  t->waiter = t->inline_parent = -1;
  t->in_deque = -1;
  if (parent < 0)
    t->name = "root";
  else if (budget > 1)
    t->name = rnd() % 4 ? "fork" : NULL;
  else
    t->name = rnd() % 5 ? leaf_names[rnd() % 6] : NULL;
  return (int32_t)ntasks++;
}

static void add_op(int kind, int64_t arg) {
  GROW(ops, nops, ops_cap);
  ops[nops++] = (op_t){kind, arg};
}

/* The task's program, made when it first runs. */
static void make_program(int32_t ti) {
  task_t *t = &tasks[ti];
  t->op0 = nops;
  if (t->budget <= 1) {
    int64_t len = logu(500, 50000);
    int r = (int)(rnd() % 20);
    if (r == 0) { /* yield in the middle */
      add_op(OP_RUN, len / 2);
      add_op(OP_YIELD, 0);
      add_op(OP_RUN, len - len / 2);
    } else if (r == 1) { /* a timer in the middle */
      add_op(OP_RUN, len / 2);
      add_op(OP_TIMER, logu(1000, 200000));
      add_op(OP_RUN, len - len / 2);
    } else {
      add_op(OP_RUN, len);
    }
  } else {
    int k = (int)urange(1, 4);
    if (k > t->budget - 1) k = t->budget - 1;
    int32_t rest = t->budget - 1;
    add_op(OP_RUN, urange(100, 2000));
    for (int i = 0; i < k; i++) {
      int32_t b = i == k - 1 ? rest : (int32_t)urange(1, rest - (k - 1 - i));
      rest -= b;
      add_op(OP_SPAWN, b);
      add_op(OP_RUN, urange(100, 2000));
    }
    t = &tasks[ti];
    t->ch0 = nch_pool; /* k slots, filled in spawn order */
    for (int i = 0; i < k; i++) {
      GROW(chpool, nch_pool, ch_cap);
      chpool[nch_pool++] = -1;
    }
    bool rev = rnd() % 3 == 0;
    for (int i = 0; i < k; i++) {
      add_op(OP_AWAIT, rev ? k - 1 - i : i);
      add_op(OP_RUN, urange(100, 1000));
    }
  }
  add_op(OP_DONE, 0);
  t->nops = nops - t->op0;
  t->pc = 0;
}

static void unpark_one(int64_t t) {
  if (!nparked) return;
  for (int i = 0; i < W; i++) {
    if (!wk[i].parked) continue;
    wk[i].parked = false;
    nparked--;
    ev_instant(i + 1, t, "park", "unpark");
    fputs("}", out);
    ev_begin();
    seen(t, t);
    fputs("{\"ph\":\"C\",\"pid\":1,\"tid\":0,\"ts\":", out);
    put_us(t);
    fprintf(out, ",\"name\":\"parked\",\"args\":{\"parked\":%d}}", nparked);
    wk[i].clock = t + 1000; /* waking up takes a while */
    return;
  }
}

static void push(int w, int32_t ti, int64_t t) {
  worker_t *x = &wk[w];
  if (x->tail == x->cap) {
    if (x->head > 0) {
      memmove(x->q, x->q + x->head, (x->tail - x->head) * sizeof *x->q);
      x->tail -= x->head;
      x->head = 0;
    } else {
      x->cap = x->cap ? x->cap * 2 : 64;
      x->q = xrealloc(x->q, x->cap * sizeof *x->q);
    }
  }
  x->q[x->tail++] = ti;
  tasks[ti].in_deque = w;
  tasks[ti].state = T_QUEUED;
  unpark_one(t);
}

static void inject(int32_t ti, int64_t t) {
  GROW(inj, inj_tail, inj_cap);
  inj[inj_tail++] = ti;
  tasks[ti].state = T_QUEUED;
  tasks[ti].in_deque = -1;
  unpark_one(t);
}

static void remove_from_deque(int32_t ti) {
  task_t *t = &tasks[ti];
  if (t->in_deque < 0) { /* in the injection queue */
    for (size_t i = inj_head; i < inj_tail; i++)
      if (inj[i] == ti) {
        memmove(inj + i, inj + i + 1, (inj_tail - i - 1) * sizeof *inj);
        inj_tail--;
        return;
      }
    return;
  }
  worker_t *x = &wk[t->in_deque];
  for (size_t i = x->head; i < x->tail; i++)
    if (x->q[i] == ti) {
      memmove(x->q + i, x->q + i + 1, (x->tail - i - 1) * sizeof *x->q);
      x->tail--;
      break;
    }
  t->in_deque = -1;
}

/* A slice of ti begins on worker w at time t. */
static void begin_slice(int w, int32_t ti, int64_t t) {
  task_t *k = &tasks[ti];
  wk[w].cur = ti;
  wk[w].slice_start = t;
  k->state = T_RUNNING;
  k->in_deque = -1;
  if (!k->started) {
    k->started = true;
    make_program(ti);
    ev_flow('s', "spawn", k->spawn_tid, k->spawn_ts, k->id);
    ev_flow('f', "spawn", w + 1, t, k->id);
  } else if (k->wake_pending) {
    k->wake_pending = false;
    ev_flow('s', "wake", k->wake_tid, k->wake_ts, k->wake_id);
    ev_flow('f', "wake", w + 1, t, k->wake_id);
  }
}

static const char *end_names[] = {"done", "await", "yield", "inline"};

static void end_slice(int w, int64_t t, int end, int64_t awaits) {
  task_t *k = &tasks[wk[w].cur];
  int64_t s = wk[w].slice_start, d = t - s;
  ev_begin();
  seen(s, t);
  fprintf(out, "{\"ph\":\"X\",\"pid\":1,\"tid\":%d,\"ts\":", w + 1);
  put_us(s);
  fputs(",\"dur\":", out);
  put_us(d);
  fputs(",\"cat\":\"run\",\"name\":\"", out);
  if (k->name) {
    for (const char *p = k->name; *p; p++) {
      if (*p == '"' || *p == '\\') fputc('\\', out);
      fputc(*p, out);
    }
  } else {
    fprintf(out, "task %" PRId64, k->id);
  }
  fprintf(out, "\",\"args\":{\"task\":%" PRId64 ",\"end\":\"%s\"", k->id, end_names[end]);
  if (awaits) fprintf(out, ",\"awaits\":%" PRId64, awaits);
  fprintf(out, ",\"depth\":%d}}", (int)k->depth);
  work_total += d;
  wk[w].cur = -1;
}

static void wake(int32_t pi, int tid, int64_t t) {
  task_t *p = &tasks[pi];
  ev_instant(tid, t, "wake", "wake");
  fprintf(out, ",\"args\":{\"task\":%" PRId64 "}}", p->id);
  p->wake_pending = true;
  p->wake_id = next_wake_id++;
  p->wake_ts = t;
  p->wake_tid = tid;
}

static int64_t max64(int64_t a, int64_t b) { return a > b ? a : b; }

/* One step of worker w at its clock. */
static void step(int w) {
  worker_t *x = &wk[w];
  int64_t t = x->clock;
  if (x->cur < 0) { /* find work */
    int32_t ti = -1;
    if (x->tail > x->head) {
      ti = x->q[--x->tail];
      t += 20;
    } else if (inj_tail > inj_head) {
      ti = inj[inj_head++];
      ev_instant(w + 1, t, "inject", "inject");
      fputs(",\"args\":{\"count\":1}}", out);
      t += 100;
    } else {
      int v0 = (int)(rnd() % (uint64_t)W);
      for (int j = 0; j < W && ti < 0; j++) {
        int v = (v0 + j) % W;
        if (v == w || wk[v].tail == wk[v].head) continue;
        ti = wk[v].q[wk[v].head++];
        steals++;
        ev_instant(w + 1, t, "steal", "steal");
        fprintf(out, ",\"args\":{\"victim\":%d,\"count\":1}}", v);
        if (steals % 16 == 0) {
          ev_begin();
          fputs("{\"ph\":\"C\",\"pid\":1,\"tid\":0,\"ts\":", out);
          put_us(t);
          fputs(",\"name\":\"runqueue\",\"args\":{", out);
          for (int q = 0; q < W; q++)
            fprintf(out, "%s\"w%d\":%zu", q ? "," : "", q, wk[q].tail - wk[q].head);
          fputs("}}", out);
        }
      }
      if (ti < 0) { /* nothing anywhere: park, now (an unpark may follow at this very time) */
        ev_instant(w + 1, t, "park", "park");
        fputs("}", out);
        parks++;
        x->parked = true;
        nparked++;
        x->clock = t;
        return;
      }
      t += 300;
    }
    tasks[ti].in_deque = -1;
    begin_slice(w, ti, t);
    x->clock = t;
    return;
  }

  int32_t ti = x->cur;
  task_t *k = &tasks[ti];
  op_t op = ops[k->op0 + k->pc];
  switch (op.kind) {
  case OP_RUN:
    t += op.arg;
    k->cur += op.arg;
    k->cur_full += op.arg;
    k->pc++;
    break;
  case OP_SPAWN: {
    int32_t ci = new_task(w + 1, ti, k->depth + 1, (int32_t)op.arg);
    k = &tasks[ti];
    task_t *c = &tasks[ci];
    chpool[k->ch0 + (size_t)k->nch++] = ci;
    c->spawn_ts = t;
    c->spawn_tid = w + 1;
    c->cur = k->cur;
    c->cur_full = k->cur_full;
    ev_instant(w + 1, t, "spawn", "spawn");
    fprintf(out, ",\"args\":{\"task\":%" PRId64 ",\"parent\":%" PRId64 ",\"depth\":%d}}", c->id, k->id,
            (int)c->depth);
    push(w, ci, t);
    t += 30;
    k->cur += 30;
    k->cur_full += 30;
    k->pc++;
    break;
  }
  case OP_AWAIT: {
    int32_t ci = chpool[k->ch0 + (size_t)op.arg];
    task_t *c = &tasks[ci];
    if (c->state == T_DONE) { /* no suspension, no trace of the join */
      k->cur_full = max64(k->cur_full, c->cur_full);
      t += 20;
      k->cur += 20;
      k->cur_full += 20;
      k->pc++;
    } else if (c->state == T_QUEUED && !c->started) { /* inline */
      end_slice(w, t, 3, c->id);
      remove_from_deque(ci);
      k->state = T_INLINE_WAIT;
      c->inline_parent = ti;
      begin_slice(w, ci, t);
    } else { /* suspend */
      end_slice(w, t, 1, c->id);
      k->state = T_SUSPENDED;
      c->waiter = ti;
      t += 50;
    }
    break;
  }
  case OP_TIMER:
    end_slice(w, t, 1, 0);
    k->state = T_SUSPENDED;
    k->pc++;
    heap_push(t + op.arg, ti);
    t += 50;
    break;
  case OP_YIELD:
    end_slice(w, t, 2, 0);
    k->pc++;
    push(w, ti, t);
    t += 50;
    break;
  case OP_DONE: {
    end_slice(w, t, 0, 0);
    ev_instant(w + 1, t, "complete", "complete");
    fprintf(out, ",\"args\":{\"task\":%" PRId64 ",\"err\":0}}", k->id);
    k->state = T_DONE;
    if (k->inline_parent >= 0) {
      task_t *p = &tasks[k->inline_parent];
      p->cur = max64(p->cur, k->cur);
      p->cur_full = max64(p->cur_full, k->cur_full);
      p->pc++;
      begin_slice(w, k->inline_parent, t);
    } else if (k->waiter >= 0) {
      task_t *p = &tasks[k->waiter];
      p->cur = max64(p->cur, k->cur);
      p->cur_full = max64(p->cur_full, k->cur_full);
      p->pc++;
      wake(k->waiter, w + 1, t);
      push(w, k->waiter, t);
      t += 50;
    } else {
      t += 50;
    }
    break;
  }
  }
  x->clock = t;
}

int main(int argc, char **argv) {
  long ntasks_want = 1000;
  uint64_t seed = 1;
  const char *path = NULL;
  W = 4;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--tasks") && i + 1 < argc)
      ntasks_want = strtol(argv[++i], NULL, 10);
    else if (!strcmp(argv[i], "--workers") && i + 1 < argc)
      W = (int)strtol(argv[++i], NULL, 10);
    else if (!strcmp(argv[i], "--seed") && i + 1 < argc)
      seed = strtoull(argv[++i], NULL, 10);
    else if (!strcmp(argv[i], "-o") && i + 1 < argc)
      path = argv[++i];
    else {
      fprintf(stderr, "usage: weft-trace-gen [--tasks N] [--workers W (1..64)] [--seed S] [-o FILE]\n");
      return 2;
    }
  }
  if (W < 1 || W > 64 || ntasks_want < 1 || ntasks_want > 100000000) {
    fprintf(stderr, "weft-trace-gen: --workers 1..64, --tasks 1..1e8\n");
    return 2;
  }
  rs ^= seed * 0x9e3779b97f4a7c15ull;
  if (!rs) rs = 1;
  for (int i = 0; i < 10; i++) rnd();
  out = stdout;
  if (path) {
    out = fopen(path, "w");
    if (!out) {
      fprintf(stderr, "weft-trace-gen: %s: %s\n", path, strerror(errno));
      return 1;
    }
  }
  static char obuf[1 << 20];
  setvbuf(out, obuf, _IOFBF, sizeof obuf);

  fprintf(out, "{\"otherData\":{\"weft_trace\":1,\"workers\":%d,\"clock\":\"monotonic_ns\","
               "\"t0_ns\":123456789,\"dropped\":0,\"complete\":true},\n\"displayTimeUnit\":\"ns\",\n"
               "\"traceEvents\":[\n",
          W);
  ev_begin();
  fputs("{\"ph\":\"M\",\"pid\":1,\"tid\":0,\"name\":\"process_name\",\"args\":{\"name\":\"weft\"}}", out);
  ev_begin();
  fputs("{\"ph\":\"M\",\"pid\":1,\"tid\":0,\"name\":\"thread_name\",\"args\":{\"name\":\"main\"}}", out);
  for (int i = 0; i < W; i++) {
    ev_begin();
    fprintf(out, "{\"ph\":\"M\",\"pid\":1,\"tid\":%d,\"name\":\"thread_name\",\"args\":{\"name\":\"weft-w%d\"}}",
            i + 1, i);
  }

  wk = calloc(64, sizeof *wk); /* W <= 64 */
  if (!wk) return 1;
  for (int i = 0; i < W; i++) {
    wk[i].cur = -1;
    wk[i].clock = 1000 + 37 * i;
  }
  /* the root, from the main thread */
  int32_t root = new_task(0, -1, 0, (int32_t)ntasks_want);
  tasks[root].spawn_ts = 500;
  tasks[root].spawn_tid = 0;
  ev_instant(0, 500, "spawn", "spawn");
  fprintf(out, ",\"args\":{\"task\":%" PRId64 ",\"parent\":0,\"depth\":0}}", tasks[root].id);
  inject(root, 500);

  while (tasks[root].state != T_DONE) {
    int best = -1;
    for (int i = 0; i < W; i++)
      if (!wk[i].parked && (best < 0 || wk[i].clock < wk[best].clock)) best = i;
    if (nheap && (best < 0 || heap[0].t < wk[best].clock)) {
      timer_t_ tm = heap_pop(); /* a timer fires: woken from outside */
      wake(tm.task, 0, tm.t);
      inject(tm.task, tm.t);
      continue;
    }
    if (best < 0) {
      fprintf(stderr, "weft-trace-gen: stuck (a bug)\n");
      for (size_t q = 0; q < ntasks; q++)
        if (tasks[q].state != T_DONE)
          fprintf(stderr, "  task %zu id %lld state %d pc %zu/%zu waiter %d inl %d deque %d parent %d\n", q,
                  (long long)tasks[q].id, tasks[q].state, tasks[q].pc, tasks[q].nops, tasks[q].waiter,
                  tasks[q].inline_parent, tasks[q].in_deque, tasks[q].parent);
      return 1;
    }
    step(best);
  }
  int64_t tend = tmax;
  for (int i = 0; i < W; i++)
    if (wk[i].parked) {
      ev_instant(i + 1, tend, "park", "unpark");
      fputs("}", out);
    }
  fputs("\n]}\n", out);
  if (fflush(out) != 0 || ferror(out) || (out != stdout && fclose(out) != 0)) {
    fprintf(stderr, "weft-trace-gen: writing: %s\n", strerror(errno));
    return 1;
  }
  int64_t span = 0, full = 0;
  for (size_t i = 0; i < ntasks; i++) {
    span = max64(span, tasks[i].cur);
    full = max64(full, tasks[i].cur_full);
  }
  fprintf(stderr,
          "events=%" PRIu64 " tasks=%zu work_ns=%" PRId64 " span_ns=%" PRId64 " full_span_ns=%" PRId64
          " steals=%" PRIu64 " parks=%" PRIu64 " wall_ns=%" PRId64 "\n",
          nevents, ntasks, work_total, span, full, steals, parks, tmax - tmin);
  free(tasks);
  free(ops);
  free(chpool);
  free(heap);
  free(inj);
  for (int i = 0; i < W; i++) free(wk[i].q);
  free(wk);
  return 0;
}
