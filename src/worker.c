/* worker — the scheduler: running tasks on worker threads, suspending and
 * waking them, stealing, spinning and parking.
 *
 * Where a task runs next. Each worker looks, in order: its LIFO slot (the
 * task it just woke, for message-passing locality, as Go's runnext), its own
 * deque (newest first), its yield queue, the runtime's injection queue
 * (first, every 61st tick, so outside work is never starved), then other
 * workers' deques (random victim first). A task that suspends or finishes
 * switches *directly* to the next local task when there is one; only when
 * there is none does it switch to the worker's scheduler context (its
 * thread's own stack), which steals, spins and parks. Anything that makes
 * the suspended task visible to others is done in a post-switch action
 * (context.h), after its registers are saved.
 *
 * Waking and parking (no lost wake-up, no thundering herd). Let W be a
 * piece of new work made visible (deque bottom, injection queue length),
 * and P a worker going to sleep. The notifier does: W; light fence; read
 * nspinning; read nidle; wake one only if nobody spins and someone is
 * idle. P does: key = park_prepare(); nidle++ (seq_cst); heavy fence;
 * re-check every deque and the injection queue; sleep on key if empty.
 * (membar.h: both fences are seq_cst fences, or the light one is a compiler
 * barrier and the heavy one membarrier(2), which makes every running
 * thread execute a full barrier while it runs; either way the two are
 * ordered as below.) Both fences are in the single total order S. If P's
 * fence comes first in S, the notifier's read of nidle comes after P's
 * increment and sees it:
 * it wakes someone (bumping the event count after P's key, so P, or
 * another sleeper that will then find W, does not sleep through it). If
 * the notifier's fence comes first, P's re-check reads after W and finds
 * it (for W in a deque: sees it, or leaves it to the deque's owner, which
 * is awake — see weft__steal_any). If the notifier saw a spinner instead,
 * that spinner either finds W,
 * or parks by the same protocol (and re-checks after it), or finds other
 * work — and a spinner that stops spinning because it found work and was
 * the last spinner calls notify itself, so W is never left with nobody
 * looking. Spawns wake at most one worker, and only when none is spinning;
 * at most half the workers spin at once.
 */
#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <time.h>

#include "cpus.h"
#include "membar.h"
#include "sanitize.h"
#include "stack.h"
#include "thread.h"
#include "weft/time.h"
#include "waitq.h"
#include "worker.h"

/* A thief's patience with a victim's lone task (weft__steal_any). */
#define WEFT__LONE_RECHECK_NS 50000L
#define WEFT__LONE_GRACE_NS 3000u

/* Spinning: rounds of looking for work, with pauses between: about 20-50
 * us in all on current x86, so a worker woken for a burst of spawns stays
 * available (and counted as spinning: no further wake-ups) through it. */
#define WEFT__SPIN_ROUNDS 128
#define WEFT__SPIN_PAUSES 8
#define WEFT__FAIRNESS_TICK 61

/* A thief gives its steal lease back after this many tasks of its own
 * (weft__lease_for). */
#define WEFT__LEASE_OWN 64

struct weft__worker *weft__worker_current(void) { return weft__thread()->worker; }

struct weft__task *weft__task_self(void) {
  struct weft__worker *w = weft__thread()->worker;
  return w ? w->current : NULL;
}

static inline uint64_t weft__rand(struct weft__worker *w) {
  uint64_t x = w->rng;
  x ^= x << 13;
  x ^= x >> 7;
  x ^= x << 17;
  return w->rng = x;
}

/* ---- waking ----------------------------------------------------------------- */

void weft__notify(weft_runtime *rt) {
  /* The light half of the fence pair (membar.h): orders the publication of
   * the work (made by the caller just before) before the reads below,
   * against the heavy half a worker issues before it sleeps. See the file
   * comment. */
  weft__membar_light();
  if (atomic_load_explicit(&rt->nspinning, memory_order_relaxed) > 0) return;
  if (atomic_load_explicit(&rt->nidle, memory_order_relaxed) == 0) return;
  /* A wake-up is already on its way: the worker it wakes clears the flag
   * and then looks at everything (after a fence, the other half of this
   * Dekker pair), so it finds our work too; and if it finds any, it wakes
   * the next idle worker itself (weft__find_work). Without this, a burst
   * of spawns made one futex call each while the woken worker waited for
   * a CPU — on a loaded machine, most of a 10^6-spawn run's time. The flag
   * never outlives its purpose: every worker clears it when it leaves
   * idleness and again when it takes its key to park, so a flag left set
   * by a wake-up that found nobody asleep is gone before anyone sleeps. */
  if (atomic_load_explicit(&rt->wake_pending, memory_order_relaxed)) return;
  /* seq_cst: one notifier wins the flag and wakes. */
  if (atomic_exchange_explicit(&rt->wake_pending, 1, memory_order_seq_cst)) return;
  weft__park_wake_one(&rt->park);
}

/* A worker leaves idleness (woken, or found work before sleeping): the
 * next notify may wake someone again. */
static void weft__idle_exit(weft_runtime *rt) {
  /* seq_cst: the idle count as before parking. */
  atomic_fetch_sub_explicit(&rt->nidle, 1, memory_order_seq_cst);
  /* seq_cst store + fence: our caller's next look at the queues reads
   * after this clear, while a notifier reads the flag after publishing its
   * work — one of the two sees the other (see weft__notify). With the
   * asymmetric fences (membar.h) the notifier's half is only a compiler
   * barrier, so this look may miss its work; but this worker either finds
   * work and notifies in turn, or goes back to sleep through the heavy
   * fence, whose re-check cannot miss it. */
  atomic_store_explicit(&rt->wake_pending, 0, memory_order_seq_cst);
  atomic_thread_fence(memory_order_seq_cst);
}

#define WEFT__SPILL_BATCH 256

/* Owner only: moves the older half of the deque to the injection queue, a
 * batch at a time (the batch is on the stack, which may be a coroutine's:
 * half a batch in each of the two arrays, 2 KiB in all). If the queue
 * cannot grow, what it did not take goes back to the deque. */
static void weft__spill(struct weft__worker *w) {
  void *taken[WEFT__SPILL_BATCH / 2];
  struct weft__task *batch[WEFT__SPILL_BATCH / 2];
  for (size_t moved = 0; moved < WEFT__DEQUE_CAP / 2;) {
    size_t n = weft__deque_take_oldest(&w->dq, taken, WEFT__SPILL_BATCH / 2);
    if (!n) return;
    for (size_t i = 0; i < n; i++) batch[i] = taken[i];
    if (weft__inject_push(&w->rt->inject, batch, n) != 0) {
      while (n) weft__deque_push(&w->dq, batch[--n]); /* room: we just took them */
      return;
    }
    moved += n;
  }
}

/* The injection queue, for a task that must not be lost (a wake-up): out
 * of memory, it retries until the ring can grow. */
static void weft__inject_one(weft_runtime *rt, struct weft__task *t) {
  while (weft__inject_push(&rt->inject, &t, 1) != 0) sched_yield();
}

/* ---- steal leases ----------------------------------------------------------------
 *
 * A thief steals only under a lease on its victim's deque (deque.h): the
 * victim's pops pay a fence while it is held, and taking one costs the
 * thief a membarrier call (about 8 us here) and interrupts every running
 * worker. So a lease is taken only for a steal that can succeed (the
 * victim's deque looks non-empty and is not a lone task in its grace), and
 * kept while the thief goes on stealing: a worker that lives on stolen
 * trivial tasks (spawn-N at two workers, a spawn-and-await loop) takes one
 * lease, not one a steal. It goes back when the thief has work of its own
 * — WEFT__LEASE_OWN tasks spawned, taken from the injection queue, or
 * found in its own queues by its scheduler loop since it last looked to
 * steal (a stolen fork-join subtree spawns at once, and its victim should
 * not fence for as long as that subtree runs; a task that wakes another
 * and steals again keeps it) — when the thief sleeps, when it steals from
 * another victim, and when it stops. A thief that runs one long stolen
 * task that spawns nothing keeps its lease until it comes back: its
 * victim's pops fence meanwhile, as every pop did before leases. */
static void weft__lease_drop(struct weft__worker *w) {
  weft__deque_unlease(w->lease);
  w->lease = NULL;
}

static void weft__lease_for(struct weft__worker *w, struct weft__deque *d) {
  w->lease_own = 0;
  if (w->lease == d) return;
  if (w->lease) weft__lease_drop(w);
  weft__deque_lease(d);
  w->lease = d;
}

/* `n` tasks of w's own: a multi-worker runtime's spawns, injected batches,
 * and what its scheduler loop finds at home (a one-worker runtime's worker
 * never holds a lease). */
static inline void weft__lease_own(struct weft__worker *w, unsigned n) {
  if (WEFT__UNLIKELY(w->lease != NULL) && (w->lease_own += n) >= WEFT__LEASE_OWN)
    weft__lease_drop(w);
}

static void weft__push_local(struct weft__worker *w, struct weft__task *t) {
  if (weft__deque_push(&w->dq, t) != 0) {
    weft__spill(w);
    if (weft__deque_push(&w->dq, t) != 0) weft__inject_one(w->rt, t);
  }
}

int weft__task_submit(struct weft__worker *w, weft_runtime *rt, struct weft__task *t) {
  if (w && w->rt == rt) {
    /* Before the push publishes the task (a thief may run it at once). */
    t->qidx = atomic_load_explicit(&w->dq.bottom, memory_order_relaxed);
    weft__push_local(w, t);
    if (rt->nworkers > 1) {
      weft__lease_own(w, 1);
      weft__notify(rt);
    }
  } else {
    if (weft__inject_push(&rt->inject, &t, 1) != 0) return ENOMEM;
    weft__notify(rt);
  }
  return 0;
}

void weft__trace_here(weft_runtime *rt, unsigned kind, uint64_t arg) {
  struct weft__worker *w = weft__worker_current();
  if (w && w->rt == rt)
    WEFT__TRACE(w, kind, arg);
  else if (rt->trace)
    weft__trace_emit_outside(rt->trace, kind, arg);
}

