/* task — the internal shape of futures and tasks, shared by future.c
 * (settling, waiters, combinators), worker.c (running, suspending, waking)
 * and runtime.c (spawning, shutdown).
 *
 * A task *is* a future: struct weft__task starts with a struct weft_future.
 */
#ifndef WEFT_TASK_H
#define WEFT_TASK_H

#include <stdatomic.h>
#include <stdint.h>

#include "context.h"
#include "weft/future.h"
#include "weft/runtime.h"

struct weft__stack;
struct weft__worker;

enum weft__fkind { WEFT__F_PLAIN = 1, WEFT__F_DERIVED, WEFT__F_TASK };

#define WEFT__F_MAGIC 0x66757475u /* "futu": a live future */
#define WEFT__F_DEAD 0xdeadf07eu

/* The settle state word: PENDING, then SETTLING (one settler has claimed
 * it and is writing value/err), then DONE. */
enum { WEFT__S_PENDING = 0, WEFT__S_SETTLING = 1, WEFT__S_DONE = 2 };

/* The waiter list head: a pointer to the newest waiter, or CLOSED once the
 * future has settled (no waiter can be added after that). */
#define WEFT__WAITERS_CLOSED ((struct weft__waiter *)(uintptr_t)1)

/* Something waiting for a future. `fire` runs exactly once per waiter:
 * with settled = 1 when the future settles, or settled = 0 if the future is
 * freed while still pending (the waiter only drops what it holds). It owns
 * the waiter's memory from then on. */
struct weft__waiter {
  struct weft__waiter *next;
  void (*fire)(struct weft__waiter *w, struct weft_future *f, int settled);
};

struct weft_future {
  uint32_t magic;
  uint8_t kind;            /* enum weft__fkind; never changes */
  /* Tasks: its start word may be claimed by a plain store (worker.c,
   * "Plain claims"). Set at spawn, never changed. */
  uint8_t plain_claim;
  atomic_uint refs;
  atomic_uint state;       /* WEFT__S_* */
  _Atomic(struct weft__waiter *) waiters;
  void *value;             /* written by the settler before DONE is published */
  int err;
  /* Settling without recursion (future.c): pending dispatch on this thread. */
  struct weft__waiter *dispatch_list;
  struct weft_future *dispatch_next;
};

/* A task's wait word: (generation << 3) | state. The generation tells a
 * stale wake (for an earlier await, cancelled since) from the current one.
 * 64 bits, so that it never wraps: with 29 bits of generation a task's
 * 2^29-th wait was taken by every waker for a stale one, and hung (a
 * minute of channel ping-pong). See worker.c ("Awaiting") for the
 * transitions. */
enum {
  WEFT__W_RUNNING = 0,
  WEFT__W_PREPARING = 1,      /* switching out to wait: not yet findable */
  WEFT__W_WAITING = 2,        /* linked and findable: a waker schedules it */
  WEFT__W_WOKEN = 3,          /* the future settled */
  WEFT__W_CANCELLED = 4,      /* a cancel woke it */
  WEFT__W_PREP_CANCELLED = 5, /* cancelled while PREPARING: the post-switch action wakes it */
  WEFT__W_TIMEDOUT = 6,       /* its deadline came (timer.h) */
  WEFT__W_PREP_TIMEDOUT = 7   /* the deadline came while PREPARING: as PREP_CANCELLED */
};
#define WEFT__W_SHIFT 3
#define WEFT__W_STATE(w) ((unsigned)((w) & 7u))
#define WEFT__W_GEN(w) ((w) >> WEFT__W_SHIFT)
#define WEFT__W_MAKE(gen, st) (((uint64_t)(gen) << WEFT__W_SHIFT) | (uint64_t)(st))

/* A task's start word: whoever moves it from NEW first decides whether the
 * coroutine ever runs, and how. INLINED: its awaiter runs it on its own
 * stack (worker.c, "Running an awaited task inline") while the task's
 * spawn entry is still queued somewhere, now stale; the first entry naming
 * it that is dequeued after that moves the word on to INLINED_DROPPED and
 * is dropped, and any later one is a resume entry. An awaiter that pops the
 * spawn entry itself and runs the task inline moves NEW straight to
 * INLINED_DROPPED. Either way, INLINED* tells the adders of waiters that
 * the settle will be light (future.c). On a runtime of one worker the
 * owner moves it from NEW with a plain store where it can (worker.c,
 * "Plain claims"); everyone else uses CAS. One word, so that a
 * claim is one CAS and an awaiter that loses it writes nothing. (Found as
 * a bug: the stale mark was a second word, set by every would-be claimer
 * before its CAS and cleared by a loser after it; a late loser wiped the
 * winner's mark while the spawn entry was queued — which was then taken
 * for a resume and switched to a context never saved — or set it again
 * after the entry was dropped, and a resume entry was dropped: a lost run.
 * Test inline::awaiters_claim_an_unstarted_task_at_once.) */
enum {
  WEFT__T_NEW = 0,
  WEFT__T_STARTED = 1,
  WEFT__T_CANCELLED = 2,
  WEFT__T_INLINED = 3,
  WEFT__T_INLINED_DROPPED = 4
};

