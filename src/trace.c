/* trace — trace buffers and the Chrome Trace Event writer. See trace.h and
 * docs/trace-format.md. */
#include "trace.h"

#include "hugemap.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define WEFT__TCHUNK_BYTES WEFT__HUGE_BYTES
#define WEFT__TCHUNK_RECS \
  ((WEFT__TCHUNK_BYTES - sizeof(struct weft__tchunk)) / sizeof(struct weft__trec))

/* ---- clocks -------------------------------------------------------------------- */

static uint64_t weft__mono_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t weft__trace_now_slow(int use_tsc) {
  (void)use_tsc;
  return weft__mono_ns();
}

static int weft__tsc_usable(void) {
#if defined(__x86_64__)
  FILE *f = fopen("/proc/cpuinfo", "r");
  if (!f) return 0;
  char line[4096];
  int constant = 0, nonstop = 0;
  while (fgets(line, sizeof line, f)) {
    if (strncmp(line, "flags", 5) != 0) continue;
    constant = strstr(line, " constant_tsc") != NULL;
    nonstop = strstr(line, " nonstop_tsc") != NULL;
    break;
  }
  fclose(f);
  return constant && nonstop;
#else
  return 0;
#endif
}

/* ---- buffers --------------------------------------------------------------------- */

static size_t weft__trace_cap(void) {
  const char *e = getenv("WEFT_TRACE_MAX_MB");
  long mb = e ? atol(e) : 0;
  return (size_t)(mb > 0 ? mb : 512) << 20;
}

/* A chunk is one 2 MiB mapping backed by a huge page where the system
 * allows (hugemap.h): the first write to a fresh page is a page fault, and
 * one fault per 2 MiB instead of one per 4 KiB is what makes tracing
 * affordable where faults are dear (skynet writes 53 MB of records per
 * run). */
static struct weft__tchunk *weft__tchunk_map(void) {
  return (struct weft__tchunk *)weft__huge_map(0);
}

static void weft__tchunk_unmap(struct weft__tchunk *c) { weft__huge_unmap(c); }

/* A zeroed buffer's atomics and cap. */
static void weft__tbuf_init(struct weft__tbuf *b) {
  atomic_init(&b->pub, NULL);
  atomic_init(&b->dropped, 0);
  atomic_init(&b->names, NULL);
  atomic_init(&b->nnames, 0);
  b->max_bytes = weft__trace_cap();
}

/* ---- the pager -------------------------------------------------------------------- */

/* A chunk with all its pages in (one fault if it is a huge page). */
static struct weft__tchunk *weft__tchunk_map_faulted(void) {
  return (struct weft__tchunk *)weft__huge_map(1);
}

static void *weft__pager_main(void *arg) {
  struct weft__pager *pg = arg;
  pthread_mutex_lock(&pg->lock);
  while (!pg->stop) {
    uint64_t gen = pg->gen;
    /* Fill every empty slot. The list only grows, under the lock; a slot
     * is only emptied by its owner, so one seen empty stays so until we
     * fill it. */
    for (unsigned i = 0; i < pg->nbufs && !pg->stop; i++) {
      struct weft__tbuf *b = pg->bufs[i];
      for (unsigned k = 0; k < WEFT__TSPARES && !pg->stop; k++) {
        if (atomic_load_explicit(&b->spare[k], memory_order_relaxed)) continue;
        pthread_mutex_unlock(&pg->lock);
        struct weft__tchunk *c = weft__tchunk_map_faulted();
        pthread_mutex_lock(&pg->lock);
        if (!c) goto wait; /* out of memory: the owners map their own */
        /* release: publishes the faulted chunk; pairs with the acquire
         * exchange in weft__tbuf_grow. */
        atomic_store_explicit(&b->spare[k], c, memory_order_release);
      }
    }
  wait:
    /* gen is bumped under the lock after each take: unchanged since the
     * scan began means every slot the scan saw full is still full. */
    while (!pg->stop && pg->gen == gen) pthread_cond_wait(&pg->cv, &pg->lock);
  }
  pthread_mutex_unlock(&pg->lock);
  return NULL;
}

/* Stops the pager (if it runs) and unmaps the spares it left. Workers have
 * stopped: no owner takes a spare any more. */
static void weft__pager_stop(struct weft__trace *tr) {
  struct weft__pager *pg = &tr->pager;
  pthread_mutex_lock(&pg->lock);
  pg->stop = 1;
  pthread_cond_signal(&pg->cv);
  int started = pg->started;
  pg->started = 0;
  pthread_mutex_unlock(&pg->lock);
  if (started) pthread_join(pg->th, NULL);
  for (unsigned i = 0; i < pg->nbufs; i++)
    for (unsigned k = 0; k < WEFT__TSPARES; k++) {
      struct weft__tchunk *c =
          atomic_exchange_explicit(&pg->bufs[i]->spare[k], NULL, memory_order_acquire);
      if (c) weft__tchunk_unmap(c);
    }
  free(pg->bufs);
  pg->bufs = NULL;
  pg->nbufs = pg->cap = 0;
}