void weft__task_schedule(struct weft__task *t) {
  weft_runtime *rt = t->rt;
  struct weft__worker *w = weft__worker_current();
  int outside = !(w && w->rt == rt);
  /* A thread that is no worker of rt (a plain thread resolving a future or
   * meeting a task on a channel) goes on touching rt after the task is
   * visible — and the task may run, finish, and let rt be destroyed
   * meanwhile. weft_runtime_destroy waits until no such waker is inside.
   * relaxed: the injection's release carries it to the worker that runs
   * the task, and from there through the live count to the destroyer. */
  if (outside) atomic_fetch_add_explicit(&rt->outside_wakers, 1, memory_order_relaxed);
#if WEFT_TRACE
  if (WEFT__UNLIKELY(rt->trace != NULL)) weft__trace_here(rt, WEFT__TK_WAKE, t->trace_id);
#endif
  if (!outside) {
    /* The woken task runs next here; the one it displaces goes where
     * thieves can see it. */
    struct weft__task *old = w->lifo;
    w->lifo = t;
    if (old) {
      weft__push_local(w, old);
      if (rt->nworkers > 1) weft__notify(rt);
    }
  } else {
    weft__inject_one(rt, t);
    weft__notify(rt);
    /* release: our last touch of rt happens-before the destroyer's free. */
    atomic_fetch_sub_explicit(&rt->outside_wakers, 1, memory_order_release);
  }
}

/* Moves t's wait word from PREPARING or WAITING of generation gen to
 * WOKEN. 1: it was WAITING, and t is the caller's to schedule; 0: the
 * await's post-switch action schedules it (from PREPARING), or somebody
 * else woke it, or that wait is over. */
static int weft__wake_claim(struct weft__task *t, uint64_t gen) {
  /* acquire: the first guess for the CAS below; the CAS itself orders. */
  uint64_t w = atomic_load_explicit(&t->wait, memory_order_acquire);
  for (;;) {
    if (WEFT__W_GEN(w) != gen) return 0; /* a stale waiter: that await is over */
    unsigned st = WEFT__W_STATE(w);
    if (st != WEFT__W_WAITING && st != WEFT__W_PREPARING) return 0; /* already woken */
    /* acq_rel: acquire pairs with the task's publication of WAITING (its
     * context is saved by then); release makes the settled value (or a
     * direct wait's record) visible to the task when it reads the word
     * after resuming. */
    if (atomic_compare_exchange_weak_explicit(&t->wait, &w, WEFT__W_MAKE(gen, WEFT__W_WOKEN),
                                              memory_order_acq_rel, memory_order_acquire))
      return st == WEFT__W_WAITING;
  }
}

void weft__task_wake(struct weft__task *t, uint64_t gen) {
  if (weft__wake_claim(t, gen)) weft__task_schedule(t);
}

/* ---- running ------------------------------------------------------------------- */

static void weft__task_entry(struct weft__ctx *self);

/* Owner: the task goes away without running (cancelled before it started,
 * or no stack for it). Its future is settled already. */
static void weft__task_discard(struct weft__worker *w, struct weft__task *t) {
  w->live_delta--;
  weft__future_unref(&t->fut); /* the runtime's reference */
}

/* ---- plain claims ----------------------------------------------------------------
 *
 * Whoever moves a task's start word from NEW owns its start (task.h). With
 * several workers that is a CAS: thieves, other awaiters and cancellers
 * may race for it. A runtime with one worker has no thief, and every
 * awaiter that could run the task inline is a coroutine on that worker's
 * thread; only a cancel, or a waiter added from another thread, can come
 * from elsewhere, and they are rare. So there the worker claims with a
 * plain store, and those rare parties make up for it with the heavy half
 * of an asymmetric fence (membar.h). One lock-prefixed instruction less
 * per task: fib and skynet on one worker take one such claim per task,
 * and its wait for the store buffer to drain was the largest single cost
 * left in them.
 *
 * The owner, claiming c (weft__claim):       a canceller of t on another thread
 *   O1 claiming = c (release)                C1 cancelling++
 *   O2 light fence                           C2 heavy fence
 *   O3 if cancelling != 0: O6, then CAS      C3 wait while claiming == t
 *   O4 read start: not NEW: O6, fail         C4 CAS start NEW -> CANCELLED
 *   O5 start = to                            C5 cancelling--
 *   O6 claiming = NULL (release)
 * The heavy fence puts a full barrier in the owner somewhere. If O1 came
 * before it, C3 sees O1: it waits for O6 (or a later O1, a release too),
 * after which O5 is visible and C4 fails, or O6 came already and O5 with
 * it. If O1 came after it, O3 sees C1 and the owner claims with a CAS,
 * which arbitrates with C4. Either way one of them owns the start. A
 * canceller on the worker's own thread is never inside the owner's window
 * and just CASes.
 *
 * A waiter added from another thread to a task whose word it reads NEW
 * pays the heavy fence too (future.c, weft__future_add_waiter): the NEW
 * case there relies on the claim being a seq_cst read-modify-write.
 *
 * Plain claims are decided per task at its spawn (fut.plain_claim): only
 * tasks spawned by the worker of a one-worker runtime (w->plain_claims),
 * and only where the asymmetric fence is real; a root task spawned from a
 * plain thread and awaited there is claimed with a CAS and its waiter
 * pays nothing. */

int weft__plain_claim_racy(struct weft__task *t) {
  /* The only worker is never inside its claim window while it runs our
   * code: on its thread we are ordered after or before it. */
  return t->fut.plain_claim && weft__worker_current() != t->rt->workers[0];
}

/* Owner: moves c's start word from *expect (NEW) to `to`; 1 if it did, else
 * 0 with the word's value in *expect, as a CAS. Success orders as seq_cst
 * (a CAS, or a plain claim made whole by the other parties' heavy fences). */
static inline __attribute__((always_inline)) int weft__claim(struct weft__worker *w,
                                                             struct weft__task *c,
                                                             unsigned *expect, unsigned to) {
  if (c->fut.plain_claim) {
    /* release: a C3 that reads this store, not O6, sees the last claim's O5. */
    atomic_store_explicit(&w->claiming, c, memory_order_release);  /* O1 */
    weft__membar_light();                                          /* O2 */
    /* acquire: pairs with C5, so that the claim of a canceller whose count
     * we read gone is visible to O4. */
    if (atomic_load_explicit(&w->rt->cancelling, memory_order_acquire) == 0) { /* O3 */
      unsigned st = atomic_load_explicit(&c->start, memory_order_acquire); /* O4 */
      if (st == *expect) atomic_store_explicit(&c->start, to, memory_order_relaxed); /* O5 */
      /* release: a canceller that sees the window closed sees O5 (C3). */
      atomic_store_explicit(&w->claiming, NULL, memory_order_release); /* O6 */
      if (st == *expect) return 1;
      *expect = st;
      return 0;
    }
    atomic_store_explicit(&w->claiming, NULL, memory_order_relaxed);
  }
  /* seq_cst: the total order of weft__future_add_waiter's NEW case; it
   * also decides against thieves, cancels and other awaiters. */
  return atomic_compare_exchange_strong_explicit(&c->start, expect, to, memory_order_seq_cst,
                                                 memory_order_acquire);
}

/* Readies `t` to be switched to: a task that has never run gets its stack
 * now (not when it was queued). Returns 0 if it must not run. */
static int weft__task_prepare_slow(struct weft__worker *w, struct weft__task *t, unsigned st);

static inline int weft__task_prepare(struct weft__worker *w, struct weft__task *t) {
  /* acquire: pairs with the CAS that moved the word (and, for a resume,
   * with the wake that queued it). */
  unsigned st = atomic_load_explicit(&t->start, memory_order_acquire);
  /* A suspended task resuming; or one that began as an inline run, whose
   * spawn entry is gone (two tasks yielding to each other, one of them
   * first run by its awaiter: every other switch). */
  if (WEFT__LIKELY(st == WEFT__T_STARTED || st == WEFT__T_INLINED_DROPPED)) return 1;
  return weft__task_prepare_slow(w, t, st);
}

static int weft__task_prepare_slow(struct weft__worker *w, struct weft__task *t, unsigned st) {
  if (st == WEFT__T_INLINED || st == WEFT__T_INLINED_DROPPED) {
    /* Two queue entries may name an inlined task: its stale spawn entry,
     * and a resume entry if it suspended. They are the same pointer, so
     * the first dequeued is the one dropped (with the reference the spawn
     * entry held) and the second resumes it; a resume entry can only exist
     * once the task has suspended, so dropping one never loses a run.
     * acq_rel: decides against the other entry's dequeuer which is first. */
    unsigned expect = WEFT__T_INLINED;
    if (st == WEFT__T_INLINED &&
        atomic_compare_exchange_strong_explicit(&t->start, &expect, WEFT__T_INLINED_DROPPED,
                                                memory_order_acq_rel, memory_order_acquire)) {
      weft__future_unref(&t->fut);
      return 0;
    }
    return 1;
  }
  unsigned expect = WEFT__T_NEW;
  /* Decides against weft__task_cancel and an inlining awaiter which of us
   * owns the start. */
  if (!weft__claim(w, t, &expect, WEFT__T_STARTED)) {
    if (expect == WEFT__T_INLINED || expect == WEFT__T_INLINED_DROPPED)
      return weft__task_prepare(w, t);
    weft__task_discard(w, t); /* cancelled first; the canceller settled it */
    return 0;
  }
  int err = 0;
  if (atomic_load_explicit(&w->rt->cancel_all, memory_order_relaxed))
    err = ECANCELED;
  else
    err = weft__stack_alloc(w->rt->stack_size, &t->stack);
  if (err) {
    weft__future_settle(&t->fut, NULL, err);
    WEFT__TRACE(w, WEFT__TK_COMPLETE, t->trace_id | ((uint64_t)err << 52));
    weft__task_discard(w, t);
    return 0;
  }
  t->stack->owner = t;
  t->stack->owner_name = NULL;
  weft__ctx_make(&t->ctx, t->stack->lo, t->stack->size, weft__task_entry);
  t->ctx.stack = t->stack;
  return 1;
}

/* Owner: pops its deque's bottom, and forgets the record of a stale entry
 * at that index (see "Running an awaited task inline": a record must not
 * outlive its entry, or it could match a later entry reusing the index
 * and the task's recycled memory). Every owner pop but the batch drop of
 * recorded entries goes through here. */
static void weft__stale_forget(struct weft__worker *w, struct weft__stale_rec *r);