struct weft__task {
  struct weft_future fut; /* first: a task is a future */
  struct weft__ctx ctx;
  struct weft__stack *stack; /* bound when it first runs, returned when it ends;
                              * an inlined task borrows its awaiter's */
  weft_fn fn;
  void *arg;
  weft_runtime *rt;
  struct weft__task *next;   /* intrusive link: injection queue, yield queue */
  atomic_uint start;         /* WEFT__T_* */
  atomic_uint cancel;        /* cancellation requested */
  _Atomic uint64_t wait;     /* see WEFT__W_* */
  uint64_t wait_gen;         /* owner-only: generation of the current wait */
  long long qidx;            /* where its spawn entry went in its spawner's deque (a hint,
                              * for an awaiter claiming it there: worker.c) */
  uint64_t trace_id;         /* its id in the trace (0 when not traced) */
  /* The worker holding the runtime's reference in its list of parked
   * references (worker.c, weft__rref_park), or NULL. Set and cleared by that
   * worker only; others only compare it with their own worker. */
  _Atomic(struct weft__worker *) rref;
  /* Registration in a worker's list of tasks that have waited on something
   * that may never happen — a future that is not a task of the same
   * runtime, a channel or lock, a sleep (see weft_runtime_destroy) — kept
   * from the first such wait until the task finishes (worker.c,
   * weft__register). Links under reg_home->reg_lock; reg_home is written
   * (under it) and read only by the task's own code and post-switch
   * actions. */
  struct weft__task *reg_prev, *reg_next;
  struct weft__worker *reg_home; /* the worker whose list holds it, or NULL */
};

static inline struct weft__task *weft__as_task(weft_future *f) {
  return f->kind == WEFT__F_TASK ? (struct weft__task *)(void *)f : NULL;
}

/* future.c */
void weft__future_init(weft_future *f, enum weft__fkind kind, unsigned refs);
/* Settles f (err = 0: resolved with value). 0, or EALREADY. Wakes waiters. */
int weft__future_settle(weft_future *f, void *value, int err);
/* The same, for a settler that is the only possible one (a task's own
 * coroutine finishing): no election CAS. */
void weft__future_settle_owned(weft_future *f, void *value, int err);
/* The same, for a task run inline by its awaiter (worker.c): no
 * read-modify-write unless somebody waits. Only for a task whose start word
 * says INLINED or INLINED_DROPPED from its claim on: the adders of waiters
 * read it to know they must pay the other half (future.c). */
void weft__future_settle_light(weft_future *f, void *value, int err);
/* Adds a waiter; returns 0, or EALREADY if f has settled (w not added).
 * With 0, w may have fired already. */
int weft__future_add_waiter(weft_future *f, struct weft__waiter *w);
static inline int weft__future_done(const weft_future *f) {
  /* acquire: pairs with the release in settle; value and err are visible. */
  return atomic_load_explicit(&((weft_future *)f)->state, memory_order_acquire) == WEFT__S_DONE;
}
/* Reads a settled future (DONE already observed with acquire, or settled
 * by the caller): its error, and its value if it has none. */
static inline int weft__future_read(const weft_future *f, void **value) {
  if (value) *value = f->err ? NULL : f->value;
  return f->err;
}
void weft__future_unref(weft_future *f);
/* Tells the waiters on `list` (f's, taken by whoever dropped its last
 * reference) that f is gone. */
void weft__future_bury_waiters(weft_future *f, struct weft__waiter *list);
/* Drops two references the caller holds (see weft__task_release_parked).
 * 1 if they were the last: f is dead (its waiters told, its magic DEAD)
 * and its memory is the caller's to free (a task's: weft__task_free).
 * Here, not in future.c: it is on every fork-join task's path, and left
 * to the link-time optimiser it is inlined or not by the weather. */
static inline int weft__future_unref2(weft_future *f) {
  /* The same as weft__future_unref with two of ours: if they are all
   * there are, no other holder exists to race with. acquire / acq_rel: as
   * there. */
  if (atomic_load_explicit(&f->refs, memory_order_acquire) != 2 &&
      atomic_fetch_sub_explicit(&f->refs, 2, memory_order_acq_rel) != 2)
    return 0;
  /* No reference is left, so nobody can add a waiter any more: a load
   * suffices (acquire: the waiters' contents, published by the release
   * CAS that linked them). */
  struct weft__waiter *list = atomic_load_explicit(&f->waiters, memory_order_acquire);
  if (WEFT__UNLIKELY(list != NULL)) weft__future_bury_waiters(f, list);
  f->magic = WEFT__F_DEAD;
  return 1;
}
/* Drops a reference a handle holder gives up (weft_future_release, for a
 * valid f). */
void weft__future_drop(weft_future *f);
/* Hands a dead future's memory to the quarantine (see future.c). */
void weft__future_retire(weft_future *f);
int weft__future_valid(const weft_future *f);

/* worker.c */
/* A handle's release (weft_future_release) of a task whose runtime
 * reference an inline run parked: if that was on the calling worker, drops
 * both references (1); else 0, and the caller drops its own as usual. */
int weft__task_release_parked(struct weft__task *t);
/* Makes a woken task runnable again (from any thread). */
void weft__task_schedule(struct weft__task *t);
/* The future a task waits for has settled: wake it if it still waits in
 * generation `gen`. */
void weft__task_wake(struct weft__task *t, uint64_t gen);
/* Frees a finished task's memory (the last reference is gone). */
void weft__task_free(struct weft__task *t);
/* Waits in the calling task (th->worker->current) for f, or until the
 * deadline (WEFT_NO_DEADLINE: none); see weft_await_until. With f NULL it
 * sleeps until the deadline (weft_sleep_until). With `join` (f a future,
 * no deadline: weft_join), it then drops the caller's reference to f,
 * whatever the wait returned. One function for both, so that each public
 * call is one frame above the inline run of what it awaits. */
struct weft__thread;
int weft__task_wait(struct weft__thread *th, weft_future *f, uint64_t deadline, void **value,
                    int join);
/* Cancels a task (see weft_cancel). */
int weft__task_cancel(struct weft__task *t);

#endif