static void weft__live_add_buf(struct weft__trace *tr, struct weft__tbuf *b);

struct weft__tbuf *weft__tbuf_new(struct weft__trace *tr) {
  struct weft__tbuf *b = calloc(1, sizeof *b);
  if (!b) return NULL;
  weft__tbuf_init(b);
  for (unsigned k = 0; k < WEFT__TSPARES; k++) atomic_init(&b->spare[k], NULL);
  weft__live_add_buf(tr, b);
  struct weft__pager *pg = &tr->pager;
  pthread_mutex_lock(&pg->lock);
  if (pg->nbufs == pg->cap) {
    unsigned cap = pg->cap ? 2 * pg->cap : 8;
    struct weft__tbuf **v = realloc(pg->bufs, cap * sizeof *v);
    if (!v) goto out; /* no pager for this one: it maps its own chunks */
    pg->bufs = v;
    pg->cap = cap;
  }
  if (!pg->started && !pg->stop) {
    /* Without a pager every owner maps its own chunks: only slower. */
    if (pthread_create(&pg->th, NULL, weft__pager_main, pg) != 0) goto out;
    pg->started = 1;
  }
  pg->bufs[pg->nbufs++] = b;
  b->tr = tr;
  pg->gen++;
  pthread_cond_signal(&pg->cv);
out:
  pthread_mutex_unlock(&pg->lock);
  return b;
}

/* Owner: a new last chunk — a spare the pager faulted in, else one mapped
 * here. 0 if over the cap or out of memory. */
int weft__tbuf_grow(struct weft__tbuf *b) {
  size_t sz = WEFT__TCHUNK_BYTES;
  if (b->bytes + sz > b->max_bytes) return 0;
  struct weft__tchunk *c = NULL;
  if (b->tr) {
    for (unsigned k = 0; k < WEFT__TSPARES && !c; k++)
      /* acquire: pairs with the pager's release store (the chunk is
       * mapped and faulted in before we write to it). */
      if (atomic_load_explicit(&b->spare[k], memory_order_relaxed))
        c = atomic_exchange_explicit(&b->spare[k], NULL, memory_order_acquire);
    struct weft__pager *pg = &b->tr->pager;
    pthread_mutex_lock(&pg->lock);
    pg->gen++;
    pthread_cond_signal(&pg->cv);
    pthread_mutex_unlock(&pg->lock);
  }
  if (!c) c = weft__tchunk_map();
  if (!c) return 0;
  if (b->last) b->last->end = b->cur;
  c->next = NULL;
  c->end = c->rec;
  if (b->last)
    b->last->next = c;
  else
    b->first = c;
  b->last = c;
  b->cur = c->rec;
  b->lim = c->rec + WEFT__TCHUNK_RECS;
  b->bytes += sz;
  return 1;
}

static void weft__tbuf_free(struct weft__tbuf *b) {
  if (!b) return;
  for (struct weft__tchunk *c = b->first, *n; c; c = n) {
    n = c->next;
    weft__tchunk_unmap(c);
  }
  for (size_t i = 0; i < b->intern_cap; i++) free(b->intern[i]);
  free(b->intern);
  for (struct weft__tname_arr *a = atomic_load_explicit(&b->names, memory_order_relaxed), *o; a;
       a = o) {
    o = a->older;
    free(a);
  }
  free(b);
}

/* Traces whose runtime has not been destroyed. The file is written by
 * weft_runtime_destroy, when every worker has stopped; a process that
 * exits before that (its workers still appending) gets, from an exit
 * handler, each trace as far as it was recorded — what every buffer had
 * published when the handler read it (trace.h) — marked incomplete, and a
 * line on stderr saying so. The handler holds the list's lock while it
 * writes; weft__trace_finish takes the trace out of the list under that
 * lock before it writes or frees anything, and writes nothing if the
 * handler already has. Each trace's list of buffers is under that lock
 * too (the handler finds the workers' buffers there). */
static pthread_mutex_t weft__live_lock = PTHREAD_MUTEX_INITIALIZER;
static struct weft__trace *weft__live_head;
static pthread_once_t weft__live_once = PTHREAD_ONCE_INIT;

static int weft__trace_write(struct weft__trace *tr, int complete);

static void weft__live_exit(void) {
  pthread_mutex_lock(&weft__live_lock);
  for (struct weft__trace *tr = weft__live_head; tr; tr = tr->live_next) {
    /* A forked child exiting: the trace (and its workers) are the
     * parent's, who writes it. */
    if (tr->pid != getpid()) continue;
    tr->exit_written = 1;
    if (weft__trace_write(tr, 0) == 0)
      fprintf(stderr,
              "weft: the trace %s was written at exit with its runtime still running: it "
              "ends there, incomplete (weft_runtime_destroy writes a complete one)\n",
              tr->path);
  }
  pthread_mutex_unlock(&weft__live_lock);
}

static void weft__live_init(void) { atexit(weft__live_exit); }

static void weft__live_add(struct weft__trace *tr) {
  pthread_once(&weft__live_once, weft__live_init);
  pthread_mutex_lock(&weft__live_lock);
  tr->live_prev = NULL;
  tr->live_next = weft__live_head;
  if (weft__live_head) weft__live_head->live_prev = tr;
  weft__live_head = tr;
  pthread_mutex_unlock(&weft__live_lock);
}