static inline __attribute__((always_inline)) struct weft__task *
weft__own_pop_inline(struct weft__worker *w) {
  long long j = atomic_load_explicit(&w->dq.bottom, memory_order_relaxed) - 1;
  struct weft__task *x = weft__deque_pop(&w->dq);
  if (w->stale_n) {
    struct weft__stale_rec *r = &w->stale[j & (WEFT__STALE_RECS - 1)];
    if (r->idx == j && r->task) weft__stale_forget(w, r);
  }
  return x;
}

/* The same, left to the compiler: inlined into the inline run's pop (every
 * fib task), kept out of the scheduler's next-task loop, which is
 * smaller without it (a yield is 10 instructions shorter). */
static struct weft__task *weft__own_pop(struct weft__worker *w) { return weft__own_pop_inline(w); }

/* Owner: the LIFO slot, then the deque, then the yield queue. */
static struct weft__task *weft__pop_local(struct weft__worker *w) {
  struct weft__task *t;
  if ((t = w->lifo)) {
    w->lifo = NULL;
    return t;
  }
  /* An empty deque is the common case between yields: seen here without
   * a call (weft__deque_pop's own first test; relaxed, as there). */
  if (atomic_load_explicit(&w->dq.top, memory_order_relaxed) <
          atomic_load_explicit(&w->dq.bottom, memory_order_relaxed) &&
      (t = weft__own_pop(w)))
    return t;
  if ((t = w->yq_head)) {
    w->yq_head = t->next;
    if (!w->yq_head) w->yq_tail = NULL;
  }
  return t;
}

/* Owner: the next task to switch to without looking at other workers,
 * ready to run; or NULL: nothing local, or this is a fairness tick (every
 * 61st), when the scheduler loop must run to look at the injection queue
 * first. Call it once per switch: the tick is consumed by the call. */
static inline __attribute__((always_inline)) struct weft__task *
weft__local_next(struct weft__worker *w) {
  if (++w->tick % WEFT__FAIRNESS_TICK == 0) return NULL;
  struct weft__task *t;
  while ((t = weft__pop_local(w)) && !weft__task_prepare(w, t)) {
  }
  return t;
}

/* Leaves the running task `self` for `next` (from weft__local_next), or for
 * the scheduler loop if it is NULL; after(arg) runs on the other side.
 * Returns when `self` is resumed (possibly on another worker), unless
 * `exiting`. */
static void weft__switch_out(struct weft__worker *w, struct weft__task *self,
                             struct weft__task *next, int exiting, unsigned why, uint64_t awaits,
                             weft__after_fn after, void *arg) {
  WEFT__TRACE(w, why, awaits);
  if (next) WEFT__TRACE(w, WEFT__TK_BEGIN, next->trace_id);
  struct weft__ctx *to = next ? &next->ctx : &w->sched;
  w->current = next;
  WEFT__COUNT(w, switches);
  if (next) WEFT__COUNT(w, runs);
  if (exiting) weft__ctx_exit(&self->ctx, to, after, arg);
  weft__stack_check(self->stack);
  weft__ctx_switch(&self->ctx, to, after, arg);
}

/* Post-switch action of a finished task: give back its stack and drop the
 * runtime's reference (which may free it). */
static void weft__task_release(void *arg) {
  struct weft__task *t = arg;
  weft__ctx_destroy(&t->ctx);
  weft__stack_free(t->stack);
  t->stack = NULL;
  weft__future_unref(&t->fut);
}

static void weft__unregister(struct weft__task *t);

static void weft__task_entry(struct weft__ctx *self) {
  struct weft__task *t = (struct weft__task *)(void *)((char *)self - offsetof(struct weft__task, ctx));
  void *ret = t->fn(t->arg);
  weft__stack_check(t->stack);
  if (t->reg_home) weft__unregister(t);
  /* Settling may wake waiters into this worker's LIFO slot: they run next. */
  weft__future_settle_owned(&t->fut, ret, 0); /* only this coroutine settles a started task */
  struct weft__worker *w = weft__worker_current();
  w->live_delta--;
  weft__switch_out(w, t, weft__local_next(w), 1, WEFT__TK_END_DONE, 0, weft__task_release, t);
}

/* ---- suspending: await, yield ---------------------------------------------------
 *
 * Awaiting. The wait word goes, for one generation g:
 *   RUNNING --(task, before switching out)--> PREPARING
 *   PREPARING --(post-switch action, after linking the waiter)--> WAITING
 *   PREPARING|WAITING --(waker)--> WOKEN      PREPARING --(cancel)--> PREP_CANCELLED
 *   WAITING --(cancel)--> CANCELLED
 * Whoever moves the word out of WAITING schedules the task; if it left
 * PREPARING, the post-switch action's CAS to WAITING fails and *it*
 * schedules the task. So exactly one party schedules it, and the
 * post-switch action never touches the task or the future after its
 * successful CAS to WAITING — after that, the task may already be running
 * elsewhere, and finish, and be freed. That is why the action needs no
 * references of its own.
 *
 * A cancel must not be lost between the task's check of its flag and its
 * suspension: the task stores PREPARING and then reads the flag; the
 * canceller stores the flag and then reads the word (both seq_cst, a
 * Dekker pair). Either the task sees the flag and does not suspend, or the
 * canceller sees PREPARING/WAITING and acts on it. */

static int weft__cancelled(const struct weft__task *t) {
  return atomic_load_explicit(&((struct weft__task *)t)->cancel, memory_order_seq_cst) ||
         atomic_load_explicit(&t->rt->cancel_all, memory_order_seq_cst);
}

struct weft__task_waiter {
  struct weft__waiter base;
  struct weft__task *task; /* one reference: the task may be gone before we fire */
  uint64_t gen;
};

static struct weft__task_waiter *weft__node_get(void);
static void weft__node_put(struct weft__task_waiter *n);
static void weft__fl_put(struct weft__freelist *fl, void *p);

static void weft__task_waiter_fire(struct weft__waiter *w, weft_future *f, int settled) {
  (void)f;
  struct weft__task_waiter *tw = (struct weft__task_waiter *)w;
  struct weft__task *t = tw->task;
  if (settled) weft__task_wake(t, tw->gen);
  weft__node_put(tw);
  weft__future_unref(&t->fut);
}

/* The registry of waits that may never end is per worker, under a
 * spinlock (a pthread mutex here cost a channel round trip ~20 %): the
 * owner links a task in the post-switch action of its first such wait,
 * and the task stays in that list, wherever it runs, until it finishes —
 * it unlinks itself then, before its settle lets its memory go. So a task
 * that waits on channels or locks over and over pays for the list once,
 * not twice a wait. The destroyer cancels every task in the lists; one of
 * them that is running meanwhile just sees the cancel at its next wait,
 * as it would see cancel_all anyway. */
static void weft__register(struct weft__task *t) {
  struct weft__worker *w = weft__worker_current();
  weft__spin_lock(&w->reg_lock);
  t->reg_prev = NULL;
  t->reg_next = w->reg_head;
  if (w->reg_head) w->reg_head->reg_prev = t;
  w->reg_head = t;
  t->reg_home = w;
  weft__spin_unlock(&w->reg_lock);
}

static void weft__unregister(struct weft__task *t) {
  struct weft__worker *w = t->reg_home;
  weft__spin_lock(&w->reg_lock);
  if (t->reg_prev)
    t->reg_prev->reg_next = t->reg_next;
  else
    w->reg_head = t->reg_next;
  if (t->reg_next) t->reg_next->reg_prev = t->reg_prev;
  t->reg_home = NULL;
  weft__spin_unlock(&w->reg_lock);
}

void weft__cancel_registered(weft_runtime *rt) {
  for (unsigned i = 0; i < rt->nworkers; i++) {
    struct weft__worker *w = rt->workers[i];
    weft__spin_lock(&w->reg_lock);
    for (struct weft__task *t = w->reg_head; t; t = t->reg_next) weft__task_cancel(t);
    weft__spin_unlock(&w->reg_lock);
  }
}

struct weft__await_op {
  struct weft__task *self;
  weft_future *f;                  /* NULL: a sleep */
  struct weft__task_waiter *node;  /* NULL for a sleep */
  struct weft__timer *timer;       /* NULL: no deadline */
  uint64_t gen;
  int reg;
};

/* Post-switch action of an await: `self` is saved; now it may be found.
 * `op` lives on self's stack: read it before self can run again. */
static void weft__await_after(void *arg) {
  struct weft__await_op *op = arg;
  struct weft__task *self = op->self;
  struct weft__task_waiter *node = op->node;
  uint64_t gen = op->gen;
  uint64_t prep = WEFT__W_MAKE(gen, WEFT__W_PREPARING);
  if (op->reg) {
    if (!self->reg_home) weft__register(self); /* else still in a list since an earlier wait */
    /* The destroyer sets cancel_all before scanning the registry under its
     * lock; if its scan missed us, we see the flag here. */
    if (atomic_load_explicit(&self->rt->cancel_all, memory_order_seq_cst)) {
      uint64_t w = prep;
      /* acq_rel: against a waker's CAS on the same word (one of us moves
       * it out of PREPARING); failure means a waker got there first. */
      atomic_compare_exchange_strong_explicit(&self->wait, &w,
                                              WEFT__W_MAKE(gen, WEFT__W_PREP_CANCELLED),
                                              memory_order_acq_rel, memory_order_acquire);
    }
  }
  if (op->timer) {
    /* Before WAITING is published, so a woken task always finds its timer
     * in a heap (or fired) when it removes it. A firer may move the word
     * out of PREPARING from here on (weft__timer_fire). */
    op->timer->task = self;
    op->timer->gen = gen;
    weft__timers_add(&weft__worker_current()->timers, op->timer);
  }
  if (node && weft__future_add_waiter(op->f, &node->base) != 0) {
    /* Settled meanwhile: never linked. */
    weft__node_put(node);
    weft__future_unref(&self->fut); /* the node's reference; not the last: self runs */
    uint64_t w = prep;
    atomic_compare_exchange_strong_explicit(&self->wait, &w, WEFT__W_MAKE(gen, WEFT__W_WOKEN),
                                            memory_order_acq_rel, memory_order_acquire);
  }
  uint64_t w = prep;
  /* acq_rel: release publishes the saved context to whoever takes the
   * task out of WAITING (acquire there). */
  if (atomic_compare_exchange_strong_explicit(&self->wait, &w, WEFT__W_MAKE(gen, WEFT__W_WAITING),
                                              memory_order_acq_rel, memory_order_acquire))
    return; /* hands off: self is now the waker's or the canceller's */
  if (WEFT__W_STATE(w) == WEFT__W_PREP_CANCELLED)
    atomic_store_explicit(&self->wait, WEFT__W_MAKE(gen, WEFT__W_CANCELLED), memory_order_relaxed);
  else if (WEFT__W_STATE(w) == WEFT__W_PREP_TIMEDOUT)
    atomic_store_explicit(&self->wait, WEFT__W_MAKE(gen, WEFT__W_TIMEDOUT), memory_order_relaxed);
  weft__task_schedule(self);
}

