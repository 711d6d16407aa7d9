/* future — futures: settling once, the lock-free waiter list, chaining
 * (then, all, any), waiting from plain threads, cancellation of plain
 * futures. Waiting from a task is in worker.c (it suspends a coroutine).
 *
 * Invariants.
 * - `state` goes PENDING -> SETTLING -> DONE, once. The CAS to SETTLING
 *   elects the one settler; value and err are written only by it, before
 *   the release store of DONE. Whoever reads DONE with acquire reads them.
 * - `waiters` is a Treiber stack of waiters until the settler swaps in
 *   CLOSED. A waiter pushed before the swap is fired by the settler; a push
 *   that finds CLOSED fails, and the pusher knows the future is settled
 *   (the swap happens after DONE is stored, so it can read the value).
 * - A future is freed when its last reference goes; a future with waiters
 *   is normally referenced by them (awaiters, combinators hold a
 *   reference), so freeing one with waiters happens only when nobody can
 *   settle it any more: the waiters are then fired with settled = 0.
 * - Firing waiters never recurses: a settle that happens while this thread
 *   is already firing waiters (a `then` callback settling its output) is
 *   queued and fired by the outermost loop, so chains of any length use
 *   constant stack.
 */
#include <errno.h>
#include <stdlib.h>

#include "membar.h"
#include "park.h"
#include "sanitize.h"
#include "task.h"
#include "thread.h"
#include "weft/time.h"
#include "worker.h"

/* ---- settling ------------------------------------------------------------- */

/* The dispatch queue lives in the per-thread state (thread.h); firing
 * waiters never suspends, so the pointer stays valid for the whole loop. */

void weft__future_init(weft_future *f, enum weft__fkind kind, unsigned refs) {
  f->magic = WEFT__F_MAGIC;
  f->kind = (uint8_t)kind;
  f->plain_claim = 0;
  atomic_init(&f->refs, refs);
  atomic_init(&f->state, WEFT__S_PENDING);
  atomic_init(&f->waiters, NULL);
  f->value = NULL;
  f->err = 0;
  f->dispatch_list = NULL;
  f->dispatch_next = NULL;
}

int weft__future_valid(const weft_future *f) { return f && f->magic == WEFT__F_MAGIC; }

static void weft__fire_list(weft_future *f, struct weft__waiter *list) {
  /* The stack is newest-first; fire oldest-first. */
  struct weft__waiter *rev = NULL;
  while (list) {
    struct weft__waiter *n = list->next;
    list->next = rev;
    rev = list;
    list = n;
  }
  while (rev) {
    struct weft__waiter *n = rev->next;
    rev->fire(rev, f, 1);
    rev = n;
  }
}

static void weft__dispatch(weft_future *f, struct weft__waiter *list) {
  struct weft__thread *d = weft__thread();
  if (d->dispatching) {
    /* Inside a waiter already: queue, keeping f alive until fired. */
    atomic_fetch_add_explicit(&f->refs, 1, memory_order_relaxed);
    f->dispatch_list = list;
    f->dispatch_next = NULL;
    if (d->dispatch_tail)
      d->dispatch_tail->dispatch_next = f;
    else
      d->dispatch_head = f;
    d->dispatch_tail = f;
    return;
  }
  d->dispatching = 1;
  weft__fire_list(f, list);
  while (d->dispatch_head) {
    weft_future *g = d->dispatch_head;
    d->dispatch_head = g->dispatch_next;
    if (!d->dispatch_head) d->dispatch_tail = NULL;
    weft__fire_list(g, g->dispatch_list);
    weft__future_unref(g);
  }
  d->dispatching = 0;
}

int weft__future_settle(weft_future *f, void *value, int err) {
  unsigned expect = WEFT__S_PENDING;
  /* relaxed: this CAS only elects the settler; publication is below. */
  if (!atomic_compare_exchange_strong_explicit(&f->state, &expect, WEFT__S_SETTLING,
                                               memory_order_relaxed, memory_order_relaxed))
    return EALREADY;
  weft__future_settle_owned(f, value, err);
  return 0;
}