/* Out of the list; returns whether the exit handler has written it. */
static int weft__live_remove(struct weft__trace *tr) {
  pthread_mutex_lock(&weft__live_lock);
  if (tr->live_prev)
    tr->live_prev->live_next = tr->live_next;
  else
    weft__live_head = tr->live_next;
  if (tr->live_next) tr->live_next->live_prev = tr->live_prev;
  int written = tr->exit_written;
  pthread_mutex_unlock(&weft__live_lock);
  return written;
}

/* A new buffer goes last in its trace's list: worker order. */
static void weft__live_add_buf(struct weft__trace *tr, struct weft__tbuf *b) {
  pthread_mutex_lock(&weft__live_lock);
  b->trace_next = NULL;
  *tr->bufs_tail = b;
  tr->bufs_tail = &b->trace_next;
  tr->nbufs++;
  pthread_mutex_unlock(&weft__live_lock);
}

int weft__trace_create(struct weft__trace **out, const char *path) {
  struct weft__trace *tr = calloc(1, sizeof *tr);
  if (!tr) return ENOMEM;
  tr->path = strdup(path);
  if (!tr->path) {
    free(tr);
    return ENOMEM;
  }
  tr->use_tsc = weft__tsc_usable();
  tr->mono0 = weft__mono_ns();
  tr->tsc0 = weft__trace_now(tr->use_tsc);
  pthread_mutex_init(&tr->lock, NULL);
  pthread_mutex_init(&tr->pager.lock, NULL);
  pthread_cond_init(&tr->pager.cv, NULL);
  weft__tbuf_init(&tr->outside);
  tr->bufs_tail = &tr->bufs;
  tr->pid = getpid();
  weft__live_add(tr);
  *out = tr;
  return 0;
}

void weft__trace_emit_outside(struct weft__trace *tr, unsigned kind, uint64_t arg) {
  pthread_mutex_lock(&tr->lock);
  tr->outside.stamp = 0; /* its records come far apart: each is stamped */
  weft__trace_emit(&tr->outside, tr->use_tsc, kind, arg);
  pthread_mutex_unlock(&tr->lock);
}

uint64_t weft__trace_outside_id(struct weft__trace *tr) {
  pthread_mutex_lock(&tr->lock);
  uint64_t id = WEFT__TRACE_ID(0, ++tr->outside_seq);
  pthread_mutex_unlock(&tr->lock);
  return id;
}

void weft__trace_name(struct weft__trace *tr, uint64_t id, const char *name) {
  struct weft__tname *n = malloc(sizeof *n);
  char *copy = strdup(name);
  if (!n || !copy) {
    free(n);
    free(copy);
    return;
  }
  n->id = id;
  n->stamp = weft__trace_now(tr->use_tsc);
  n->name = copy;
  pthread_mutex_lock(&tr->lock);
  n->next = tr->names;
  tr->names = n;
  pthread_mutex_unlock(&tr->lock);
}

static uint64_t weft__str_hash(const char *s) {
  uint64_t h = 1469598103934665603u; /* FNV-1a */
  for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211u;
  return h;
}

/* The buffer's copy of `name`, made on first sight; NULL out of memory. */
static const char *weft__tbuf_intern(struct weft__tbuf *b, const char *name) {
  uint64_t h = weft__str_hash(name);
  if (2 * (b->nintern + 1) > b->intern_cap) {
    size_t cap = b->intern_cap ? 2 * b->intern_cap : 64;
    char **t = calloc(cap, sizeof *t);
    if (!t) return NULL;
    for (size_t i = 0; i < b->intern_cap; i++) {
      char *x = b->intern[i];
      if (!x) continue;
      size_t k = (size_t)weft__str_hash(x) & (cap - 1);
      while (t[k]) k = (k + 1) & (cap - 1);
      t[k] = x;
    }
    free(b->intern);
    b->intern = t;
    b->intern_cap = cap;
  }
  size_t k = (size_t)h & (b->intern_cap - 1);
  for (; b->intern[k]; k = (k + 1) & (b->intern_cap - 1))
    if (strcmp(b->intern[k], name) == 0) return b->intern[k];
  char *copy = strdup(name);
  if (!copy) return NULL;
  b->intern[k] = copy;
  b->nintern++;
  return copy;
}