/* ---- deadlines ------------------------------------------------------------------------
 *
 * A timed wait is an await whose post-switch action also puts a timer
 * record (on the waiting task's stack) into the worker's heap. The timer
 * is one more waker, with its own states: PREPARING -> PREP_TIMEDOUT (the
 * post-switch action finishes the job, as for a cancel) and WAITING ->
 * TIMEDOUT (the firer schedules the task). Whoever wakes the task, it
 * takes its timer out of the heap before its await returns; a firer holds
 * the heap's lock while it touches the record, so once that removal is
 * done the record (and the stack under it) is the task's alone again.
 *
 * Firing happens in the scheduler loop: a worker looks at its own heap
 * there (so at least on every fairness tick, and whenever it runs out of
 * local work), and before parking at every worker's heap; it parks no
 * longer than to the earliest deadline of them all. */

/* Under the heap's lock: the timer's deadline has come. Returns the task
 * to schedule, or NULL. */
static struct weft__task *weft__timer_fire(struct weft__timer *tm) {
  struct weft__task *t = tm->task;
  /* acquire: pairs with the post-switch action's publication (the first
   * guess; the CAS orders). */
  uint64_t w = atomic_load_explicit(&t->wait, memory_order_acquire);
  for (;;) {
    if (WEFT__W_GEN(w) != tm->gen) return NULL;
    unsigned st = WEFT__W_STATE(w), to;
    if (st == WEFT__W_PREPARING)
      to = WEFT__W_PREP_TIMEDOUT;
    else if (st == WEFT__W_WAITING)
      to = WEFT__W_TIMEDOUT;
    else
      return NULL; /* woken or cancelled already */
    /* acq_rel: against the other wakers' CAS on the same word (exactly one
     * moves it out of WAITING and schedules the task); acquire sees the
     * saved context published by the CAS to WAITING. */
    if (atomic_compare_exchange_weak_explicit(&t->wait, &w, WEFT__W_MAKE(tm->gen, to),
                                              memory_order_acq_rel, memory_order_acquire))
      return st == WEFT__W_WAITING ? t : NULL;
  }
}

#define WEFT__TIMER_BATCH 64

/* Scheduler loop: fires what is due in h; the woken tasks go to the
 * calling worker's queues. */
static void weft__timers_poll(struct weft__timers *h, uint64_t now) {
  struct weft__task *woken[WEFT__TIMER_BATCH];
  size_t n;
  do {
    n = weft__timers_expire(h, now, weft__timer_fire, woken, WEFT__TIMER_BATCH);
    /* Latest first: each schedule takes the LIFO slot and pushes the one
     * before it to the deque's bottom, so the earliest deadline runs first
     * and the rest follow in deadline order. */
    for (size_t i = n; i-- > 0;) weft__task_schedule(woken[i]);
  } while (n == WEFT__TIMER_BATCH);
}

/* The earliest deadline in the heaps of workers [lo, hi), or UINT64_MAX. */
static uint64_t weft__timers_min(weft_runtime *rt, unsigned lo, unsigned hi) {
  uint64_t next = UINT64_MAX;
  for (unsigned i = lo; i < hi; i++) {
    uint64_t x = weft__timers_next(&rt->workers[i]->timers);
    if (x < next) next = x;
  }
  return next;
}

/* Scheduler loop: fires this worker's due timers (all workers' if `all`).
 * Returns the earliest deadline still pending (UINT64_MAX: none) and
 * stores the time it read in *now_out. */
static uint64_t weft__timers_run(struct weft__worker *w, int all, uint64_t *now_out) {
  weft_runtime *rt = w->rt;
  unsigned lo = all ? 0 : w->index, hi = all ? rt->nworkers : w->index + 1;
  uint64_t next = weft__timers_min(rt, lo, hi);
  if (next == UINT64_MAX) return next;
  uint64_t now = weft__now();
  *now_out = now;
  if (next > now) return next;
  for (unsigned i = lo; i < hi; i++)
    if (weft__timers_next(&rt->workers[i]->timers) <= now)
      weft__timers_poll(&rt->workers[i]->timers, now);
  return weft__timers_min(rt, lo, hi);
}

/* ---- running an awaited task inline ----------------------------------------------
 *
 * Awaiting a task of the same runtime that has not started runs it right
 * here, as a call on the awaiter's stack: no switch, no stack of its own,
 * no waiter, no wake-up. (Work-first, as Cilk and libfork do for a join.)
 * Only the awaited task itself is run so: it is what the awaiter waits for
 * anyway, so no new deadlock can arise; running some *other* queued task
 * here could, if that task waited for something the awaiter does later.
 *
 * The inlined task is a full task: it has its own context record, borrowing
 * the awaiter's stack, so it may suspend (await, yield) and resume on
 * another worker, the awaiter's frames parked below it. When its body
 * returns, control returns to the awaiter's frame.
 *
 * Its queue entry: if it is the bottom of this worker's deque (a fork-join
 * await of the last spawn), it is popped. On a one-worker runtime an entry
 * elsewhere in the deque is taken out too, the newest entry moved into its
 * slot (weft__deque_remove_solo) when that is a spawn entry as well: no
 * thief can be reading either slot, and spawned tasks keep no order among
 * themselves. Otherwise it is claimed with a CAS to
 * INLINED and the stale entry is dropped by whoever dequeues it.
 * Fork-join code awaits its children in spawn order, so with more than
 * one worker all but the last are claimed so, and their stale entries
 * reach the bottom together when the last is popped. After each inline run
 * this worker drops the stale entries at its deque's bottom, so they do
 * not pile up:
 * - Clean runs (no switch on this worker while the task ran, so it never
 *   suspended and no resume entry for it can exist) are recorded by deque
 *   index in w->stale. A record matches while its index still holds its
 *   task: every owner pop forgets the record of the index it pops, and an
 *   index below top (stolen) is never reused. The recorded entries at the
 *   bottom are taken in one batch — one fence, not one per entry — and
 *   dropped without the CAS that moves their start word on: the entry is the
 *   only one that can name its task.
 * - Otherwise (a run that suspended), entries are popped one at a time and
 *   decided by their start word, as any dequeued entry.
 * Only when enough stack is left. */

static int weft__stack_room(struct weft__task *self) {
  char *sp = __builtin_frame_address(0);
  return sp > self->stack->inline_floor;
}

/* A dequeued entry `x`: if it is stale — its task was run inline by an
 * awaiter, or cancelled before it started — drops it (with the reference
 * it held) and returns 1; else 0, an entry to run (an inlined task's
 * resume entry is one: its spawn entry went first). */
static int weft__drop_if_stale(struct weft__worker *w, struct weft__task *x) {
  /* acquire: pairs with the CAS that moved the start word; re-decided in
   * prepare. */
  unsigned st = atomic_load_explicit(&x->start, memory_order_acquire);
  return (st == WEFT__T_CANCELLED || st == WEFT__T_INLINED) && !weft__task_prepare(w, x);
}

/* Pops stale entries (of inlined or cancelled tasks) off the deque's bottom.
 * Each entry is claimed (popped) before its task is looked at: an entry
 * only peeked at could be the last one, stolen, run and recycled by a
 * thief meanwhile. A runnable one goes straight back. */
static void weft__drop_stale_slow(struct weft__worker *w) {
  for (;;) {
    struct weft__task *x = weft__own_pop(w);
    if (!x) return;
    if (!weft__drop_if_stale(w, x)) {
      weft__deque_push(&w->dq, x); /* runnable: back where it was (room: just popped) */
      return;
    }
  }
}

/* The recorded clean stale entries at the deque's bottom, in one batch. The
 * records are only compared (a recorded task may be gone: its entry stolen
 * and dropped); what the batch pop returns is ours and is what was
 * recorded, since no index in it was popped since its record was made. */
static void weft__drop_stale_clean(struct weft__worker *w) {
  if (!w->stale_n) return; /* fib: none, ever */
  struct weft__deque *d = &w->dq;
  long long b = atomic_load_explicit(&d->bottom, memory_order_relaxed);
  /* A top older than the thieves' last steal only makes us try for
   * entries they took; the pop below reads it again after its fence. */
  long long t = atomic_load_explicit(&d->top, memory_order_relaxed);
  size_t k = 0;
  while (k < WEFT__STALE_RECS && b - 1 - (long long)k >= t) {
    long long j = b - 1 - (long long)k;
    const struct weft__stale_rec *r = &w->stale[j & (WEFT__STALE_RECS - 1)];
    if (r->idx != j || r->task == NULL || weft__deque_peek(d, j) != r->task) break;
    k++;
  }
  if (!k) return;
  /* No array of what was popped: it is what the records say (checked
   * against the slots above), and an array here would sit in the frame of
   * every inline run, under the whole recursion below it (512 bytes a level
   * was most of a fib task's stack). */
  size_t n = weft__deque_pop_n(d, k, NULL);
  w->stale_n -= (unsigned)n;
  for (size_t i = 0; i < n; i++) {
    struct weft__stale_rec *r = &w->stale[(b - 1 - (long long)i) & (WEFT__STALE_RECS - 1)];
    struct weft__task *x = r->task;
    r->task = NULL;
    if (!r->handle) {
      weft__future_unref(&x->fut); /* the entry's reference */
      continue;
    }
    /* The entry's and the released handle's, together: usually the last
     * two, dropped with a load (see "Parked runtime references"). */
    r->handle = 0;
    if (weft__future_unref2(&x->fut)) weft__fl_put(&w->free_tasks, x);
  }
}