void weft__future_settle_owned(weft_future *f, void *value, int err) {
  f->value = value;
  f->err = err;
  /* release: publishes value and err to every acquire load that sees DONE
   * (weft__future_done, the await fast path). */
  atomic_store_explicit(&f->state, WEFT__S_DONE, memory_order_release);
  /* acq_rel: acquire pairs with the release CAS of each waiter's push (we
   * read the waiters' fields); release publishes value/err to a pusher
   * whose CAS fails on CLOSED. */
  struct weft__waiter *list =
      atomic_exchange_explicit(&f->waiters, WEFT__WAITERS_CLOSED, memory_order_acq_rel);
  if (list) weft__dispatch(f, list);
}

void weft__future_settle_light(weft_future *f, void *value, int err) {
  f->value = value;
  f->err = err;
  /* release: as in weft__future_settle_owned. */
  atomic_store_explicit(&f->state, WEFT__S_DONE, memory_order_release);
  /* The light half of the pair described at weft__future_add_waiter: the
   * store of DONE before the read of the list. */
  weft__membar_light();
  /* seq_cst: the NEW case at weft__future_add_waiter. acquire: the
   * waiters' fields, published by the release of their push. */
  struct weft__waiter *list = atomic_load_explicit(&f->waiters, memory_order_seq_cst);
  if (!list || list == WEFT__WAITERS_CLOSED) return; /* nobody waits, or an adder took the list */
  /* acq_rel: as in weft__future_settle_owned. */
  list = atomic_exchange_explicit(&f->waiters, WEFT__WAITERS_CLOSED, memory_order_acq_rel);
  if (list != WEFT__WAITERS_CLOSED) weft__dispatch(f, list);
}

/* A task run inline by its awaiter settles without a read-modify-write
 * (weft__future_settle_light): it stores DONE, then reads the waiter list,
 * with only the light half of an asymmetric fence pair (membar.h) between;
 * if nobody is waiting — the rule when the awaiter is the one running it —
 * it leaves the list as it is (NULL, not CLOSED). A waiter pushed after that
 * read would be lost; so whoever adds a waiter to a task that may be run
 * inline makes the pair's other half. It pushes, then reads the task's
 * start word:
 * - NEW: no inline run has been claimed yet. All four accesses are seq_cst
 *   (our push and read; the claimer's CAS of the start word and its read
 *   of the list after the settle), so a claim after our read comes after
 *   our push in the single total order, and the settle's read sees it.
 * - INLINED / INLINED_DROPPED (a claimed inline run): the heavy half of
 *   the fence, then a read of the state. Either the settle's read of the
 *   list sees our push (it fires us, exchanging the list) or our read sees
 *   DONE: then we exchange the list ourselves, fire whoever else it holds
 *   and report ours as not added.
 * - anything else: the task runs (ran) on its own stack, or was cancelled
 *   before it started, and settles with the exchange, which sees us.
 * The heavy half (about 8 µs) is only paid by a waiter added to a task
 * that is being run inline by somebody else — two awaiters of one task on
 * two workers, a then() on such a task — not by a fork-join await. */