void weft__tbuf_name(struct weft__tbuf *b, uint64_t id, const char *name) {
  const char *in = weft__tbuf_intern(b, name);
  if (!in) return;
  /* Relaxed: our own stores. */
  size_t n = atomic_load_explicit(&b->nnames, memory_order_relaxed);
  struct weft__tname_arr *a = atomic_load_explicit(&b->names, memory_order_relaxed);
  if (n == b->names_cap) {
    /* Not realloc: a writer at exit may be reading the old array. */
    size_t cap = b->names_cap ? 2 * b->names_cap : 256;
    struct weft__tname_arr *v = malloc(sizeof *v + cap * sizeof v->ent[0]);
    if (!v) return;
    v->older = a;
    if (n) memcpy(v->ent, a->ent, n * sizeof v->ent[0]);
    /* release: publishes the copied entries with the array; pairs with the
     * acquire in weft__tbuf_names, which may read this array with a count
     * published before it. */
    atomic_store_explicit(&b->names, v, memory_order_release);
    b->names_cap = cap;
    a = v;
  }
  /* The time of this worker's last record: orders it against names given
   * elsewhere without reading the clock. */
  a->ent[n] = (struct weft__tname_ent){id, b->stamp >> 8, in};
  /* release: publishes the entry (and the array holding it); pairs with
   * the acquire in weft__tbuf_names. */
  atomic_store_explicit(&b->nnames, n + 1, memory_order_release);
}

char *weft__trace_path(const char *configured) {
  static atomic_uint env_uses;
  if (configured) return strdup(configured);
  const char *e = getenv("WEFT_TRACE");
  if (!e || !*e) return NULL;
  unsigned k = atomic_fetch_add(&env_uses, 1) + 1;
  if (k == 1) return strdup(e);
  size_t len = strlen(e) + 16;
  char *p = malloc(len);
  if (p) snprintf(p, len, "%s.%u", e, k);
  return p;
}

/* ---- the writer ---------------------------------------------------------------------- */

/* What the writer knows of a task, by id: ids are dense per spawner
 * (WEFT__TRACE_ID), so a table per spawner indexed by sequence number. */
struct weft__tinfo {
  uint64_t spawn_ts, wake_ts, name_stamp;
  const char *name;
  uint64_t inline_parent;
  int32_t depth;
  int16_t spawn_tid, wake_tid;
  uint8_t spawned, ran, woken;
};
struct weft__ttable {
  struct weft__tinfo *v;
  size_t n;
};

struct weft__writer {
  FILE *f;
  char buf[1 << 16];
  size_t len;
  int err;
  struct weft__ttable *tabs;
  unsigned ntabs;
  uint64_t t0;
  double ns_per_tick;
  uint64_t wake_flow;
};

static void weft__w_flush(struct weft__writer *w) {
  if (w->len && fwrite(w->buf, 1, w->len, w->f) != w->len) w->err = errno ? errno : EIO;
  w->len = 0;
}
static void weft__w_str(struct weft__writer *w, const char *s) {
  size_t n = strlen(s);
  if (w->len + n > sizeof w->buf) weft__w_flush(w);
  if (n > sizeof w->buf) {
    fwrite(s, 1, n, w->f);
    return;
  }
  memcpy(w->buf + w->len, s, n);
  w->len += n;
}
static void weft__w_u64(struct weft__writer *w, uint64_t v) {
  char t[24];
  int n = 0;
  do {
    t[n++] = (char)('0' + v % 10);
    v /= 10;
  } while (v);
  if (w->len + 24 > sizeof w->buf) weft__w_flush(w);
  while (n) w->buf[w->len++] = t[--n];
}
/* A timestamp in microseconds with three decimals, relative to t0. */
static void weft__w_ts(struct weft__writer *w, uint64_t ticks) {
  uint64_t ns = ticks > w->t0 ? (uint64_t)((double)(ticks - w->t0) * w->ns_per_tick) : 0;
  weft__w_u64(w, ns / 1000);
  char d[5] = {'.', (char)('0' + ns / 100 % 10), (char)('0' + ns / 10 % 10),
               (char)('0' + ns % 10), 0};
  weft__w_str(w, d);
}
static void weft__w_json_str(struct weft__writer *w, const char *s) {
  weft__w_str(w, "\"");
  char one[8];
  for (; *s; s++) {
    unsigned char c = (unsigned char)*s;
    if (c == '"' || c == '\\') {
      one[0] = '\\';
      one[1] = (char)c;
      one[2] = 0;
    } else if (c < 0x20) {
      snprintf(one, sizeof one, "\\u%04x", c);
    } else {
      one[0] = (char)c;
      one[1] = 0;
    }
    weft__w_str(w, one);
  }
  weft__w_str(w, "\"");
}

static struct weft__tinfo *weft__tinfo(struct weft__writer *w, uint64_t id) {
  unsigned s = (unsigned)(id >> 40);
  uint64_t seq = id & ((UINT64_C(1) << 40) - 1);
  if (s >= w->ntabs) return NULL;
  struct weft__ttable *t = &w->tabs[s];
  if (seq >= t->n) {
    size_t n = t->n ? t->n : 1024;
    while (n <= seq) n *= 2;
    struct weft__tinfo *v = realloc(t->v, n * sizeof *v);
    if (!v) return NULL;
    memset(v + t->n, 0, (n - t->n) * sizeof *v);
    t->v = v;
    t->n = n;
  }
  return &t->v[seq];
}

static const char *weft__tname_of(struct weft__writer *w, uint64_t id) {
  struct weft__tinfo *ti = weft__tinfo(w, id);
  return ti ? ti->name : NULL;
}

