/* runtime — creating and destroying runtimes, spawning tasks, and
 * run_until_complete: the public face of the scheduler in worker.c.
 *
 * Shutdown. weft_runtime_destroy refuses new spawns, marks every task as
 * cancelled (rt->cancel_all: tasks not started never start; running ones
 * see ECANCELED at their next await or yield), wakes the tasks suspended on
 * futures that might never settle, in channels and locks, or sleeping
 * (registered, from their first such wait until they end, with the worker
 * they first suspended on: such a task, even if it now waits for another
 * task of this runtime, is woken with ECANCELED; one that never waited so
 * is woken when the task it awaits ends), and waits for quiescence: every worker parked, twice in a row
 * with the same park generation, and the live-task count zero. Each worker
 * adds its own spawned-minus-finished count to rt->live before it parks,
 * so while all are parked the count is exact; two identical scans prove
 * that all were parked at one instant between them, which is when the
 * count was read.
 */
#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "cpus.h"
#include "membar.h"
#include "stack.h"
#include "worker.h"

#define WEFT__MAX_WORKERS 4096

void weft_runtime_config_init(weft_runtime_config *cfg) {
  if (cfg) memset(cfg, 0, sizeof *cfg);
}

/* A worker is mapped, not malloc'd: fresh zero pages (aligned beyond a
 * cache line) that become resident only as they are used — its deque's
 * slots are most of its 34 KiB, and a fork-join program uses a few. */
static size_t weft__worker_bytes(void) {
  size_t page = (size_t)sysconf(_SC_PAGESIZE);
  return (sizeof(struct weft__worker) + page - 1) & ~(page - 1);
}

static void weft__runtime_free(weft_runtime *rt) {
  if (rt->workers) {
    for (unsigned i = 0; i < rt->nworkers; i++) {
      if (!rt->workers[i]) continue;
      weft__timers_fini(&rt->workers[i]->timers);
      munmap(rt->workers[i], weft__worker_bytes());
    }
    free(rt->workers);
  }
  weft__inject_destroy(&rt->inject);
  free(rt->trace_bufs);
  free(rt->park_scan);
  free(rt);
}

static void weft__runtime_stop_workers(weft_runtime *rt, unsigned started) {
  /* release: pairs with the acquire load in a parking worker's re-check;
   * the wake-all below makes every parked worker get there. */
  atomic_store_explicit(&rt->stop, 1, memory_order_release);
  weft__park_wake_all(&rt->park);
  for (unsigned i = 0; i < started; i++) weft__worker_join(rt->workers[i]);
}