/* A record goes (its index was popped some other way, or its slot is
 * wanted): it keeps nothing but, if the handle was released into it, that
 * reference, which it drops. */
static void weft__stale_forget(struct weft__worker *w, struct weft__stale_rec *r) {
  struct weft__task *x = r->task;
  r->task = NULL;
  w->stale_n--;
  if (r->handle) {
    r->handle = 0;
    weft__future_unref(&x->fut);
  }
}

/* Parked runtime references. A task run inline after its awaiter popped
 * its spawn entry holds two references, the runtime's (now the awaiter's
 * worker's) and, most often, the handle its awaiter releases right after
 * the await. Dropped one at a time, the first drop is a read-modify-write
 * (the other holder might drop its own at the same moment); dropped
 * together, by a holder that knows both are its own and sees the count at
 * 2, it is a load. So the worker parks the runtime's reference in a short
 * list and marks the task (rref); a release of a handle on the same worker
 * (weft_future_release) takes the parked reference with it
 * (weft__future_unref2). No other holder can mistake it for its own: the
 * mark names the worker. When the list is full, and when the worker
 * stops, the references still parked are dropped one by one. fib: one
 * read-modify-write less per task.
 *
 * A task run inline while its spawn entry stays queued here (claimed in
 * place, recorded in w->stale) is marked the same way: the runtime's
 * reference stays with the entry until the batch drop takes it, so a
 * handle released here first is handed to the record (its `handle`), and
 * the batch drop takes both with one load. skynet: nine read-modify-writes
 * less per node. The mark only says where to look: the record must still
 * name the task at its index (records are forgotten when their index is
 * popped otherwise, and reused), and a parked task must be in the list.
 *
 * A join (weft_join) needs neither: it gives its handle up in the inline
 * run itself (weft__run_inline), dropping both references at once after a
 * pop, or handing the handle's to the record at once. */
static void weft__rref_drain(struct weft__worker *w) {
  for (unsigned i = 0; i < w->rref_n; i++) {
    struct weft__task *t = w->rref[i];
    atomic_store_explicit(&t->rref, NULL, memory_order_relaxed);
    weft__future_unref(&t->fut);
  }
  w->rref_n = 0;
}

static void weft__rref_park(struct weft__worker *w, struct weft__task *t) {
  if (w->rref_n == WEFT__RREF_MAX) weft__rref_drain(w);
  w->rref[w->rref_n++] = t;
  /* relaxed: only this worker acts on it; others compare it with their
   * own worker and never find it equal. */
  atomic_store_explicit(&t->rref, w, memory_order_relaxed);
}

int weft__task_release_parked(struct weft__task *t) {
  struct weft__worker *w = weft__worker_current();
  if (!w || atomic_load_explicit(&t->rref, memory_order_relaxed) != w) return 0;
  struct weft__stale_rec *r = &w->stale[t->qidx & (WEFT__STALE_RECS - 1)];
  if (r->idx == t->qidx && r->task == t && !r->handle) {
    r->handle = 1; /* the handle's reference, to the record */
    return 1;
  }
  for (unsigned i = w->rref_n; i-- > 0;) /* usually the newest */
    if (w->rref[i] == t) {
      w->rref[i] = w->rref[--w->rref_n];
      atomic_store_explicit(&t->rref, NULL, memory_order_relaxed);
      /* The handle's and the parked one; the memory goes straight to this
       * worker's list (weft__task_free would look the worker up again). */
      if (weft__future_unref2(&t->fut)) weft__fl_put(&w->free_tasks, t);
      return 1;
    }
  return 0; /* its record went before the handle: the caller drops it */
}

/* Runs `c` (claimed: INLINED_DROPPED if popped, INLINED if its entry is
 * queued, at deque index `idx` of this worker, or -1: elsewhere or not
 * found) on the calling task's stack. `w`: the calling worker. For a join
 * (`join`), it also reads c into *value and drops the caller's handle,
 * returning what the read returns; else it returns 0 and the caller reads
 * c (settled) and keeps its handle. */
static int weft__run_inline(struct weft__worker *w, struct weft__task *self,
                            struct weft__task *c, int popped, long long idx, int join,
                            void **value) {
  struct weft__worker *w0 = w; /* the caller's: we have not switched since it read it */
  unsigned long long sw0 = atomic_load_explicit(&w->stats.switches, memory_order_relaxed);
  weft__ctx_borrow(&c->ctx, &self->ctx);
  c->stack = self->stack;
  w->current = c;
  WEFT__COUNT(w, inlined);
  WEFT__TRACE(w, WEFT__TK_INLINE, c->trace_id);
  void *ret = c->fn(c->arg);
  /* Possibly on another worker now, if c suspended; but leaving w0's
   * thread takes a switch there, so while w0's count of switches has not
   * moved we are still on it (and need not look up our thread). */
  int clean = atomic_load_explicit(&w0->stats.switches, memory_order_relaxed) == sw0;
  w = clean ? w0 : weft__worker_current();
  /* Registered only by a wait, which switched: never when clean. */
  if (!clean && c->reg_home) weft__unregister(c);
  WEFT__TRACE(w, WEFT__TK_INLINE_DONE, 0);
  weft__future_settle_light(&c->fut, ret, 0); /* its start word says INLINED*: see there */
  w->live_delta--;
  w->current = self;
  c->stack = NULL;
  /* A join reads c now, while its handle still holds it; and nobody but
   * the two references below can free it before. `handle`: the join's
   * reference, still to be given up. */
  int rc = join ? weft__future_read(&c->fut, value) : 0;
  int handle = join;
  if (popped) { /* the runtime's reference, ours since the pop */
    if (!clean) {
      weft__future_unref(&c->fut);
    } else if (!handle) {
      weft__rref_park(w, c);
    } else {
      /* The handle's and the runtime's, both ours: as the parked pair in
       * weft__task_release_parked, without parking. */
      if (weft__future_unref2(&c->fut)) weft__fl_put(&w->free_tasks, c);
      handle = 0;
    }
  }
  if (!clean) {
    if (handle) weft__future_unref(&c->fut); /* never parked: see rref */
    weft__drop_stale_slow(w); /* c suspended */
    return rc;
  }
  if (idx >= 0) {
    struct weft__stale_rec *r = &w->stale[idx & (WEFT__STALE_RECS - 1)];
    if (r->task) weft__stale_forget(w, r); /* an index 64 below, still queued, or stolen */
    w->stale_n++;
    /* A join hands its handle's reference to the record at once. */
    *r = (struct weft__stale_rec){idx, c, handle};
    /* relaxed: as in weft__rref_park. A join leaves no handle to look. */
    if (!handle) atomic_store_explicit(&c->rref, w, memory_order_relaxed);
    handle = 0;
  }
  if (handle) weft__future_unref(&c->fut); /* its entry is elsewhere: an RMW */
  weft__drop_stale_clean(w);
  return rc;
}

/* 1 if `c` was run inline (it has settled), 0 if the caller must wait.
 * With `join`, a run also reads c into *value and drops the caller's
 * handle (see weft__run_inline), and puts what the read returned in *rc. */
static int weft__try_inline(struct weft__thread *th, struct weft__task *self,
                            struct weft__task *c, int join, void **value, int *rc) {
  if (c->rt != self->rt || atomic_load_explicit(&c->start, memory_order_relaxed) != WEFT__T_NEW)
    return 0;
  if (th->coro || th->dispatching || !weft__stack_room(self)) return 0;
  struct weft__worker *w = th->worker;
  long long b = atomic_load_explicit(&w->dq.bottom, memory_order_relaxed);
  long long t = atomic_load_explicit(&w->dq.top, memory_order_relaxed);
  int popped = 0;
  long long idx = -1;
  unsigned expect = WEFT__T_NEW;
  if (b > t && weft__deque_peek(&w->dq, b - 1) == c) {
    struct weft__task *x = weft__own_pop_inline(w);
    if (x != c) {
      if (x) weft__push_local(w, x);
      return 0; /* a thief took it */
    }
    popped = 1;
    /* Decides against weft__task_cancel and other awaiters (see
     * weft__task_prepare) which of us owns the start. INLINED_DROPPED, not
     * STARTED: an inline run (its settle is light: adders of waiters read
     * this word), whose spawn entry is gone (we popped it), so any entry
     * naming it from now on is a resume. */
    if (!weft__claim(w, c, &expect, WEFT__T_INLINED_DROPPED)) {
      /* Someone else got it first: cancelled, or claimed INLINED by another
       * awaiter (then this is its stale spawn entry, or a resume entry).
       * Treat the popped entry like any dequeued one, and wait normally. */
      if (weft__task_prepare(w, c)) weft__push_local(w, c);
      return 0;
    }
  } else {
    /* Its entry's index, if it is in our deque where its spawn put it: a
     * live index holding c holds its one entry (c has not started, so no
     * other entry names it). Only compared, never followed. */
    long long j = c->qidx;
    if (j >= t && j < b && weft__deque_peek(&w->dq, j) == c) idx = j;
    /* The only worker: no thief can take an entry, so c's comes out of
     * the middle of the deque and c is run as if popped: no stale entry,
     * no record. The newest entry takes its place, so only when that is a
     * spawn entry too (its task not started): spawned tasks keep no order
     * among themselves, but woken ones run in the order they were woken
     * (timers, injected batches), which a move would break. (stale_n is
     * always 0 here, since only the other way makes records; but a record
     * names its index, which the move would break.) idx < b - 1: the
     * bottom is not c (else it was popped above). */
    int take = 0;
    if (idx >= 0 && w->dq.solo && !w->stale_n) {
      struct weft__task *newest = weft__deque_peek(&w->dq, b - 1);
      take = atomic_load_explicit(&newest->start, memory_order_relaxed) == WEFT__T_NEW;
    }
    /* The claim, against thieves, cancels and other awaiters; INLINED
     * also marks the spawn entry stale (see task.h). */
    if (!weft__claim(w, c, &expect, take ? WEFT__T_INLINED_DROPPED : WEFT__T_INLINED))
      return 0; /* a thief, a cancel or another awaiter got there first */
    if (take) {
      /* A hint, read only by this worker (try_inline, release_parked). */
      struct weft__task *m = weft__deque_remove_solo(&w->dq, idx);
      m->qidx = idx;
      popped = 1;
      idx = -1;
    }
  }
  *rc = weft__run_inline(w, self, c, popped, idx, join, value);
  return 1;
}

