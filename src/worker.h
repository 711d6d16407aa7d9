/* worker — a runtime's worker threads and the runtime object they share.
 *
 * THE TLS RULE. A coroutine may suspend on one worker thread and resume on
 * another. Code that can run inside a coroutine must never keep a
 * thread-local's address, or anything derived from "the current worker",
 * across a suspension (await, yield, a switch of any kind): the compiler is
 * allowed to cache the thread pointer across a call (glibc even declares
 * __errno_location const). Get the current worker only through
 * weft__worker_current() — not inlined, with a compiler barrier — again
 * after every switch. Users are told the same about errno and their own
 * thread-locals (weft/runtime.h).
 *
 * Layout. A worker's deque is the only part other threads touch (thieves);
 * it sits on its own cache lines. Everything after it is owner-only: the
 * LIFO slot, the yield queue, the current task, the scheduler's own
 * context. The runtime's shared counters are each on their own line.
 */
#ifndef WEFT_WORKER_H
#define WEFT_WORKER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "context.h"
#include "deque.h"
#include "inject.h"
#include "park.h"
#include "slab.h"
#include "spin.h"
#include "task.h"
#include "timer.h"
#include "trace.h"
#include "weft_config.h"

#define WEFT__STALE_RECS 64 /* a power of two */

struct weft__freelist {
  void *head;
  unsigned n;
  struct weft__slab slab; /* where new objects come from when the list is empty */
};
void weft__freelist_init(struct weft__freelist *fl, int tasks);

/* Statistics: written by the owner only (load + store, no lock prefix),
 * read by anyone with relaxed loads. */
struct weft__stats {
  atomic_ullong spawns, runs, switches, steals, injected, parks, inlined;
};
#define WEFT__COUNT(w, field)                                                          \
  atomic_store_explicit(&(w)->stats.field,                                             \
                        atomic_load_explicit(&(w)->stats.field, memory_order_relaxed) + 1, \
                        memory_order_relaxed)

#define WEFT__RREF_MAX 8

struct weft__worker {
  struct weft__deque dq; /* thief-visible */

  /* Owner-only from here. */
  _Alignas(WEFT__CACHELINE) struct weft__task *lifo; /* the task it just woke: runs next */
  /* The task whose start word this worker is claiming with a plain store,
   * or NULL (worker.c, "Plain claims"): written by the owner, read by
   * cancellers. */
  _Atomic(struct weft__task *) claiming;
  int plain_claims; /* tasks spawned here may be claimed so: the only worker */
  struct weft__task *yq_head, *yq_tail; /* tasks that yielded: run when nothing else is */
  struct weft__task *current;           /* the task running on this worker, or NULL */
  struct weft__ctx sched;               /* the worker thread's own stack: the scheduler loop */
  weft_runtime *rt;
  unsigned index;
  unsigned tick;     /* scheduling decisions taken; every 61st looks at the injector first */
  uint64_t rng;      /* xorshift state for choosing victims */
  /* The last lone task seen in another deque: (victim, its push count),
   * and since when. */
  struct weft__worker *lone_victim;
  unsigned long long lone_pushes;
  uint64_t lone_since; /* weft__now() at the first look that saw it */
  int lone_skipped; /* the last look skipped a lone task: look again soon */
  /* The deque this worker holds a steal lease on (deque.h), or NULL, and
   * how many tasks of its own it has had since it last looked to steal
   * (worker.c, weft__lease_for). */
  struct weft__deque *lease;
  unsigned lease_own;
  long live_delta;   /* tasks spawned minus finished here, not yet added to rt->live */
  struct weft__freelist free_tasks, free_nodes;
  /* Runtime references of tasks run inline after a pop, not yet dropped
   * (worker.c, weft__rref_park): owner-only. */
  struct weft__task *rref[WEFT__RREF_MAX];
  unsigned rref_n;
  /* Spawn entries in this deque whose tasks an awaiter here ran inline
   * without suspending: dropped in one batch when they reach the bottom
   * (worker.c, "Running an awaited task inline"). By deque index mod
   * WEFT__STALE_RECS; every pop of an index forgets its record. */
  struct weft__stale_rec {
    long long idx; /* the entry's deque index */
    struct weft__task *task;
    /* The task's handle was released here while the record stood: the
     * record holds that reference too (worker.c, weft__task_release_parked). */
    int handle;
  } stale[WEFT__STALE_RECS];
  unsigned stale_n; /* records naming a task: with none, pops skip them */
  struct weft__tbuf *tb; /* trace buffer; NULL when not tracing */
  int use_tsc;
  uint64_t trace_seq;    /* ids of tasks spawned here */
  pthread_t thread;

  /* Deadlines of tasks suspended here: added by the owner, fired by any
   * worker, removed by the woken task (timer.h). */
  _Alignas(WEFT__CACHELINE) struct weft__timers timers;