/* The common start of an event line. */
static void weft__w_ev(struct weft__writer *w, const char *ph, int tid, uint64_t ts) {
  weft__w_str(w, ",\n{\"ph\":\"");
  weft__w_str(w, ph);
  weft__w_str(w, "\",\"pid\":1,\"tid\":");
  weft__w_u64(w, (uint64_t)tid);
  weft__w_str(w, ",\"ts\":");
  weft__w_ts(w, ts);
}

static void weft__w_instant(struct weft__writer *w, int tid, uint64_t ts, const char *cat,
                            const char *name) {
  weft__w_ev(w, "i", tid, ts);
  weft__w_str(w, ",\"s\":\"t\",\"cat\":\"");
  weft__w_str(w, cat);
  weft__w_str(w, "\",\"name\":\"");
  weft__w_str(w, name);
  weft__w_str(w, "\"");
}

static void weft__w_flow(struct weft__writer *w, const char *ph, const char *name, int tid,
                         uint64_t ts, uint64_t id) {
  weft__w_ev(w, ph, tid, ts);
  weft__w_str(w, ",\"cat\":\"flow\",\"name\":\"");
  weft__w_str(w, name);
  weft__w_str(w, "\",\"id\":");
  weft__w_u64(w, id);
  weft__w_str(w, ",\"bp\":\"e\"}");
}

/* One track's open slice. */
struct weft__open {
  uint64_t task, ts;
  int open;
};

static void weft__w_slice(struct weft__writer *w, int tid, struct weft__open *o, uint64_t end_ts,
                          const char *end, uint64_t awaits, int still_open) {
  if (!o->open) return;
  struct weft__tinfo *ti = weft__tinfo(w, o->task);
  weft__w_ev(w, "X", tid, o->ts);
  weft__w_str(w, ",\"dur\":");
  uint64_t d = end_ts > o->ts ? (uint64_t)((double)(end_ts - o->ts) * w->ns_per_tick) : 0;
  weft__w_u64(w, d / 1000);
  char dd[5] = {'.', (char)('0' + d / 100 % 10), (char)('0' + d / 10 % 10), (char)('0' + d % 10),
                0};
  weft__w_str(w, dd);
  weft__w_str(w, ",\"cat\":\"run\",\"name\":");
  const char *nm = weft__tname_of(w, o->task);
  if (nm) {
    weft__w_json_str(w, nm);
  } else {
    weft__w_str(w, "\"task ");
    weft__w_u64(w, o->task);
    weft__w_str(w, "\"");
  }
  weft__w_str(w, ",\"args\":{\"task\":");
  weft__w_u64(w, o->task);
  weft__w_str(w, ",\"end\":\"");
  weft__w_str(w, end);
  weft__w_str(w, "\"");
  if (awaits) {
    weft__w_str(w, ",\"awaits\":");
    weft__w_u64(w, awaits);
  }
  weft__w_str(w, ",\"depth\":");
  weft__w_u64(w, ti ? (uint64_t)ti->depth : 0);
  if (still_open) weft__w_str(w, ",\"open\":true");
  weft__w_str(w, "}}");
  o->open = 0;
}

/* Opens a slice for `task` on track tid, with the flows that end there. */
static void weft__w_begin(struct weft__writer *w, int tid, struct weft__open *o, uint64_t task,
                          uint64_t ts) {
  struct weft__tinfo *ti = weft__tinfo(w, task);
  if (ti) {
    if (!ti->ran && ti->spawned) {
      weft__w_flow(w, "s", "spawn", ti->spawn_tid, ti->spawn_ts, task);
      weft__w_flow(w, "f", "spawn", tid, ts, task);
    } else if (ti->woken) {
      uint64_t id = UINT64_C(1000000000000) + ++w->wake_flow;
      weft__w_flow(w, "s", "wake", ti->wake_tid, ti->wake_ts, id);
      weft__w_flow(w, "f", "wake", tid, ts, id);
    }
    ti->ran = 1;
    ti->woken = 0;
  }
  o->task = task;
  o->ts = ts;
  o->open = 1;
}

/* Each stream: the records of a buffer up to the position it had published
 * when the write began (trace.h), read in place, as track tid: a worker's
 * (1 + index) or the outside one (0). */
struct weft__stream {
  struct weft__tchunk *chunk; /* being read */
  struct weft__trec *pos, *end; /* the next record; the end of chunk's */
  struct weft__trec *pub;       /* the end of the last chunk to read */
  int tid;
};

/* Whether p is one past a record of c (the end of its records, if it is
 * the buffer's last chunk read). Addresses, not pointer comparison: p may
 * be in another chunk. */
static int weft__tchunk_holds(const struct weft__tchunk *c, const struct weft__trec *p) {
  uintptr_t a = (uintptr_t)c->rec, x = (uintptr_t)p;
  return x > a && x <= a + WEFT__TCHUNK_RECS * sizeof(struct weft__trec);
}

static void weft__stream_enter(struct weft__stream *s, struct weft__tchunk *c) {
  s->chunk = c;
  s->pos = c->rec;
  /* Only a chunk before the one that holds pub is read to its end: that
   * one's end (and next) the owner may be writing. */
  s->end = weft__tchunk_holds(c, s->pub) ? s->pub : c->end;
}