int weft__future_add_waiter(weft_future *f, struct weft__waiter *w) {
  /* Settled: the list may not be closed (a light settle leaves it). */
  if (weft__future_done(f)) return EALREADY;
  /* acquire: a CLOSED read here carries the settled value (the settler's
   * exchange is a release); the CAS below orders the push itself. */
  struct weft__waiter *head = atomic_load_explicit(&f->waiters, memory_order_acquire);
  do {
    if (head == WEFT__WAITERS_CLOSED) return EALREADY;
    w->next = head;
    /* seq_cst: release publishes w's fields to the settler's acquire
     * exchange; the total order is the NEW case above. acquire on
     * failure: a CLOSED we see carries the settled value. */
  } while (!atomic_compare_exchange_weak_explicit(&f->waiters, &head, w, memory_order_seq_cst,
                                                  memory_order_acquire));
  struct weft__task *t = weft__as_task(f);
  if (!t) return 0;
  /* seq_cst: the NEW case above. */
  unsigned st = atomic_load_explicit(&t->start, memory_order_seq_cst);
  int fenced = 0;
  if (st == WEFT__T_NEW && weft__plain_claim_racy(t)) {
    /* Its worker may claim it with a plain store (worker.c, "Plain
     * claims"), which is no part of the total order above. The heavy half
     * first: a claim we do not see after it comes after a full barrier in
     * the claimer, whose settle then reads our push. */
    weft__membar_heavy();
    fenced = 1;
    st = atomic_load_explicit(&t->start, memory_order_seq_cst);
  }
  if (st != WEFT__T_INLINED && st != WEFT__T_INLINED_DROPPED) return 0;
  if (!fenced) weft__membar_heavy(); /* the push before the read of the state: see above */
  if (!weft__future_done(f)) return 0; /* the settle will see us */
  /* acq_rel: as the settler's exchange (we read the waiters' fields and
   * publish nothing new). */
  struct weft__waiter *list =
      atomic_exchange_explicit(&f->waiters, WEFT__WAITERS_CLOSED, memory_order_acq_rel);
  if (list == WEFT__WAITERS_CLOSED) return 0; /* the settler took the list, us with it */
  /* Not closed since our push: w is in the list. Unlink it; fire the rest. */
  struct weft__waiter **p = &list;
  while (*p != w) p = &(*p)->next;
  *p = w->next;
  if (list) weft__dispatch(f, list);
  return EALREADY;
}

static void weft__future_gone(weft_future *f);

void weft__future_unref(weft_future *f) {
  /* If ours is the only reference, nobody else can take or drop one (that
   * takes a reference), so it is the last without a read-modify-write:
   * one atomic RMW less for most tasks (spawned, awaited, released).
   * acquire: pairs with the release decrements of the earlier droppers,
   * as the RMW below does. */
  if (atomic_load_explicit(&f->refs, memory_order_acquire) != 1 &&
      /* acq_rel: the last release sees every other holder's writes before
       * it frees (release by each dropper, acquire by the last). */
      atomic_fetch_sub_explicit(&f->refs, 1, memory_order_acq_rel) != 1)
    return;
  weft__future_gone(f);
}

void weft__future_bury_waiters(weft_future *f, struct weft__waiter *list) {
  while (list && list != WEFT__WAITERS_CLOSED) {
    struct weft__waiter *n = list->next;
    list->fire(list, f, 0);
    list = n;
  }
}

/* The last reference has gone: its waiters are told, it reads DEAD. */
static void weft__future_bury(weft_future *f) {
  /* No reference is left, so nobody can add a waiter any more: a load
   * suffices (acquire: the waiters' contents, published by the release
   * CAS that linked them). */
  weft__future_bury_waiters(f, atomic_load_explicit(&f->waiters, memory_order_acquire));
  f->magic = WEFT__F_DEAD;
}

/* The last reference has gone: and then its memory. Not inlined: the
 * callers' fast paths (weft__future_unref) stay small enough to inline. */
static __attribute__((noinline)) void weft__future_gone(weft_future *f) {
  weft__future_bury(f);
  weft__future_retire(f);
}

/* Frees a future's memory for good (a task's goes to a free list). */
static void weft__future_dispose(weft_future *f) {
  struct weft__task *t = weft__as_task(f);
  if (t)
    weft__task_free(t);
  else
    free(f);
}

/* A released plain or derived future's memory is not reused at once: it
 * waits in this thread's FIFO quarantine for the next WEFT__QUARANTINE
 * releases. Until
 * then its magic reads DEAD, so a caller that uses a future after releasing
 * it — awaiting it, releasing it again — gets EINVAL instead of touching
 * some newer future that took its place (and AddressSanitizer sees no use
 * after free, because it is not freed yet). Past the window, such misuse is
 * undefined again, as with any freed object. */