static int weft__task_wait_slow(struct weft__thread *th, struct weft__task *self,
                                weft_future *f, struct weft__task *ft, uint64_t deadline,
                                void **value);

/* A wait's timer record (on the waiting task's stack), for a deadline whose
 * room the caller has reserved; NULL without a deadline. */
static struct weft__timer *weft__timer_init(struct weft__timer *tm, uint64_t deadline) {
  if (deadline == WEFT_NO_DEADLINE) return NULL;
  tm->when = deadline;
  tm->idx = -1;
  tm->home = NULL;
  return tm;
}

static int weft__wait_prepare(struct weft__task *self, uint64_t *gen);
static uint64_t weft__wait_switch(struct weft__worker *w, struct weft__await_op *op,
                                  uint64_t awaits);

int weft__task_wait(struct weft__thread *th, weft_future *f, uint64_t deadline, void **value,
                    int join) {
  struct weft__task *self = th->worker->current;
  int rc;
  if (weft__cancelled(self)) {
    rc = ECANCELED;
  } else if (f && weft__future_done(f)) { /* no switch; the dependency still goes in the trace */
    WEFT__TRACE(th->worker, WEFT__TK_JOIN,
                weft__as_task(f) && weft__as_task(f)->rt == self->rt
                    ? weft__as_task(f)->trace_id : 0);
    rc = weft_future_result(f, value);
  } else if (f && &self->fut == f) {
    rc = EDEADLK;
  } else {
    struct weft__task *ft = f ? weft__as_task(f) : NULL;
    /* Inline only without a deadline: an inline run cannot be
     * interrupted. A join's run also reads f and gives its handle up
     * (weft__run_inline), where its reference can go with the runtime's. */
    if (ft && deadline == WEFT_NO_DEADLINE && weft__try_inline(th, self, ft, join, value, &rc))
      return join ? rc : weft__future_read(f, value); /* settled by the inline run */
    rc = weft__task_wait_slow(th, self, f, ft, deadline, value);
  }
  if (join) weft__future_drop(f);
  return rc;
}

/* The wait that switches out. Not inlined into weft__task_wait: its
 * timer and await op would sit in the frame of every inline run, under the
 * whole recursion below it. */
static __attribute__((noinline)) int weft__task_wait_slow(struct weft__thread *th,
                                                         struct weft__task *self,
                                                         weft_future *f, struct weft__task *ft,
                                                         uint64_t deadline, void **value) {
  if (th->coro || th->dispatching) return EPERM;
  struct weft__timer timer;
  if (deadline != WEFT_NO_DEADLINE) {
    /* Passed already, by the last clock read on this thread (a blocking
     * call's own deadline check usually): no second read. A deadline that
     * passed since is found by the timer at the worker's next look. */
    if (deadline <= th->last_now) return f ? ETIMEDOUT : 0;
    if (weft__timers_reserve(&th->worker->timers)) return ENOMEM;
  }
  struct weft__timer *tm = weft__timer_init(&timer, deadline);
  struct weft__task_waiter *node = NULL;
  if (f && !(node = weft__node_get())) return ENOMEM;
  uint64_t gen;
  if (weft__wait_prepare(self, &gen) != 0) {
    if (node) weft__node_put(node);
    return ECANCELED;
  }
  if (node) {
    node->base.fire = weft__task_waiter_fire;
    node->task = self;
    node->gen = gen;
    atomic_fetch_add_explicit(&self->fut.refs, 1, memory_order_relaxed); /* the node's */
  }
  /* Registered (so that weft_runtime_destroy can cancel it): a wait on
   * anything but a task of this runtime, including a sleep. */
  struct weft__await_op op = {self, f, node, tm, gen, !(ft && ft->rt == self->rt)};
  uint64_t word = weft__wait_switch(th->worker, &op, ft ? ft->trace_id : 0);
  /* th and its worker are stale from here: we may be on another thread. */
  if (WEFT__W_STATE(word) == WEFT__W_CANCELLED) return ECANCELED;
  if (!f) return 0; /* slept until the deadline */
  if (WEFT__W_STATE(word) == WEFT__W_TIMEDOUT && !weft__future_done(f)) return ETIMEDOUT;
  return weft_future_result(f, value);
}

/* Starts a new generation of self's wait word: PREPARING in *gen, or
 * ECANCELED (the word back at RUNNING) if self is cancelled. */
static int weft__wait_prepare(struct weft__task *self, uint64_t *gen) {
  uint64_t g = ++self->wait_gen;
  /* seq_cst: the Dekker pair with weft__task_cancel (see above). */
  atomic_store_explicit(&self->wait, WEFT__W_MAKE(g, WEFT__W_PREPARING), memory_order_seq_cst);
  if (weft__cancelled(self)) {
    atomic_store_explicit(&self->wait, WEFT__W_MAKE(g, WEFT__W_RUNNING), memory_order_relaxed);
    return ECANCELED;
  }
  *gen = g;
  return 0;
}

/* Switches op->self (PREPARING in op->gen) out for the wait op describes;
 * returns its wait word once resumed — by a waker, a cancel or the timer —
 * with the timer gone (a registration stays: see weft__register). */
static uint64_t weft__wait_switch(struct weft__worker *w, struct weft__await_op *op,
                                  uint64_t awaits) {
  struct weft__task *self = op->self;
  weft__switch_out(w, self, weft__local_next(w), 0, WEFT__TK_END_AWAIT, awaits,
                   weft__await_after, op);
  if (op->timer) weft__timers_remove(op->timer);
  /* acquire: pairs with the release of whoever woke us. */
  return atomic_load_explicit(&self->wait, memory_order_acquire);
}

/* ---- direct waits (waitq.h) -------------------------------------------------------
 *
 * A coordination primitive's waiter that is a task needs no future: its
 * wait record (on its stack, linked in the primitive's queue) names the
 * task and the generation of its wait word, and the firer that claims the
 * record moves the word to WOKEN itself — the same word and transitions as
 * an await's. The firer does that under the primitive's lock, after its
 * writes to the record: a waiter that gives up (cancel, deadline) and
 * finds the record claimed takes that lock before it returns, so no firer
 * touches the task after it is gone. A claim from PREPARING leaves the
 * scheduling to the wait's post-switch action, as for an await. What it
 * saves per wait: a future's malloc and free, its waiter node and the
 * reference counts on both. */

int weft__dwait_begin(struct weft__dwait *d, uint64_t deadline) {
  struct weft__thread *th = weft__thread();
  struct weft__worker *w = th->worker;
  struct weft__task *self = w ? w->current : NULL;
  d->task = NULL;
  if (!self || th->coro || th->dispatching) return EPERM;
  /* Room for the timer now, before PREPARING, as an await makes it: the
   * task does not switch before weft__dwait_block, so the room is still on
   * this worker's heap there. */
  if (deadline != WEFT_NO_DEADLINE && weft__timers_reserve(&w->timers)) return ENOMEM;
  if (weft__wait_prepare(self, &d->gen) != 0) return ECANCELED;
  d->task = self;
  return 0;
}

void weft__dwait_abandon(struct weft__dwait *d) {
  /* Never linked, so no firer has it: only a canceller may have moved the
   * word (to PREP_CANCELLED), and its flag stays set for the next wait.
   * relaxed: owner-only from here, as in weft__wait_prepare. */
  atomic_store_explicit(&d->task->wait, WEFT__W_MAKE(d->gen, WEFT__W_RUNNING),
                        memory_order_relaxed);
  d->task = NULL;
}

int weft__dwait_block(struct weft__dwait *d, uint64_t deadline) {
  struct weft__task *self = d->task;
  struct weft__timer timer;
  /* Registered: nothing tells whether the firer will ever come. */
  struct weft__await_op op = {self, NULL, NULL, weft__timer_init(&timer, deadline), d->gen, 1};
  uint64_t word = weft__wait_switch(weft__worker_current(), &op, 0);
  switch (WEFT__W_STATE(word)) {
  case WEFT__W_WOKEN:
    return 0;
  case WEFT__W_TIMEDOUT:
    return ETIMEDOUT;
  default:
    return ECANCELED;
  }
}

weft_future *weft__dwait_claim(const struct weft__dwait *d) {
  return weft__wake_claim(d->task, d->gen) ? &d->task->fut : NULL;
}

int weft__dwait_wake(weft_future *tok) {
  struct weft__task *t = weft__as_task(tok);
  if (!t) return 0;
  weft__task_schedule(t);
  return 1;
}

static void weft__yield_after(void *arg) {
  struct weft__task *self = arg;
  struct weft__worker *w = weft__worker_current();
  self->next = NULL;
  if (w->yq_tail)
    w->yq_tail->next = self;
  else
    w->yq_head = self;
  w->yq_tail = self;
  /* The yield queue is owner-only; if another worker is idle, hand the
   * queue to the deque where it can be stolen. */
  if (w->rt->nworkers > 1 && atomic_load_explicit(&w->rt->nidle, memory_order_relaxed) > 0) {
    struct weft__task *t = w->yq_head;
    w->yq_head = w->yq_tail = NULL;
    while (t) {
      struct weft__task *n = t->next;
      weft__push_local(w, t);
      t = n;
    }
    weft__notify(w->rt);
  }
}

int weft_yield(void) {
  struct weft__thread *th = weft__thread();
  struct weft__worker *w = th->worker;
  struct weft__task *self = w ? w->current : NULL;
  if (!self || th->coro || th->dispatching) return EPERM;
  struct weft__task *next = weft__local_next(w);
  if (next && !(w->rt->nworkers > 1 &&
                atomic_load_explicit(&w->rt->nidle, memory_order_relaxed) > 0)) {
    /* Straight to the next local task. The yield queue is owner-only: no
     * other thread can see us in it, and this one only looks at it after
     * the jump below has saved our registers — so, unlike anything shared,
     * it may be written before the switch, with no post-switch action. */
    self->next = NULL;
    if (w->yq_tail)
      w->yq_tail->next = self;
    else
      w->yq_head = self;
    w->yq_tail = self;
    w->current = next;
    WEFT__TRACE(w, WEFT__TK_END_YIELD, 0);
    WEFT__TRACE(w, WEFT__TK_BEGIN, next->trace_id);
    WEFT__COUNT(w, switches);
    WEFT__COUNT(w, runs);
    weft__stack_check(self->stack);
    weft__ctx_switch(&self->ctx, &next->ctx, NULL, NULL);
  } else {
    /* To the scheduler loop (nothing local, or a fairness tick), or to next
     * while another worker is idle: yield_after then shares the queue. */
    weft__switch_out(w, self, next, 0, WEFT__TK_END_YIELD, 0, weft__yield_after, self);
  }
  return weft__cancelled(self) ? ECANCELED : 0;
}