static void weft__stream_open(struct weft__stream *s, struct weft__tbuf *b, int tid) {
  s->tid = tid;
  /* acquire: pairs with the release store in weft__trace_emit; the
   * records before pub, `first`, and the links and ends of the chunks
   * before pub's are then visible. */
  s->pub = atomic_load_explicit(&b->pub, memory_order_acquire);
  s->chunk = NULL;
  s->pos = s->end = s->pub; /* NULL: an empty stream */
  if (s->pub) weft__stream_enter(s, b->first);
}

static struct weft__trec *weft__stream_peek(struct weft__stream *s) {
  while (s->pos == s->end) {
    if (s->end == s->pub) return NULL;
    weft__stream_enter(s, s->chunk->next);
  }
  return s->pos;
}

/* The names given on a worker, as far as published: acquire the count,
 * then the array (it pairs with the release stores in weft__tbuf_name): an
 * array at least as new as the count holds at least that many entries. */
static const struct weft__tname_ent *weft__tbuf_names(struct weft__tbuf *b, size_t *n) {
  *n = atomic_load_explicit(&b->nnames, memory_order_acquire);
  struct weft__tname_arr *a = atomic_load_explicit(&b->names, memory_order_acquire);
  return a ? a->ent : NULL;
}

/* Writes the trace file from what the buffers have published — all they
 * hold when the workers have stopped (complete), else what they held
 * when this began (a write at exit: the workers still append, and are
 * never written to) — and says on stderr what went wrong. 0 or an errno. */