void weft__future_retire(weft_future *f) {
  /* Tasks are recycled at once, hot, through the worker's LIFO free list:
   * a 256-deep delay on every task made fork-join on 2 workers ~1.5 x
   * slower (cold task objects). A released task's handle is as undefined
   * as any freed object's. */
  if (weft__as_task(f)) {
    weft__future_dispose(f);
    return;
  }
  struct weft__thread *th = weft__thread();
  if (WEFT__UNLIKELY(!th->q_key_set)) weft__thread_at_exit(th);
  weft_future *old = NULL;
  unsigned slot = (th->q_head + th->q_len) % WEFT__QUARANTINE;
  if (th->q_len == WEFT__QUARANTINE) {
    old = th->quarantine[th->q_head];
    th->q_head = (th->q_head + 1) % WEFT__QUARANTINE;
    slot = (th->q_head + th->q_len - 1) % WEFT__QUARANTINE;
  } else {
    th->q_len++;
  }
  th->quarantine[slot] = f;
  if (old) weft__future_dispose(old);
}

void weft__future_drain_quarantine(struct weft__thread *th) {
  while (th->q_len) {
    weft_future *f = th->quarantine[th->q_head];
    th->q_head = (th->q_head + 1) % WEFT__QUARANTINE;
    th->q_len--;
    weft__future_dispose(f);
  }
}

/* ---- the public basics --------------------------------------------------------- */

int weft_future_create(weft_future **out) {
  if (!out) return EINVAL;
  weft_future *f = malloc(sizeof *f);
  if (!f) return ENOMEM;
  weft__future_init(f, WEFT__F_PLAIN, 1);
  *out = f;
  return 0;
}

int weft_future_resolve(weft_future *f, void *value) {
  if (!weft__future_valid(f) || f->kind != WEFT__F_PLAIN) return EINVAL;
  return weft__future_settle(f, value, 0);
}

int weft_future_fail(weft_future *f, int err) {
  if (!weft__future_valid(f) || f->kind != WEFT__F_PLAIN || err <= 0) return EINVAL;
  return weft__future_settle(f, NULL, err);
}

int weft_future_retain(weft_future *f) {
  if (!weft__future_valid(f)) return EINVAL;
  atomic_fetch_add_explicit(&f->refs, 1, memory_order_relaxed);
  return 0;
}

void weft__future_drop(weft_future *f) {
  struct weft__task *t = weft__as_task(f);
  /* A task whose runtime reference an inline run parked here: both go at
   * once (worker.c). */
  if (t && atomic_load_explicit(&t->rref, memory_order_relaxed) && weft__task_release_parked(t))
    return;
  weft__future_unref(f);
}

int weft_future_release(weft_future *f) {
  if (!weft__future_valid(f)) return EINVAL;
  weft__future_drop(f);
  return 0;
}

weft_future_state weft_future_status(const weft_future *f) {
  if (!weft__future_valid(f)) return WEFT_FUTURE_INVALID;
  if (!weft__future_done(f)) return WEFT_FUTURE_PENDING;
  return f->err ? WEFT_FUTURE_FAILED : WEFT_FUTURE_RESOLVED;
}

int weft_future_result(const weft_future *f, void **value) {
  if (!weft__future_valid(f)) return EINVAL;
  if (!weft__future_done(f)) return EAGAIN;
  return weft__future_read(f, value);
}

/* ---- waiting from a plain thread ------------------------------------------------- */

struct weft__thread_waiter {
  struct weft__waiter base;
  atomic_uint done;
  atomic_uint refs; /* the future's list and the waiting thread */
};

static void weft__thread_waiter_put(struct weft__thread_waiter *tw) {
  if (atomic_fetch_sub_explicit(&tw->refs, 1, memory_order_acq_rel) == 1) free(tw);
}

static void weft__thread_waiter_fire(struct weft__waiter *w, weft_future *f, int settled) {
  (void)f;
  (void)settled; /* freed unsettled cannot happen: the waiting thread holds a reference */
  struct weft__thread_waiter *tw = (struct weft__thread_waiter *)w;
  /* release: the settled value (published to us by the acquire exchange
   * in settle) happens-before the waiter's acquire load of done. */
  atomic_store_explicit(&tw->done, 1, memory_order_release);
  weft__futex_wake(&tw->done, 1);
  weft__thread_waiter_put(tw);
}