  /* Tasks that have suspended here on something that may never happen:
   * linked by the owner (post-switch action of such a task's first such
   * wait), unlinked by the task when it ends (on any worker), walked by
   * weft_runtime_destroy (worker.c, weft__register). */
  _Alignas(WEFT__CACHELINE) weft__spin reg_lock;
  struct weft__task *reg_head;

  /* Read by weft_runtime_stats from any thread. */
  _Alignas(WEFT__CACHELINE) struct weft__stats stats;

  /* Read by the destroying thread: odd while parked (with live_delta
   * flushed), bumped on every park and every wake. */
  _Alignas(WEFT__CACHELINE) atomic_uint park_gen;
  /* The CPU it last saw itself on (weft__spread), or -1: written by the
   * owner, read by the other workers. */
  atomic_int cpu;
};

struct weft_runtime {
  unsigned nworkers;
  size_t stack_size;
  struct weft__worker **workers;
  struct weft__inject inject;
  struct weft__park park;
  /* One worker at a time decides where it runs (worker.c, weft__spread). */
  weft__spin spread_lock;

  /* How many workers are looking for work without sleeping, and how many
   * are parked or about to park: together they decide whether a new task
   * needs a wake-up (worker.c, weft__notify). */
  _Alignas(WEFT__CACHELINE) atomic_int nspinning;
  _Alignas(WEFT__CACHELINE) atomic_int nidle;
  /* 1 from a wake-up until a worker leaves idleness: one wake-up in flight
   * at a time (worker.c, weft__notify). */
  _Alignas(WEFT__CACHELINE) atomic_uint wake_pending;
  /* Tasks alive (spawned, not finished): exact once every worker's
   * live_delta is flushed, which each does before parking. */
  _Alignas(WEFT__CACHELINE) atomic_long live;

  atomic_uint shutdown;   /* spawns are refused */
  atomic_uint cancel_all; /* every task is as good as cancelled */
  /* Cancellers inside the rare half of a plain claim's fence pair
   * (worker.c, "Plain claims"): while it is not 0, claims use CAS. */
  atomic_uint cancelling;
  atomic_uint stop;       /* workers exit when idle */
  atomic_uint outside_wakers; /* threads that are no worker inside weft__task_schedule */

  struct weft__trace *trace; /* NULL when not tracing */
  struct weft__tbuf **trace_bufs; /* the workers' buffers, handed to the writer */
  unsigned *park_scan;            /* 2 x nworkers: weft_runtime_destroy's scans */

};

/* The worker the calling thread is, or NULL. See the TLS rule above. */
struct weft__worker *weft__worker_current(void);

/* The task running on the calling thread, or NULL. Same rule. */
struct weft__task *weft__task_self(void);

/* Starts / stops worker threads (worker.c). */
int weft__worker_start(weft_runtime *rt, unsigned index);
void weft__worker_join(struct weft__worker *w);

/* Makes a new task runnable: on the calling worker's deque if it is one of
 * rt's, else through the injection queue. `w`: the calling worker
 * (weft__worker_current()), or NULL. 0, or ENOMEM (not queued). */
int weft__task_submit(struct weft__worker *w, weft_runtime *rt, struct weft__task *t);

/* weft_runtime_destroy: cancels every task registered since it first
 * waited on something that may never happen (worker.c, weft__register). */
void weft__cancel_registered(weft_runtime *rt);

/* Whether the calling thread, about to race for t's start word (a cancel,
 * a waiter added to it), may race a plain claim of it (worker.c, "Plain
 * claims") and must pay the heavy half of the fence: t is claimed so, and
 * we are not on its worker's thread. */
int weft__plain_claim_racy(struct weft__task *t);

/* Tells idle workers there is work, if nobody is already looking. */
void weft__notify(weft_runtime *rt);

/* Trace event sites: one predictable branch when tracing is off. */
#if WEFT_TRACE
#define WEFT__TRACE(w, kind, arg)                                                        \
  do {                                                                                   \
    if (WEFT__UNLIKELY((w)->tb != NULL))                                                 \
      weft__trace_emit((w)->tb, (w)->use_tsc, (kind), (arg));                            \
  } while (0)
#else
#define WEFT__TRACE(w, kind, arg) ((void)0)
#endif
/* An event from wherever: the calling worker's buffer if it is one of
 * rt's, else the runtime's outside buffer. */
void weft__trace_here(weft_runtime *rt, unsigned kind, uint64_t arg);

/* Task memory: from the calling worker's free list when there is one.
 * `w`: the calling worker (weft__worker_current()), or NULL. */
struct weft__task *weft__task_alloc(struct weft__worker *w);

/* future.c: frees what this thread's quarantine holds (thread exit). */
void weft__future_drain_quarantine(struct weft__thread *th);


#endif