static int weft__trace_write(struct weft__trace *tr, int complete) {
  int rc = 0;
  unsigned n = tr->nbufs;
  struct weft__writer *w = calloc(1, sizeof *w);
  struct weft__stream *st = calloc(n + 1, sizeof *st);
  struct weft__open *open = calloc(n + 1, sizeof *open);
  int *parked = calloc(n + 1, sizeof *parked);
  if (!w || !st || !open || !parked) {
    rc = ENOMEM;
    goto out;
  }
  w->f = fopen(tr->path, "w");
  if (!w->f) {
    rc = errno;
    fprintf(stderr, "weft: cannot write the trace to %s: %s\n", tr->path, strerror(rc));
    goto out;
  }
  uint64_t mono1 = weft__mono_ns(), tsc1 = weft__trace_now(tr->use_tsc);
  w->ns_per_tick = tr->use_tsc && tsc1 > tr->tsc0
                       ? (double)(mono1 - tr->mono0) / (double)(tsc1 - tr->tsc0)
                       : 1.0;
  w->t0 = tr->tsc0;
  w->ntabs = n + 1;
  w->tabs = calloc(w->ntabs, sizeof *w->tabs);
  if (!w->tabs) {
    rc = ENOMEM;
    goto out;
  }
  /* What is read: the names, then the records (a task named in between,
   * at exit, shows as "task N"); the outside ones under the lock their
   * writers take (the outside list's nodes never change). Names into the
   * per-task table, once: the newest name of a task wins (by stamp; on a
   * tie, the outside list's newest-first order, then worker order, then the
   * later in a worker's list). */
  pthread_mutex_lock(&tr->lock);
  struct weft__tname *onames = tr->names;
  pthread_mutex_unlock(&tr->lock);
  for (struct weft__tname *nm = onames; nm; nm = nm->next) {
    struct weft__tinfo *ti = weft__tinfo(w, nm->id);
    if (ti && (!ti->name || nm->stamp > ti->name_stamp)) {
      ti->name = nm->name;
      ti->name_stamp = nm->stamp;
    }
  }
  struct weft__tbuf *b = tr->bufs;
  for (unsigned i = 0; i < n; i++, b = b->trace_next) {
    size_t nn;
    const struct weft__tname_ent *ent = weft__tbuf_names(b, &nn);
    for (size_t k = 0; k < nn; k++) {
      const struct weft__tname_ent *e = &ent[k];
      struct weft__tinfo *ti = weft__tinfo(w, e->id);
      if (ti && (!ti->name || e->stamp >= ti->name_stamp)) {
        ti->name = e->name;
        ti->name_stamp = e->stamp;
      }
    }
  }
  pthread_mutex_lock(&tr->lock);
  weft__stream_open(&st[0], &tr->outside, 0);
  uint64_t dropped = atomic_load_explicit(&tr->outside.dropped, memory_order_relaxed);
  pthread_mutex_unlock(&tr->lock);
  b = tr->bufs;
  for (unsigned i = 0; i < n; i++, b = b->trace_next) {
    weft__stream_open(&st[i + 1], b, (int)i + 1);
    dropped += atomic_load_explicit(&b->dropped, memory_order_relaxed);
  }

  /* Header and metadata. */
  weft__w_str(w, "{\"otherData\":{\"weft_trace\":1,\"workers\":");
  weft__w_u64(w, n);
  weft__w_str(w, ",\"clock\":\"monotonic_ns\",\"t0_ns\":");
  weft__w_u64(w, tr->mono0);
  weft__w_str(w, ",\"dropped\":");
  weft__w_u64(w, dropped);
  weft__w_str(w, complete ? ",\"complete\":true" : ",\"complete\":false");
  weft__w_str(w, "},\n\"displayTimeUnit\":\"ns\",\n\"traceEvents\":[\n");
  weft__w_str(w, "{\"ph\":\"M\",\"pid\":1,\"tid\":0,\"name\":\"process_name\",\"args\":{\"name\":"
                 "\"weft\"}}");
  weft__w_str(w, ",\n{\"ph\":\"M\",\"pid\":1,\"tid\":0,\"name\":\"thread_name\",\"args\":{\"name\":"
                 "\"main\"}}");
  for (unsigned i = 0; i < n; i++) {
    weft__w_str(w, ",\n{\"ph\":\"M\",\"pid\":1,\"tid\":");
    weft__w_u64(w, i + 1);
    weft__w_str(w, ",\"name\":\"thread_name\",\"args\":{\"name\":\"weft-w");
    weft__w_u64(w, i);
    weft__w_str(w, "\"}}");
  }

  /* Merge the streams by time and decode. */
  uint64_t last_ts = tr->tsc0;
  int nparked = 0;
  for (;;) {
    struct weft__stream *s = NULL;
    struct weft__trec *r = NULL;
    for (unsigned i = 0; i <= n; i++) {
      struct weft__trec *q = weft__stream_peek(&st[i]);
      if (q && (!r || (q->head >> 8) < (r->head >> 8))) {
        r = q;
        s = &st[i];
      }
    }
    if (!r) break;
    s->pos++;
    uint64_t ts = r->head >> 8;
    unsigned kind = (unsigned)(r->head & 0xff);
    int tid = s->tid;
    struct weft__open *o = &open[tid];
    if (ts > last_ts) last_ts = ts;
    switch (kind) {
    case WEFT__TK_SPAWN: {
      struct weft__tinfo *ti = weft__tinfo(w, r->arg);
      struct weft__tinfo *pi = o->open ? weft__tinfo(w, o->task) : NULL;
      int depth = pi ? pi->depth + 1 : 0;
      if (ti) {
        ti->spawned = 1;
        ti->spawn_ts = ts;
        ti->spawn_tid = (int16_t)tid;
        ti->depth = depth;
      }
      weft__w_instant(w, tid, ts, "spawn", "spawn");
      weft__w_str(w, ",\"args\":{\"task\":");
      weft__w_u64(w, r->arg);
      weft__w_str(w, ",\"parent\":");
      weft__w_u64(w, o->open ? o->task : 0);
      weft__w_str(w, ",\"depth\":");
      weft__w_u64(w, (uint64_t)depth);
      weft__w_str(w, "}}");
      break;
    }
    case WEFT__TK_BEGIN:
      weft__w_slice(w, tid, o, ts, "await", 0, 0); /* defensive: never two open */
      weft__w_begin(w, tid, o, r->arg, ts);
      break;
    case WEFT__TK_END_DONE:
      if (o->open) {
        uint64_t task = o->task;
        weft__w_slice(w, tid, o, ts, "done", 0, 0);
        weft__w_instant(w, tid, ts, "complete", "complete");
        weft__w_str(w, ",\"args\":{\"task\":");
        weft__w_u64(w, task);
        weft__w_str(w, ",\"err\":0}}");
      }
      break;
    case WEFT__TK_END_AWAIT:
      weft__w_slice(w, tid, o, ts, "await", r->arg, 0);
      break;
    case WEFT__TK_JOIN:
      /* The open slice's task depends on r->arg from here on; the slice
       * goes on (the await did not switch). */
      if (o->open && r->arg) {
        weft__w_instant(w, tid, ts, "join", "join");
        weft__w_str(w, ",\"args\":{\"task\":");
        weft__w_u64(w, o->task);
        weft__w_str(w, ",\"awaits\":");
        weft__w_u64(w, r->arg);
        weft__w_str(w, "}}");
      }
      break;
    case WEFT__TK_END_YIELD:
      weft__w_slice(w, tid, o, ts, "yield", 0, 0);
      break;
    case WEFT__TK_INLINE: {
      uint64_t parent = o->open ? o->task : 0;
      weft__w_slice(w, tid, o, ts, "inline", r->arg, 0);
      struct weft__tinfo *ti = weft__tinfo(w, r->arg);
      if (ti) ti->inline_parent = parent;
      weft__w_begin(w, tid, o, r->arg, ts);
      break;
    }
    case WEFT__TK_INLINE_DONE:
      if (o->open) {
        uint64_t task = o->task;
        struct weft__tinfo *ti = weft__tinfo(w, task);
        weft__w_slice(w, tid, o, ts, "done", 0, 0);
        weft__w_instant(w, tid, ts, "complete", "complete");
        weft__w_str(w, ",\"args\":{\"task\":");
        weft__w_u64(w, task);
        weft__w_str(w, ",\"err\":0}}");
        if (ti && ti->inline_parent) {
          o->task = ti->inline_parent;
          o->ts = ts;
          o->open = 1;
        }
      }
      break;
    case WEFT__TK_COMPLETE:
      weft__w_instant(w, tid, ts, "complete", "complete");
      weft__w_str(w, ",\"args\":{\"task\":");
      weft__w_u64(w, r->arg & ((UINT64_C(1) << 52) - 1));
      weft__w_str(w, ",\"err\":");
      weft__w_u64(w, r->arg >> 52);
      weft__w_str(w, "}}");
      break;
    case WEFT__TK_WAKE: {
      struct weft__tinfo *ti = weft__tinfo(w, r->arg);
      if (ti) {
        ti->woken = 1;
        ti->wake_ts = ts;
        ti->wake_tid = (int16_t)tid;
      }
      weft__w_instant(w, tid, ts, "wake", "wake");
      weft__w_str(w, ",\"args\":{\"task\":");
      weft__w_u64(w, r->arg);
      weft__w_str(w, "}}");
      break;
    }
    case WEFT__TK_STEAL: {
      unsigned victim = (unsigned)(r->arg & 0xffff);
      weft__w_instant(w, tid, ts, "steal", "steal");
      weft__w_str(w, ",\"args\":{\"victim\":");
      weft__w_u64(w, victim);
      weft__w_str(w, ",\"count\":");
      weft__w_u64(w, (r->arg >> 16) & 0xffff);
      weft__w_str(w, "}}");
      weft__w_ev(w, "C", 0, ts);
      weft__w_str(w, ",\"name\":\"runqueue\",\"args\":{\"w");
      weft__w_u64(w, victim);
      weft__w_str(w, "\":");
      weft__w_u64(w, r->arg >> 32);
      weft__w_str(w, "}}");
      break;
    }
    case WEFT__TK_INJECT:
      weft__w_instant(w, tid, ts, "inject", "inject");
      weft__w_str(w, ",\"args\":{\"count\":");
      weft__w_u64(w, r->arg);
      weft__w_str(w, "}}");
      break;
    case WEFT__TK_PARK:
    case WEFT__TK_UNPARK: {
      int park = kind == WEFT__TK_PARK;
      if (park != parked[tid]) {
        parked[tid] = park;
        nparked += park ? 1 : -1;
      }
      weft__w_instant(w, tid, ts, "park", park ? "park" : "unpark");
      weft__w_str(w, "}");
      weft__w_ev(w, "C", 0, ts);
      weft__w_str(w, ",\"name\":\"parked\",\"args\":{\"parked\":");
      weft__w_u64(w, (uint64_t)nparked);
      weft__w_str(w, "}}");
      break;
    }
    default:
      break;
    }
  }
  /* Slices still open (a task still running when the trace was written):
   * closed at the last time read, flagged "open". */
  for (unsigned i = 0; i <= n; i++) weft__w_slice(w, (int)i, &open[i], last_ts, "await", 0, 1);
  weft__w_str(w, "\n]}\n");
  weft__w_flush(w);
  if (fclose(w->f) != 0 && !w->err) w->err = errno;
  w->f = NULL;
  rc = w->err;
  if (rc) fprintf(stderr, "weft: writing the trace to %s failed: %s\n", tr->path, strerror(rc));
  if (dropped)
    fprintf(stderr, "weft: trace %s: %llu events were dropped (buffers full; WEFT_TRACE_MAX_MB)\n",
            tr->path, (unsigned long long)dropped);
out:
  if (w) {
    if (w->f) fclose(w->f);
    if (w->tabs)
      for (unsigned i = 0; i < w->ntabs; i++) free(w->tabs[i].v);
    free(w->tabs);
  }
  free(w);
  free(st);
  free(open);
  free(parked);
  return rc;
}