/* The start word's CAS from NEW to CANCELLED, for weft__task_cancel: with
 * the rare half of a plain claim's fence pair (C1-C5 in "Plain claims")
 * when the worker might be claiming it with a plain store. */
static int weft__claim_cancel(struct weft__task *t) {
  unsigned expect = WEFT__T_NEW;
  weft_runtime *rt = t->rt;
  struct weft__worker *owner = rt->workers[0];
  int pair = atomic_load_explicit(&t->start, memory_order_relaxed) == WEFT__T_NEW &&
             weft__plain_claim_racy(t);
  if (pair) {
    atomic_fetch_add_explicit(&rt->cancelling, 1, memory_order_seq_cst); /* C1 */
    weft__membar_heavy();                                                 /* C2 */
    /* acquire: pairs with O6; we then see O5. */
    while (atomic_load_explicit(&owner->claiming, memory_order_acquire) == t) /* C3 */
      sched_yield();
  }
  /* acq_rel: decides against a starting worker or an inlining awaiter
   * (their claims of the same word) whether the coroutine ever runs. */
  int won = atomic_compare_exchange_strong_explicit(&t->start, &expect, WEFT__T_CANCELLED,
                                                    memory_order_acq_rel, memory_order_acquire);
  if (pair) atomic_fetch_sub_explicit(&rt->cancelling, 1, memory_order_release); /* C5 */
  return won;
}

int weft__task_cancel(struct weft__task *t) {
  if (weft__future_done(&t->fut)) return EALREADY;
  if (weft__claim_cancel(t)) {
    /* It never starts; whoever dequeues it drops it. */
    weft__future_settle(&t->fut, NULL, ECANCELED);
#if WEFT_TRACE
    if (t->rt->trace)
      weft__trace_here(t->rt, WEFT__TK_COMPLETE, t->trace_id | ((uint64_t)ECANCELED << 52));
#endif
    return 0;
  }
  /* seq_cst: the Dekker pair with weft__task_await (see "Awaiting"). */
  atomic_store_explicit(&t->cancel, 1, memory_order_seq_cst);
  uint64_t w = atomic_load_explicit(&t->wait, memory_order_seq_cst);
  for (;;) {
    unsigned st = WEFT__W_STATE(w), to;
    if (st == WEFT__W_PREPARING)
      to = WEFT__W_PREP_CANCELLED;
    else if (st == WEFT__W_WAITING)
      to = WEFT__W_CANCELLED;
    else
      return 0; /* running, or already woken: it sees the flag at its next await/yield */
    if (atomic_compare_exchange_weak_explicit(&t->wait, &w, WEFT__W_MAKE(WEFT__W_GEN(w), to),
                                              memory_order_acq_rel, memory_order_acquire)) {
      if (st == WEFT__W_WAITING) weft__task_schedule(t);
      return 0;
    }
  }
}

/* ---- free lists ---------------------------------------------------------------------
 * Tasks and waiter nodes come from the current worker's free lists (owner
 * only: no atomics), else from its slabs (slab.h: bump allocation in 64 KiB
 * blocks), and go back to the list of whichever worker frees them, or to
 * their block when that list is full. Plain threads (spawning from outside)
 * share one slab per kind under a lock. Under AddressSanitizer: malloc and
 * free, so that a use after free is still caught. */
#define WEFT__FREELIST_MAX 1024

/* A task's slot: a whole number of cache lines. A task freed on one worker
 * goes to that worker's list, so after a few fork-join runs neighbouring
 * slots belong to tasks of different workers; sharing a line, they made
 * the workers' writes (the start word, the reference count, the settle)
 * false-share — two-worker skynet, run again and again in one runtime,
 * drifted from 20 ms to 25-40 ms. A task is 192 bytes: three lines. */
#define WEFT__TASK_SLOT ((sizeof(struct weft__task) + WEFT__CACHELINE - 1) & ~(size_t)(WEFT__CACHELINE - 1))

#if !WEFT__ASAN
static pthread_mutex_t weft__outside_lock = PTHREAD_MUTEX_INITIALIZER;
static struct weft__slab weft__outside_slab[2];
#endif

static void *weft__fl_get(struct weft__freelist *fl, int kind) {
  size_t size = kind ? WEFT__TASK_SLOT : sizeof(struct weft__task_waiter);
#if !WEFT__ASAN
  if (fl && fl->head) {
    void *p = fl->head;
    fl->head = *(void **)p;
    fl->n--;
    return p;
  }
  if (fl) return weft__slab_alloc(&fl->slab);
  pthread_mutex_lock(&weft__outside_lock);
  struct weft__slab *s = &weft__outside_slab[kind];
  if (!s->size) weft__slab_init(s, size);
  void *p = weft__slab_alloc(s);
  pthread_mutex_unlock(&weft__outside_lock);
  return p;
#else
  (void)fl;
  return malloc(size);
#endif
}

static void weft__fl_put(struct weft__freelist *fl, void *p) {
#if !WEFT__ASAN
  if (fl && fl->n < WEFT__FREELIST_MAX) {
    *(void **)p = fl->head;
    fl->head = p;
    fl->n++;
    return;
  }
  weft__slab_free(p);
#else
  (void)fl;
  free(p);
#endif
}

/* The worker is exiting: everything goes back to its blocks. */
static void weft__fl_drain(struct weft__freelist *fl) {
  while (fl->head) {
    void *p = fl->head;
    fl->head = *(void **)p;
    weft__slab_free(p);
  }
  fl->n = 0;
  weft__slab_fini(&fl->slab);
}

void weft__freelist_init(struct weft__freelist *fl, int tasks) {
  fl->head = NULL;
  fl->n = 0;
  weft__slab_init(&fl->slab, tasks ? WEFT__TASK_SLOT : sizeof(struct weft__task_waiter));
}

static struct weft__freelist *weft__my_list(int tasks) {
  struct weft__worker *w = weft__worker_current();
  return w ? (tasks ? &w->free_tasks : &w->free_nodes) : NULL;
}

struct weft__task *weft__task_alloc(struct weft__worker *w) {
  return weft__fl_get(w ? &w->free_tasks : NULL, 1);
}
void weft__task_free(struct weft__task *t) { weft__fl_put(weft__my_list(1), t); }
static struct weft__task_waiter *weft__node_get(void) { return weft__fl_get(weft__my_list(0), 0); }
static void weft__node_put(struct weft__task_waiter *n) { weft__fl_put(weft__my_list(0), n); }

/* ---- the scheduler loop ----------------------------------------------------------------- */

/* Steals from a random victim first, then the others. When `patient`, a
 * victim's only task is left alone unless it has been alone there, with
 * the same push count, for WEFT__LONE_GRACE_NS: a task its spawner is
 * about to await — and so run inline, nanoseconds later — is not worth a
 * migration, while a task left waiting behind a long computation is taken
 * soon after. (Go's runnext plays the same role with a 3 us delay.) By
 * time, not by number of looks: counted in looks, the grace shrank with
 * every speed-up of the looking loop, and a spawn-and-await loop on two
 * workers lost a task to the thief ten times as often.
 *
 * Patience never strands a task. A deque's owner is awake whenever its
 * deque is not empty (it pops its own deque before it parks), so a task
 * left in a deque is run by its owner at the latest; only the injection
 * queue has no owner, and it is never skipped. Nor does patience leave a
 * lone task behind a long computation: every look that skips one sets
 * lone_skipped, and a worker that parks right after such a look sleeps for
 * a bounded time (WEFT__LONE_RECHECK_NS) and looks again — so the second
 * look always comes, whether or not a notify woke anybody (the notifier
 * may have seen this worker still counted as spinning). */
static struct weft__task *weft__steal_any(struct weft__worker *w, int patient) {
  weft_runtime *rt = w->rt;
  unsigned n = rt->nworkers;
  w->lone_skipped = 0;
  if (n < 2) return NULL;
  unsigned start = (unsigned)(weft__rand(w) % n);
  for (unsigned i = 0; i < n; i++) {
    struct weft__worker *v = rt->workers[(start + i) % n];
    if (v == w) continue;
    if (patient && weft__deque_size(&v->dq) == 1) {
      unsigned long long p = atomic_load_explicit(&v->dq.pushes, memory_order_relaxed);
      if (w->lone_victim != v || w->lone_pushes != p) {
        /* One lone task is timed at a time: another victim's, while
         * still alone with the same push count, keeps the clock (two
         * victims timed in turn would reset each other for ever). */
        struct weft__worker *o = w->lone_victim;
        if (!o || o == v || weft__deque_size(&o->dq) != 1 ||
            atomic_load_explicit(&o->dq.pushes, memory_order_relaxed) != w->lone_pushes) {
          w->lone_victim = v;
          w->lone_pushes = p;
          w->lone_since = weft__now();
        }
        w->lone_skipped = 1;
        continue;
      }
      if (weft__now() - w->lone_since < WEFT__LONE_GRACE_NS) {
        w->lone_skipped = 1;
        continue;
      }
    }
    if (weft__deque_size(&v->dq) == 0) continue; /* no lease for nothing */
    weft__lease_for(w, &v->dq);
    struct weft__task *t = weft__deque_steal(&v->dq);
    if (t) {
      w->lone_victim = NULL;
      WEFT__COUNT(w, steals);
      WEFT__TRACE(w, WEFT__TK_STEAL,
                  v->index | (UINT64_C(1) << 16) | ((uint64_t)weft__deque_size(&v->dq) << 32));
      return t;
    }
  }
  return NULL;
}

/* Scheduler loop only (the batch is on the worker's own stack): takes a
 * batch from the injection queue, runs the first and queues the rest so
 * that they run in the order they came. Stale spawn entries in it (of
 * tasks an awaiter ran inline, or cancelled before they started) are
 * dropped here, not sent round the scheduler loop one at a time: a spawner
 * that awaits its spilled spawns in order (spawn-10^6) leaves as many of
 * them as it spawned. */