/* A thread that gives up at its deadline leaves its waiter linked (the
 * waiter holds its own reference count): the settle, or the freeing of the
 * future, fires and frees it later. */
/* Not inlined into weft_await_until: its frame would sit under every inline
 * run of a coroutine's await. */
static __attribute__((noinline)) int weft__thread_await(weft_future *f, uint64_t deadline,
                                                      void **value) {
  if (deadline != WEFT_NO_DEADLINE && deadline <= weft__now()) return ETIMEDOUT;
  struct weft__thread_waiter *tw = malloc(sizeof *tw);
  if (!tw) return ENOMEM;
  tw->base.fire = weft__thread_waiter_fire;
  atomic_init(&tw->done, 0);
  atomic_init(&tw->refs, 2);
  if (weft__future_add_waiter(f, &tw->base) == 0) {
    /* acquire: pairs with the release store in fire. */
    while (atomic_load_explicit(&tw->done, memory_order_acquire) == 0) {
      if (deadline == WEFT_NO_DEADLINE) {
        weft__futex_wait(&tw->done, 0);
      } else if (weft__futex_wait_until(&tw->done, 0, deadline) == ETIMEDOUT &&
                 atomic_load_explicit(&tw->done, memory_order_acquire) == 0) {
        weft__thread_waiter_put(tw);
        return ETIMEDOUT;
      }
    }
    weft__thread_waiter_put(tw);
  } else {
    free(tw); /* settled before we could wait: never linked */
  }
  return weft__future_read(f, value);
}

/* weft_await_until outside any task: a plain thread, or a worker's own
 * (scheduler) context, which cannot wait. */
static int weft__await_outside(const struct weft__thread *th, weft_future *f,
                               uint64_t deadline, void **value) {
  if (weft__future_done(f)) return weft__future_read(f, value);
  if (th->worker) return EPERM; /* on a worker, outside any task */
  return weft__thread_await(f, deadline, value);
}

int weft_await_until(weft_future *f, uint64_t deadline, void **value) {
  if (!weft__future_valid(f)) return EINVAL;
  struct weft__thread *th = weft__thread();
  if (th->worker && th->worker->current) return weft__task_wait(th, f, deadline, value, 0);
  return weft__await_outside(th, f, deadline, value);
}

int weft_await(weft_future *f, void **value) { return weft_await_until(f, WEFT_NO_DEADLINE, value); }

int weft_join(weft_future *f, void **value) {
  if (!weft__future_valid(f)) return EINVAL;
  struct weft__thread *th = weft__thread();
  if (th->worker && th->worker->current) return weft__task_wait(th, f, WEFT_NO_DEADLINE, value, 1);
  int rc = weft__await_outside(th, f, WEFT_NO_DEADLINE, value);
  weft__future_drop(f);
  return rc;
}

int weft_cancel(weft_future *f) {
  if (!weft__future_valid(f)) return EINVAL;
  struct weft__task *t = weft__as_task(f);
  if (t) return weft__task_cancel(t);
  return weft__future_settle(f, NULL, ECANCELED);
}

/* ---- then ---------------------------------------------------------------------------- */

struct weft__then {
  struct weft__waiter base;
  weft_then_fn fn;
  void *arg;
  weft_future *out; /* one reference, dropped when fired */
};

static void weft__then_fire(struct weft__waiter *w, weft_future *in, int settled) {
  struct weft__then *th = (struct weft__then *)w;
  weft_future *out = th->out;
  if (settled && !weft__future_done(out)) {
    if (in->err) {
      weft__future_settle(out, NULL, in->err);
    } else {
      void *result = NULL;
      int err = th->fn(th->arg, in->value, &result);
      weft__future_settle(out, err ? NULL : result, err > 0 ? err : 0);
    }
  }
  free(th);
  weft__future_unref(out);
}