/* Frees it all; out of the live list already. */
static void weft__trace_free(struct weft__trace *tr, struct weft__tbuf **bufs, unsigned n) {
  weft__pager_stop(tr); /* (a second call finds it stopped) */
  for (unsigned i = 0; bufs && i < n; i++) weft__tbuf_free(bufs[i]);
  for (struct weft__tchunk *c = tr->outside.first, *nx; c; c = nx) {
    nx = c->next;
    weft__tchunk_unmap(c);
  }
  for (struct weft__tname *nm = tr->names, *nx; nm; nm = nx) {
    nx = nm->next;
    free(nm->name);
    free(nm);
  }
  pthread_mutex_destroy(&tr->lock);
  pthread_mutex_destroy(&tr->pager.lock);
  pthread_cond_destroy(&tr->pager.cv);
  free(tr->path);
  free(tr);
}

int weft__trace_finish(struct weft__trace *tr, struct weft__tbuf **bufs, unsigned n) {
  /* Out of the live list before anything is written or freed: the exit
   * handler then cannot start on it; if it has written it, the process
   * is exiting and that file stays. */
  int written = weft__live_remove(tr);
  weft__pager_stop(tr);
  int rc = written ? 0 : weft__trace_write(tr, 1);
  weft__trace_free(tr, bufs, n);
  return rc;
}

void weft__trace_finish_discard(struct weft__trace *tr, struct weft__tbuf **bufs, unsigned n) {
  weft__live_remove(tr);
  weft__trace_free(tr, bufs, n);
}