static struct weft__task *weft__take_injected(struct weft__worker *w) {
  struct weft__task *batch[WEFT__SPILL_BATCH];
  size_t n;
  do {
    size_t max = weft__inject_len(&w->rt->inject) / w->rt->nworkers + 1;
    if (max > WEFT__SPILL_BATCH) max = WEFT__SPILL_BATCH;
    size_t got = weft__inject_pop(&w->rt->inject, batch, max);
    if (!got) return NULL;
    WEFT__TRACE(w, WEFT__TK_INJECT, got);
    atomic_store_explicit(&w->stats.injected,
                          atomic_load_explicit(&w->stats.injected, memory_order_relaxed) + got,
                          memory_order_relaxed);
    n = 0;
    for (size_t i = 0; i < got; i++)
      if (!weft__drop_if_stale(w, batch[i])) batch[n++] = batch[i];
  } while (!n);
  for (size_t i = n; i-- > 1;) weft__push_local(w, batch[i]); /* batch[1] ends on top of the bottom */
  if (n > 1 && w->rt->nworkers > 1) {
    weft__lease_own(w, (unsigned)n - 1);
    weft__notify(w->rt);
  }
  return batch[0];
}

static struct weft__task *weft__find_local_or_injected(struct weft__worker *w) {
  struct weft__task *t;
  if (w->tick % WEFT__FAIRNESS_TICK == 0) {
    w->tick++;
    if ((t = weft__take_injected(w))) return t;
  }
  if ((t = weft__pop_local(w))) return t;
  return weft__take_injected(w);
}

/* A worker woken on the CPU of another worker that is busy moves to
 * another CPU. The kernel puts a woken thread on its waker's CPU when it
 * does not see the thread's previous CPU as idle — as a virtual machine's
 * guest kernel may not, once that vCPU has halted (on the 2-vCPU guest
 * our figures come from, `perf sched` showed both workers sharing one vCPU
 * in 4 ms slices for ~20 ms after such a wake-up, in about a third of
 * skynet's 2-worker runs, while the other vCPU idled; the load balancer
 * took that long to notice). Only when the workers fit on the CPUs the
 * process may use; the CPUs the others were last seen on are hints, so
 * this is a best effort: one getcpu after each wake-up, and two
 * sched_setaffinity calls when it moves. One worker at a time: two woken
 * together on one CPU would otherwise both see the other there, and both
 * move, to the same other CPU (seen once with strace at a root's start);
 * in turn, the second finds the first moved. */
static void weft__spread(struct weft__worker *w) {
  weft_runtime *rt = w->rt;
  weft__spin_lock(&rt->spread_lock);
  int cpu = weft__cpu_current();
  for (unsigned i = 0; cpu >= 0 && i < rt->nworkers; i++) {
    struct weft__worker *o = rt->workers[i];
    /* relaxed: hints; an odd park_gen is a parked worker. */
    if (o != w && atomic_load_explicit(&o->cpu, memory_order_relaxed) == cpu &&
        !(atomic_load_explicit(&o->park_gen, memory_order_relaxed) & 1)) {
      if (weft__cpu_move_off(cpu, rt->nworkers) == 0) cpu = weft__cpu_current();
      break;
    }
  }
  atomic_store_explicit(&w->cpu, cpu, memory_order_relaxed);
  weft__spin_unlock(&rt->spread_lock);
}

static struct weft__task *weft__find_work(struct weft__worker *w) {
  weft_runtime *rt = w->rt;
  int woken = 0;
  for (;;) {
    uint64_t now = 0;
    weft__timers_run(w, 0, &now);
    struct weft__task *t = weft__find_local_or_injected(w);
    if (t)
      weft__lease_own(w, 1);
    else
      t = weft__steal_any(w, 1);
    if (t) {
      /* Woken and found work: there may be more, whose notifies were
       * skipped while our wake-up was pending — pass it on. */
      if (woken) weft__notify(rt);
      return t;
    }

    /* Spin a little: new work often arrives within microseconds. */
    int spinning = atomic_load_explicit(&rt->nspinning, memory_order_relaxed);
    if (rt->nworkers > 1 && 2 * (unsigned)spinning < rt->nworkers) {
      atomic_fetch_add_explicit(&rt->nspinning, 1, memory_order_seq_cst);
      for (int i = 0; i < WEFT__SPIN_ROUNDS && !t; i++) {
        t = weft__take_injected(w);
        if (!t) t = weft__steal_any(w, 1);
        for (int k = 0; !t && k < WEFT__SPIN_PAUSES; k++) {
#if defined(__x86_64__) || defined(__i386__)
          __builtin_ia32_pause();
#endif
        }
      }
      /* seq_cst: this decrement and the notifier's fence are in S (see
       * the file comment). The last spinner leaving with work hands the
       * looking-out over to a parked worker. */
      if (atomic_fetch_sub_explicit(&rt->nspinning, 1, memory_order_seq_cst) == 1 && t)
        weft__notify(rt);
      if (t) return t;
    }

    /* Due timers anywhere (their owner may be busy), and how long we may
     * sleep: a timer added after this look is added by a worker that is
     * awake, and that worker sees it before it parks. */
    uint64_t next = weft__timers_run(w, 1, &now);
    if ((t = weft__pop_local(w))) return t;

    /* Park. */
    unsigned key = weft__park_prepare(&rt->park);
    if (w->live_delta) {
      atomic_fetch_add_explicit(&rt->live, w->live_delta, memory_order_relaxed);
      w->live_delta = 0;
    }
    /* seq_cst: the idle count the notifier reads after its fence (see the
     * file comment's proof). */
    atomic_fetch_add_explicit(&rt->nidle, 1, memory_order_seq_cst);
    /* A wake-up flagged pending now was not meant for us: its counter bump
     * came before our key (a notifier may set the flag after the idle
     * worker it counted has already left), so it will not wake us and
     * nobody else may be left to clear the flag. Clear it: while it stays
     * set, notifiers wake nobody. (seq_cst, and the fence below: as in
     * weft__idle_exit, one of us and a skipping notifier sees the other.) */
    atomic_store_explicit(&rt->wake_pending, 0, memory_order_seq_cst);
    /* The heavy half of the fence pair (membar.h): our re-check below reads
     * after the increment above, and after every notifier's publication
     * that came before its read of the idle count. */
    weft__membar_heavy();
    t = weft__take_injected(w);
    if (!t) t = weft__steal_any(w, 1);
    if (!t) t = weft__own_pop(w);
    /* acquire: pairs with the release store of stop in the destroyer. */
    if (t || atomic_load_explicit(&rt->stop, memory_order_acquire)) {
      weft__idle_exit(rt); /* we are not idle after all */
      if (t) weft__notify(rt); /* as a woken worker would (see above) */
      return t;
    }
    if (w->lease) weft__lease_drop(w); /* a sleeper's lease only costs its victim */
    /* release: the flushed live count is visible to the destroyer that
     * reads an odd park_gen (acquire). */
    WEFT__COUNT(w, parks);
    WEFT__TRACE(w, WEFT__TK_PARK, 0);
    atomic_fetch_add_explicit(&w->park_gen, 1, memory_order_release);
    /* A lone task skipped by the re-check above gets its second look
     * after a short sleep (see weft__steal_any): lone_skipped is what that
     * re-check left. And no sleep outlasts the earliest timer. */
    long timeout = w->lone_skipped ? WEFT__LONE_RECHECK_NS : 0;
    if (next != UINT64_MAX) {
      uint64_t d = next > now ? next - now : 1;
      if (d > (uint64_t)LONG_MAX) d = (uint64_t)LONG_MAX;
      if (!timeout || (long)d < timeout) timeout = (long)d;
    }
    weft__park_wait(&rt->park, key, timeout);
    WEFT__TRACE(w, WEFT__TK_UNPARK, 0);
    /* release: an even generation (running again) for the destroyer's
     * scans, which then see this worker was not parked throughout. */
    atomic_fetch_add_explicit(&w->park_gen, 1, memory_order_release);
    weft__idle_exit(rt);
    if (rt->nworkers > 1) weft__spread(w);
    woken = 1;
  }
}

static void *weft__worker_main(void *arg) {
  struct weft__worker *w = arg;
  weft__thread()->worker = w;
  char name[16];
  snprintf(name, sizeof name, "weft-w%u", w->index);
  pthread_setname_np(pthread_self(), name);
  weft__stack_thread_setup();
  weft__ctx_init_thread(&w->sched);
  if (w->rt->nworkers > 1) weft__spread(w); /* threads start where their creator runs */
  weft__ctx_set_running(&w->sched);
  for (;;) {
    struct weft__task *t = weft__find_work(w);
    if (!t) break;
    if (!weft__task_prepare(w, t)) continue;
    w->current = t;
    WEFT__COUNT(w, switches);
    WEFT__COUNT(w, runs);
    WEFT__TRACE(w, WEFT__TK_BEGIN, t->trace_id);
    weft__ctx_switch(&w->sched, &t->ctx, NULL, NULL);
    /* Back on the worker's own stack (w is still ours: this context never
     * migrates); the post-switch action of whoever left has run. */
  }
  if (w->live_delta) atomic_fetch_add_explicit(&w->rt->live, w->live_delta, memory_order_relaxed);
  w->live_delta = 0;
  if (w->lease) weft__lease_drop(w);
  weft__rref_drain(w);
  for (unsigned i = 0; i < WEFT__STALE_RECS; i++) /* stolen entries' records */
    if (w->stale[i].task) weft__stale_forget(w, &w->stale[i]);
  weft__future_drain_quarantine(weft__thread()); /* tasks go to the free list... */
  weft__fl_drain(&w->free_tasks);                 /* ...which is drained here */
  weft__fl_drain(&w->free_nodes);
  weft__stack_thread_flush();
  return NULL;
}

int weft__worker_start(weft_runtime *rt, unsigned index) {
  struct weft__worker *w = rt->workers[index];
  /* The signal mask is inherited as it is: blocking SIGSEGV here would turn
   * a guard-page hit into a silent kill instead of weft's report. */
  return pthread_create(&w->thread, NULL, weft__worker_main, w) ? EAGAIN : 0;
}

void weft__worker_join(struct weft__worker *w) { pthread_join(w->thread, NULL); }