int weft_runtime_create(weft_runtime **out, const weft_runtime_config *cfg) {
  if (!out) return EINVAL;
  weft_runtime_config c;
  weft_runtime_config_init(&c);
  if (cfg) c = *cfg;
  if (c.workers > WEFT__MAX_WORKERS) return EINVAL;
  size_t stack = weft__stack_round(c.stack_size);
  if (!stack) return EINVAL;
  unsigned n = c.workers ? c.workers : weft__cpus_usable();

  weft_runtime *rt = aligned_alloc(WEFT__CACHELINE, sizeof *rt);
  if (!rt) return ENOMEM;
  memset(rt, 0, sizeof *rt);
  weft__spin_init(&rt->spread_lock);
  rt->nworkers = n;
  rt->stack_size = stack;
  weft__inject_init(&rt->inject);
  weft__park_init(&rt->park);
  weft__membar_init(); /* before any task: both halves of each pair agree on the mode */
  atomic_init(&rt->nspinning, 0);
  atomic_init(&rt->nidle, 0);
  atomic_init(&rt->wake_pending, 0);
  atomic_init(&rt->live, 0);
  atomic_init(&rt->shutdown, 0);
  atomic_init(&rt->cancel_all, 0);
  atomic_init(&rt->cancelling, 0);
  atomic_init(&rt->stop, 0);
  atomic_init(&rt->outside_wakers, 0);
  rt->workers = calloc(n, sizeof *rt->workers);
  rt->park_scan = calloc(2 * (size_t)n, sizeof *rt->park_scan);
  if (!rt->workers || !rt->park_scan) {
    weft__runtime_free(rt);
    return ENOMEM;
  }
  for (unsigned i = 0; i < n; i++) {
    struct weft__worker *w = mmap(NULL, weft__worker_bytes(), PROT_READ | PROT_WRITE,
                                  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (w == MAP_FAILED) {
      weft__runtime_free(rt);
      return ENOMEM;
    }
    /* One worker: nobody steals from its deque (only workers steal, from
     * others), so its pops go without a fence. */
    weft__deque_init(&w->dq, n == 1); /* the rest of w is zeroed already */
    /* ... and for the same reason it may claim its tasks' starts with a
     * plain store (worker.c, "Plain claims"). */
    w->plain_claims = n == 1 && weft__membar_asym;
    weft__timers_init(&w->timers);
    weft__spin_init(&w->reg_lock);
    weft__freelist_init(&w->free_tasks, 1);
    weft__freelist_init(&w->free_nodes, 0);
    w->rt = rt;
    w->index = i;
    w->rng = 0x9e3779b97f4a7c15ull * (i + 1) ^ (uintptr_t)rt;
    if (!w->rng) w->rng = 1;
    atomic_init(&w->park_gen, 0);
    atomic_init(&w->cpu, -1);
    rt->workers[i] = w;
  }
#if WEFT_TRACE
  char *path = weft__trace_path(c.trace_path);
  if (path) {
    int rc = weft__trace_create(&rt->trace, path);
    free(path);
    rt->trace_bufs = calloc(n, sizeof *rt->trace_bufs);
    for (unsigned i = 0; !rc && rt->trace_bufs && i < n; i++) {
      rt->workers[i]->tb = rt->trace_bufs[i] = weft__tbuf_new(rt->trace);
      rt->workers[i]->use_tsc = rt->trace->use_tsc;
      if (!rt->trace_bufs[i]) rc = ENOMEM;
    }
    if (rc || !rt->trace_bufs) {
      if (rt->trace) weft__trace_finish_discard(rt->trace, rt->trace_bufs, n);
      rt->trace = NULL;
      weft__runtime_free(rt);
      return ENOMEM;
    }
  }
#endif
  for (unsigned i = 0; i < n; i++) {
    if (weft__worker_start(rt, i) != 0) {
      weft__runtime_stop_workers(rt, i);
#if WEFT_TRACE
      /* Its pager thread and the live-trace record too, or the exit
       * handler would write from freed buffers. */
      if (rt->trace) weft__trace_finish_discard(rt->trace, rt->trace_bufs, n);
      rt->trace = NULL;
#endif
      weft__runtime_free(rt);
      return EAGAIN;
    }
  }
  *out = rt;
  return 0;
}

unsigned weft_runtime_workers(const weft_runtime *rt) { return rt ? rt->nworkers : 0; }

/* ---- spawning ---------------------------------------------------------------- */

/* `w`: the calling worker (weft__worker_current(), of any runtime), or NULL;
 * read once by the caller: nothing here can suspend. */
static int weft__spawn(struct weft__worker *w, weft_runtime *rt, weft_fn fn, void *arg,
                       weft_future **out) {
  if (atomic_load_explicit(&rt->shutdown, memory_order_acquire)) return ESHUTDOWN;
  struct weft__task *t = weft__task_alloc(w);
  if (!t) return ENOMEM;
  weft__future_init(&t->fut, WEFT__F_TASK, out ? 2 : 1); /* the runtime's, and the caller's */
  t->stack = NULL;
  t->fn = fn;
  t->arg = arg;
  t->rt = rt;
  t->next = NULL;
  atomic_init(&t->start, WEFT__T_NEW);
  atomic_init(&t->cancel, 0);
  atomic_init(&t->wait, WEFT__W_RUNNING);
  t->wait_gen = 0;
  t->qidx = -1;
  t->reg_prev = t->reg_next = NULL;
  t->reg_home = NULL;
  if (w && w->rt == rt) {
    t->fut.plain_claim = w->plain_claims; /* else not: future_init cleared it */
    w->live_delta++;
    WEFT__COUNT(w, spawns);
  }
  else
    atomic_fetch_add_explicit(&rt->live, 1, memory_order_relaxed);
  t->trace_id = 0;
  atomic_init(&t->rref, NULL);
#if WEFT_TRACE
  if (WEFT__UNLIKELY(rt->trace != NULL)) {
    if (w && w->rt == rt) {
      t->trace_id = WEFT__TRACE_ID(w->index + 1, ++w->trace_seq);
      WEFT__TRACE(w, WEFT__TK_SPAWN, t->trace_id);
    } else {
      t->trace_id = weft__trace_outside_id(rt->trace);
      weft__trace_emit_outside(rt->trace, WEFT__TK_SPAWN, t->trace_id);
    }
  }
#endif
  if (weft__task_submit(w, rt, t) != 0) {
    /* Not queued (the injection queue could not grow): undo the spawn. */
    if (w && w->rt == rt)
      w->live_delta--;
    else
      atomic_fetch_sub_explicit(&rt->live, 1, memory_order_relaxed);
    atomic_store_explicit(&t->fut.refs, 1, memory_order_relaxed);
    weft__future_unref(&t->fut);
    return ENOMEM;
  }
  if (out) *out = &t->fut;
  return 0;
}

int weft_runtime_spawn(weft_runtime *rt, weft_fn fn, void *arg, weft_future **task) {
  if (!rt || !fn) return EINVAL;
  return weft__spawn(weft__worker_current(), rt, fn, arg, task);
}

int weft_spawn(weft_fn fn, void *arg, weft_future **task) {
  if (!fn) return EINVAL;
  struct weft__worker *w = weft__worker_current();
  struct weft__task *self = w ? w->current : NULL;
  if (!self) return EPERM;
  return weft__spawn(w, self->rt, fn, arg, task);
}

int weft_task_set_name(weft_future *task, const char *name) {
  if (!weft__future_valid(task) || !name) return EINVAL;
  struct weft__task *t = weft__as_task(task);
  if (!t) return EINVAL;
#if WEFT_TRACE
  if (t->rt->trace) {
    /* On one of its workers: that worker's buffer, no lock. */
    struct weft__worker *w = weft__worker_current();
    if (w && w->rt == t->rt && w->tb)
      weft__tbuf_name(w->tb, t->trace_id, name);
    else
      weft__trace_name(t->rt->trace, t->trace_id, name);
  }
#endif
  return 0;
}

weft_runtime *weft_runtime_current(void) {
  struct weft__worker *w = weft__worker_current();
  return w ? w->rt : NULL;
}

weft_future *weft_task_current(void) {
  struct weft__task *t = weft__task_self();
  return t ? &t->fut : NULL;
}

int weft_run_until_complete(weft_runtime *rt, weft_fn fn, void *arg, void **result) {
  if (!rt || !fn) return EINVAL;
  if (weft__worker_current()) return EDEADLK; /* it would block a worker */
  weft_future *root;
  int rc = weft__spawn(NULL, rt, fn, arg, &root);
  if (rc) return rc;
  rc = weft_await(root, result); /* a plain thread: blocks on a futex */
  weft_future_release(root);
  return rc;
}

int weft_runtime_stats(const weft_runtime *rt, weft_worker_stats *total,
                       weft_worker_stats *per_worker, unsigned n) {
  if (!rt) return EINVAL;
  if (total) memset(total, 0, sizeof *total);
  for (unsigned i = 0; i < rt->nworkers; i++) {
    const struct weft__stats *s = &rt->workers[i]->stats;
    weft_worker_stats one = {
        atomic_load_explicit(&s->spawns, memory_order_relaxed),
        atomic_load_explicit(&s->runs, memory_order_relaxed),
        atomic_load_explicit(&s->switches, memory_order_relaxed),
        atomic_load_explicit(&s->steals, memory_order_relaxed),
        atomic_load_explicit(&s->injected, memory_order_relaxed),
        atomic_load_explicit(&s->parks, memory_order_relaxed),
        atomic_load_explicit(&s->inlined, memory_order_relaxed),
    };
    if (per_worker && i < n) per_worker[i] = one;
    if (total) {
      total->spawns += one.spawns;
      total->runs += one.runs;
      total->switches += one.switches;
      total->steals += one.steals;
      total->injected += one.injected;
      total->parks += one.parks;
      total->inlined += one.inlined;
    }
  }
  return 0;
}

/* ---- destroying ------------------------------------------------------------------- */

/* One scan: 1 if every worker is parked; their generations go to gens[]. */
static int weft__scan_parked(weft_runtime *rt, unsigned *gens) {
  for (unsigned i = 0; i < rt->nworkers; i++) {
    /* acquire: pairs with the release increment before parking, which
     * follows the worker's flush of its live count. */
    gens[i] = atomic_load_explicit(&rt->workers[i]->park_gen, memory_order_acquire);
    if (!(gens[i] & 1)) return 0;
  }
  return 1;
}

static int weft__quiescent(weft_runtime *rt, unsigned *g1, unsigned *g2) {
  if (!weft__scan_parked(rt, g1)) return 0;
  /* acquire: after the scan's acquire loads of park_gen, which pair with
   * each worker's release after flushing its count into live. */
  long live = atomic_load_explicit(&rt->live, memory_order_acquire);
  if (!weft__scan_parked(rt, g2)) return 0;
  if (memcmp(g1, g2, rt->nworkers * sizeof *g1) != 0) return 0;
  return live == 0;
}

int weft_runtime_destroy(weft_runtime *rt) {
  if (!rt) return EINVAL;
  struct weft__worker *me = weft__worker_current();
  if (me && me->rt == rt) return EDEADLK;
  /* seq_cst: spawns that load it after this refuse; one that loaded it
   * just before is a live task like any other, cancelled below. */
  atomic_store_explicit(&rt->shutdown, 1, memory_order_seq_cst);
  /* seq_cst, then the registry under its lock: a task registering after
   * our scan checks cancel_all after registering (weft__await_after). */
  atomic_store_explicit(&rt->cancel_all, 1, memory_order_seq_cst);
  unsigned *g1 = rt->park_scan;
  unsigned delay_us = 10;
  for (;;) {
    weft__cancel_registered(rt);
    weft__park_wake_all(&rt->park);
    if (weft__quiescent(rt, g1, g1 + rt->nworkers)) break;
    struct timespec ts = {0, (long)delay_us * 1000};
    nanosleep(&ts, NULL);
    if (delay_us < 1000) delay_us *= 2;
  }
  /* Every task has finished, but a thread that woke one may still be
   * between making it visible and its last touch of rt (worker.c,
   * weft__task_schedule): a few instructions, so yield until it is out.
   * acquire: pairs with its release decrement. */
  while (atomic_load_explicit(&rt->outside_wakers, memory_order_acquire)) sched_yield();
  weft__runtime_stop_workers(rt, rt->nworkers);
  int rc = 0;
#if WEFT_TRACE
  if (rt->trace) {
    rc = weft__trace_finish(rt->trace, rt->trace_bufs, rt->nworkers);
    for (unsigned i = 0; i < rt->nworkers; i++) rt->workers[i]->tb = NULL;
    rt->trace = NULL;
  }
#endif
  weft__runtime_free(rt);
  (void)rc; /* a trace that could not be written is said on stderr; destroy still succeeds */
  return 0;
}