int weft_future_then(weft_future *in, weft_then_fn fn, void *arg, weft_future **out) {
  if (!weft__future_valid(in) || !fn || !out) return EINVAL;
  weft_future *o = malloc(sizeof *o);
  struct weft__then *th = malloc(sizeof *th);
  if (!o || !th) {
    free(o);
    free(th);
    return ENOMEM;
  }
  weft__future_init(o, WEFT__F_DERIVED, 2); /* the caller's, and the continuation's */
  th->base.fire = weft__then_fire;
  th->fn = fn;
  th->arg = arg;
  th->out = o;
  *out = o;
  if (weft__future_add_waiter(in, &th->base) != 0) {
    /* Already settled: run it now, through the dispatcher like any settle. */
    th->base.next = NULL;
    weft__dispatch(in, &th->base);
  }
  return 0;
}

/* ---- all / any ---------------------------------------------------------------------------- */

struct weft__join;
struct weft__join_waiter {
  struct weft__waiter base;
  struct weft__join *j;
};
struct weft__join {
  atomic_size_t refs;      /* one per unfired waiter, plus the builder's */
  atomic_size_t remaining; /* all: inputs still to resolve */
  atomic_size_t failed;    /* any: inputs that failed */
  size_t n;
  int any;
  weft_future *out; /* one reference, dropped with the join */
  struct weft__join_waiter w[];
};

static void weft__join_put(struct weft__join *j) {
  /* acq_rel: the last dropper sees every other waiter's work before it
   * frees the join. */
  if (atomic_fetch_sub_explicit(&j->refs, 1, memory_order_acq_rel) != 1) return;
  weft__future_unref(j->out);
  free(j);
}

static void weft__join_fire(struct weft__waiter *w, weft_future *in, int settled) {
  struct weft__join *j = ((struct weft__join_waiter *)w)->j;
  if (settled) {
    if (!j->any) {
      if (in->err)
        weft__future_settle(j->out, NULL, in->err);
      /* acq_rel: the input that counts down to zero resolves the output
       * after every other input's resolution (for readers of their values). */
      else if (atomic_fetch_sub_explicit(&j->remaining, 1, memory_order_acq_rel) == 1)
        weft__future_settle(j->out, NULL, 0);
    } else {
      if (!in->err)
        weft__future_settle(j->out, in->value, 0);
      /* acq_rel: as `remaining` above, for the last failure. */
      else if (atomic_fetch_add_explicit(&j->failed, 1, memory_order_acq_rel) + 1 == j->n)
        weft__future_settle(j->out, NULL, in->err);
    }
  }
  weft__join_put(j);
}

static int weft__join_make(weft_future *const *in, size_t n, int any, weft_future **out) {
  if (!out || (n && !in)) return EINVAL;
  for (size_t i = 0; i < n; i++)
    if (!weft__future_valid(in[i])) return EINVAL;
  weft_future *o = malloc(sizeof *o);
  struct weft__join *j = malloc(sizeof *j + n * sizeof j->w[0]);
  if (!o || !j) {
    free(o);
    free(j);
    return ENOMEM;
  }
  weft__future_init(o, WEFT__F_DERIVED, 2); /* the caller's, and the join's */
  atomic_init(&j->refs, n + 1);
  atomic_init(&j->remaining, n);
  atomic_init(&j->failed, 0);
  j->n = n;
  j->any = any;
  j->out = o;
  *out = o;
  for (size_t i = 0; i < n; i++) {
    j->w[i].base.fire = weft__join_fire;
    j->w[i].j = j;
    if (weft__future_add_waiter(in[i], &j->w[i].base) != 0) {
      j->w[i].base.next = NULL;
      weft__dispatch(in[i], &j->w[i].base);
    }
  }
  if (n == 0) weft__future_settle(o, NULL, 0);
  weft__join_put(j); /* the builder's reference */
  return 0;
}

int weft_future_all(weft_future *const *in, size_t n, weft_future **out) {
  return weft__join_make(in, n, 0, out);
}

int weft_future_any(weft_future *const *in, size_t n, weft_future **out) {
  if (n == 0) return EINVAL;
  return weft__join_make(in, n, 1, out);
}
