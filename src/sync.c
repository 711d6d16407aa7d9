/* sync — the blocking machinery shared by the coordination primitives
 * (waitq.h), and the mutex, condition variable, semaphore, wait group and
 * event built on it.
 *
 * Each object is a small atomic word for its fast path, plus a spinlock
 * (spin.h) guarding a FIFO wait queue. Waiting is always: link a node under
 * the spinlock, unlock, block — a task switches out, a thread awaits a
 * future (waitq.h has the protocol); waking is: claim the first live node
 * and take its wake token under the spinlock, unlock, wake it. Objects
 * that hand something over (a mutex, a semaphore unit, an auto-reset
 * event) hand it to the claimed waiter directly, so nobody can overtake a
 * waiter: FIFO, no starvation.
 */
#include <errno.h>
#include <limits.h>
#include <sched.h>
#include <stdlib.h>

#include "sanitize.h"
#include "spin.h"
#include "waitq.h"
#include "weft/runtime.h"
#include "weft/sync.h"

/* ---- waiting (waitq.h) ------------------------------------------------------------- */

int weft__wait_init(struct weft__wait *w, uint64_t deadline) {
  atomic_init(&w->state, WEFT__WAIT_PENDING);
  w->f = NULL;
  int rc = weft__dwait_begin(&w->dw, deadline);
  if (rc != EPERM) return rc; /* 0, or ECANCELED: a cancelled task would not wait */
  if (weft_future_create(&w->f)) {
    w->f = NULL;
    return ENOMEM;
  }
  weft_future_retain(w->f); /* the firer's */
  return 0;
}

void weft__wait_drop(struct weft__wait *w) {
  if (w->dw.task) weft__dwait_abandon(&w->dw);
  if (!w->f) return;
  weft_future_release(w->f);
  weft_future_release(w->f);
  w->f = NULL;
}

void weft__wait_wake(weft_future *tok) {
  /* NULL: a task whose wait's own post-switch action schedules it, or a
   * polled wait (no future), which sees the state word. */
  if (!tok || weft__dwait_wake(tok)) return;
  weft_future_resolve(tok, NULL);
  weft_future_release(tok); /* the firer's */
}

void weft__wakeset_wake(struct weft__wakeset *s) {
  for (unsigned i = 0; i < s->n; i++) weft__wait_wake(s->f[i]);
  s->n = 0;
}

void weft__backoff(void) {
  if (weft_task_current() && weft_yield() != EPERM) return;
  sched_yield();
}

int weft__wait_block(struct weft__wait *w, struct weft__wnode *nodes, size_t n, int nocancel,
                     uint64_t deadline, int *fired) {
  int rc = EAGAIN;
  if (nocancel) deadline = WEFT_NO_DEADLINE;
  /* EAGAIN from the await means woken with the future still pending (a
   * spurious wake-up): wait again (the deadline is absolute). ETIMEDOUT
   * retracts below exactly as ECANCELED does. */
  if (w->dw.task)
    rc = weft__dwait_block(&w->dw, deadline);
  else if (w->f)
    while ((rc = weft_await_until(w->f, deadline, NULL)) == EAGAIN) {
    }
  int st, sync = 1;
  if (rc == 0) {
    sync = 0;
    /* relaxed: the firer's CAS happened before its wake-up (a direct
     * wait's claim, a future's resolve), whose release we acquired. */
    st = atomic_load_explicit(&w->state, memory_order_relaxed);
  } else if (!nocancel) {
    st = WEFT__WAIT_PENDING;
    /* acq_rel: on success, orders our unlinking after the retraction;
     * acquire on failure pairs with the firer's release CAS. */
    if (atomic_compare_exchange_strong_explicit(&w->state, &st, WEFT__WAIT_RETRACTED,
                                                memory_order_acq_rel, memory_order_acquire)) {
      st = WEFT__WAIT_RETRACTED;
      if (w->f) weft_future_release(w->f); /* nobody will fire: the firer's reference is ours */
    } else {
      rc = 0; /* too late: the operation happened */
    }
  } else {
    /* Must not give up: poll until a firer claims us. (A cancelled task's
     * await returns at once; a direct wait, or one without a future, has
     * nothing to await.) */
    /* acquire: pairs with the firer's release CAS. */
    while ((st = atomic_load_explicit(&w->state, memory_order_acquire)) == WEFT__WAIT_PENDING) {
      weft__backoff();
      if (w->f) (void)weft_await(w->f, NULL);
    }
    rc = 0;
  }
  if (sync && rc == 0) {
    /* The firer writes the node's result under its lock after the CAS:
     * take and drop that lock so those writes are visible, and so that a
     * firer still holding it is done with us. (After a wake-up they
     * already are: a direct wait's claim comes after them under the lock,
     * a future's resolve after the unlock.) */
    weft__spin_lock(nodes[st].lock);
    weft__spin_unlock(nodes[st].lock);
  }
  for (size_t i = 0; i < n; i++) {
    struct weft__wnode *x = &nodes[i];
    if ((int)i == st || !x->lock) continue;
    /* acquire: pairs with the release store of whoever unlinked it. */
    if (atomic_load_explicit(&x->queued, memory_order_acquire)) {
      weft__spin_lock(x->lock);
      if (atomic_load_explicit(&x->queued, memory_order_relaxed)) weft__wq_unlink(x->q, x);
      weft__spin_unlock(x->lock);
    }
  }
  if (w->f) weft_future_release(w->f); /* ours */
  w->f = NULL;
  w->dw.task = NULL;
  if (rc == 0) *fired = st;
  return rc;
}

/* Wakes every node of q linked before the call, in batches; the caller
 * holds `lock` and gets it back released. `result` is what each gets. */
static void weft__wake_all(weft__spin *lock, struct weft__wq *q, int result) {
  unsigned long limit = q->seq;
  for (;;) {
    struct weft__wakeset ws;
    ws.n = 0;
    struct weft__wnode *x;
    while (!weft__wakeset_full(&ws) && (x = weft__wq_take_before(q, limit))) {
      x->result = result;
      weft__wakeset_add(&ws, weft__wait_token(x->w));
    }
    /* Decided under the lock: back only while a node it must wake is
     * still queued, and then announced (weft__wq_batch_pause), so that a
     * destroy waits for us. */
    struct weft__wnode *h = q->head;
    int more = weft__wakeset_full(&ws) && h && (long)(h->seq - limit) < 0;
    if (more) weft__wq_batch_pause(q);
    weft__spin_unlock(lock);
    weft__wakeset_wake(&ws);
    if (!more) return;
    weft__spin_lock(lock);
    weft__wq_batch_resume(q);
  }
}

/* The slow path of waiting for a state (a semaphore unit, a zero count, a
 * set event) that a waker makes true before, or while, holding `lock` to
 * wake q — after the caller's own lock-free check failed: times out at once
 * if the deadline has passed; else makes the future, checks `ready(obj)`
 * again under the lock (it may consume, as a semaphore unit does), and
 * links a node only if that still fails. No lost wake-up: if the waker's
 * critical section comes after ours it finds our node; if before, its
 * change happens-before our check through the lock. */
static int weft__wait_until_ready(weft__spin *lock, struct weft__wq *q, int (*ready)(void *),
                                  void *obj, uint64_t deadline) {
  if (weft__deadline_passed(deadline)) return ETIMEDOUT;
  struct weft__wait w;
  int rc = weft__wait_init(&w, deadline);
  if (rc) return rc;
  weft__spin_lock(lock);
  if (ready(obj)) {
    weft__spin_unlock(lock);
    weft__wait_drop(&w);
    return 0;
  }
  struct weft__wnode n;
  weft__wnode_init(&n, &w, 0, lock);
  weft__wq_push(q, &n);
  weft__spin_unlock(lock);
  int fired;
  return weft__wait_block(&w, &n, 1, 0, deadline, &fired);
}

/* ---- mutex -----------------------------------------------------------------------------
 *
 * state: 0 unlocked; 1 locked; 2 locked, and waiters may be queued (every
 * waiter sets 2, under the spinlock, before linking itself). Lock: CAS
 * 0 -> 1. Unlock: CAS 1 -> 0; on 2, the slow path takes the spinlock and
 * hands the mutex to the first live waiter *without unlocking it* (state
 * stays 1 or 2), so a newcomer's CAS 0 -> 1 cannot overtake the queue.
 * A waiter that retracts leaves state at 2 with maybe nobody queued: the
 * next unlock's slow path finds no one and stores 0.
 *
 * No lost wake-up: the unlock fast path succeeds only on 1, and a waiter
 * changes 1 -> 2 (or sees 2) under the spinlock before linking; an unlock
 * that sees 2 takes the spinlock after that linking and finds the node. */

#define WEFT__MUTEX_SPINS 64

struct weft_mutex {
  atomic_uint state;
  weft__spin lock;
  struct weft__wq q;
};

int weft_mutex_create(weft_mutex **out) {
  if (!out) return EINVAL;
  weft_mutex *m = malloc(sizeof *m);
  if (!m) return ENOMEM;
  atomic_init(&m->state, 0);
  weft__spin_init(&m->lock);
  weft__wq_init(&m->q);
  *out = m;
  return 0;
}

int weft_mutex_destroy(weft_mutex *m) {
  if (!m) return EINVAL;
  weft__spin_lock(&m->lock);
  int busy = atomic_load_explicit(&m->state, memory_order_relaxed) != 0 || !weft__wq_empty(&m->q);
  weft__spin_unlock(&m->lock);
  if (busy) return EBUSY;
  free(m);
  return 0;
}

/* nocancel: a condition wait's re-lock, which must succeed (no deadline,
 * no cancel; polled if there is no memory for a future). Otherwise waits
 * until `deadline`. */
static int weft__mutex_lock_slow(weft_mutex *m, int nocancel, uint64_t deadline) {
  /* A past deadline makes this weft_mutex_trylock (the caller's CAS
   * failed): no spinning, no future. */
  if (weft__deadline_passed(deadline)) return ETIMEDOUT;
  /* A short spin while the holder has no waiters behind it: a lock held
   * for a few instructions by a running task is cheaper to wait out than
   * to queue for. Pointless once someone is queued (handoff is FIFO). */
  for (int i = 0; i < WEFT__MUTEX_SPINS; i++) {
    unsigned s = atomic_load_explicit(&m->state, memory_order_relaxed);
    if (s == 2) break;
    /* acquire: pairs with the release of the unlock that stored 0. */
    if (s == 0 && atomic_compare_exchange_weak_explicit(&m->state, &s, 1, memory_order_acquire,
                                                        memory_order_relaxed))
      return 0;
    weft__cpu_relax();
  }
  struct weft__wait w;
  int rc = weft__wait_init(&w, deadline);
  if (rc) {
    if (!nocancel) return rc;
    /* Polled (no future, no direct wait): out of memory, or a cancelled
     * task that must take the mutex anyway. */
    atomic_init(&w.state, WEFT__WAIT_PENDING);
  }
  weft__spin_lock(&m->lock);
  for (;;) {
    unsigned s = atomic_load_explicit(&m->state, memory_order_relaxed);
    if (s == 0) {
      /* acquire: as above. */
      if (atomic_compare_exchange_weak_explicit(&m->state, &s, 1, memory_order_acquire,
                                                memory_order_relaxed)) {
        weft__spin_unlock(&m->lock);
        weft__wait_drop(&w);
        return 0;
      }
      continue;
    }
    /* relaxed: ordered by the spinlock against the unlock slow path, the
     * only other place that reads 2 and acts on the queue. */
    if (s == 1 && !atomic_compare_exchange_weak_explicit(&m->state, &s, 2, memory_order_relaxed,
                                                         memory_order_relaxed))
      continue;
    break;
  }
  struct weft__wnode n;
  weft__wnode_init(&n, &w, 0, &m->lock);
  weft__wq_push(&m->q, &n);
  weft__spin_unlock(&m->lock);
  int fired;
  /* fired: we hold m (handed over) */
  return weft__wait_block(&w, &n, 1, nocancel, deadline, &fired);
}

/* The one lock path: the uncontended CAS inline, the rest out of line.
 * Inlined into both public functions, so the untimed lock pays nothing for
 * the deadline. */
static inline int weft__mutex_lock(weft_mutex *m, int nocancel, uint64_t deadline) {
  unsigned e = 0;
  /* acquire: pairs with the release of the unlock that stored 0. */
  if (WEFT__LIKELY(atomic_compare_exchange_strong_explicit(&m->state, &e, 1, memory_order_acquire,
                                                           memory_order_relaxed)))
    return 0;
  return weft__mutex_lock_slow(m, nocancel, deadline);
}

int weft_mutex_lock(weft_mutex *m) {
  if (WEFT__UNLIKELY(!m)) return EINVAL;
  return weft__mutex_lock(m, 0, WEFT_NO_DEADLINE);
}

int weft_mutex_lock_until(weft_mutex *m, uint64_t deadline) {
  if (WEFT__UNLIKELY(!m)) return EINVAL;
  return weft__mutex_lock(m, 0, deadline);
}

/* Locks whatever happens (cancellation, a deadline, no memory): condition
 * waits must return with the mutex held. */
static void weft__mutex_lock_nocancel(weft_mutex *m) {
  (void)weft__mutex_lock(m, 1, WEFT_NO_DEADLINE);
}

int weft_mutex_trylock(weft_mutex *m) {
  if (!m) return EINVAL;
  unsigned e = 0;
  /* acquire: as in weft_mutex_lock. */
  return atomic_compare_exchange_strong_explicit(&m->state, &e, 1, memory_order_acquire,
                                                 memory_order_relaxed)
             ? 0
             : EBUSY;
}

static int weft__mutex_unlock_slow(weft_mutex *m) {
  weft__spin_lock(&m->lock);
  struct weft__wnode *n = weft__wq_take(&m->q);
  if (!n) {
    /* release: publishes the critical section to the next locker's
     * acquire CAS (only retracted waiters were left). */
    atomic_store_explicit(&m->state, 0, memory_order_release);
    weft__spin_unlock(&m->lock);
    return 0;
  }
  /* Handed over: still locked, now by n's waiter, who sees our critical
   * section through the claim CAS (release) and its future (resolve is a
   * release, its await an acquire). relaxed: under the spinlock. */
  atomic_store_explicit(&m->state, weft__wq_empty(&m->q) ? 1u : 2u, memory_order_relaxed);
  weft_future *f = weft__wait_token(n->w);
  weft__spin_unlock(&m->lock);
  weft__wait_wake(f);
  return 0;
}

int weft_mutex_unlock(weft_mutex *m) {
  if (WEFT__UNLIKELY(!m)) return EINVAL;
  unsigned e = 1;
  /* release: publishes the critical section to the next locker's acquire. */
  if (WEFT__LIKELY(atomic_compare_exchange_strong_explicit(&m->state, &e, 0, memory_order_release,
                                                           memory_order_relaxed)))
    return 0;
  if (e == 0) return EPERM;
  return weft__mutex_unlock_slow(m);
}

/* ---- condition variable -------------------------------------------------------------- */

struct weft_cond {
  weft__spin lock;
  struct weft__wq q;
};

int weft_cond_create(weft_cond **out) {
  if (!out) return EINVAL;
  weft_cond *c = malloc(sizeof *c);
  if (!c) return ENOMEM;
  weft__spin_init(&c->lock);
  weft__wq_init(&c->q);
  *out = c;
  return 0;
}

int weft_cond_destroy(weft_cond *c) {
  if (!c) return EINVAL;
  if (weft__wq_busy(&c->lock, &c->q)) return EBUSY;
  free(c);
  return 0;
}

int weft_cond_wait(weft_cond *c, weft_mutex *m) {
  return weft_cond_wait_until(c, m, WEFT_NO_DEADLINE);
}

int weft_cond_wait_until(weft_cond *c, weft_mutex *m, uint64_t deadline) {
  if (!c || !m) return EINVAL;
  if (atomic_load_explicit(&m->state, memory_order_relaxed) == 0) return EPERM;
  /* Past already: time out without letting m go (as if it had been
   * released and re-taken at once, with no signal in between). */
  if (weft__deadline_passed(deadline)) return ETIMEDOUT;
  struct weft__wait w;
  int rc = weft__wait_init(&w, deadline);
  if (rc) return rc; /* m still held, as the contract wants */
  struct weft__wnode n;
  weft__wnode_init(&n, &w, 0, &c->lock);
  /* Linked before the mutex is released: a signaller that takes the mutex
   * after us finds the node (no lost wake-up). */
  weft__spin_lock(&c->lock);
  weft__wq_push(&c->q, &n);
  weft__spin_unlock(&c->lock);
  weft_mutex_unlock(m);
  int fired;
  rc = weft__wait_block(&w, &n, 1, 0, deadline, &fired);
  /* Whatever ended the wait (a signal, a cancel, the deadline), m is ours
   * again before we return; the re-lock itself has no deadline, as
   * pthread_cond_timedwait's. */
  weft__mutex_lock_nocancel(m);
  return rc;
}

int weft_cond_signal(weft_cond *c) {
  if (!c) return EINVAL;
  weft__spin_lock(&c->lock);
  struct weft__wnode *n = weft__wq_take(&c->q);
  weft_future *f = n ? weft__wait_token(n->w) : NULL;
  weft__spin_unlock(&c->lock);
  weft__wait_wake(f);
  return 0;
}

int weft_cond_broadcast(weft_cond *c) {
  if (!c) return EINVAL;
  weft__spin_lock(&c->lock);
  weft__wake_all(&c->lock, &c->q, 0);
  return 0;
}

/* ---- semaphore ------------------------------------------------------------------------
 *
 * count: the units held. Acquire's fast path is a CAS count -> count - 1
 * (no lock). Release always takes the spinlock: it hands the unit to the
 * first live waiter, or adds it to count. A waiter links itself only after
 * seeing count == 0 under the spinlock, and count only grows under it, so
 * no release misses a waiter, and while anyone waits count stays 0 (no
 * barging). */

struct weft_sem {
  atomic_uint count;
  weft__spin lock;
  struct weft__wq q;
};

int weft_sem_create(weft_sem **out, unsigned initial) {
  if (!out) return EINVAL;
  weft_sem *s = malloc(sizeof *s);
  if (!s) return ENOMEM;
  atomic_init(&s->count, initial);
  weft__spin_init(&s->lock);
  weft__wq_init(&s->q);
  *out = s;
  return 0;
}

int weft_sem_destroy(weft_sem *s) {
  if (!s) return EINVAL;
  if (weft__wq_busy(&s->lock, &s->q)) return EBUSY;
  free(s);
  return 0;
}

static int weft__sem_take(weft_sem *s) {
  unsigned c = atomic_load_explicit(&s->count, memory_order_relaxed);
  /* acquire: pairs with the release increment in weft_sem_release. */
  while (c > 0)
    if (atomic_compare_exchange_weak_explicit(&s->count, &c, c - 1, memory_order_acquire,
                                              memory_order_relaxed))
      return 1;
  return 0;
}

int weft_sem_try_acquire(weft_sem *s) {
  if (!s) return EINVAL;
  return weft__sem_take(s) ? 0 : EAGAIN;
}

static int weft__sem_ready(void *s) { return weft__sem_take(s); }

int weft_sem_acquire_until(weft_sem *s, uint64_t deadline) {
  if (!s) return EINVAL;
  if (weft__sem_take(s)) return 0;
  return weft__wait_until_ready(&s->lock, &s->q, weft__sem_ready, s, deadline);
}

int weft_sem_acquire(weft_sem *s) { return weft_sem_acquire_until(s, WEFT_NO_DEADLINE); }

int weft_sem_release(weft_sem *s) {
  if (!s) return EINVAL;
  weft__spin_lock(&s->lock);
  struct weft__wnode *n = weft__wq_take(&s->q);
  weft_future *f = NULL;
  if (n) {
    f = weft__wait_token(n->w); /* the unit goes straight to the waiter */
  } else if (atomic_load_explicit(&s->count, memory_order_relaxed) == UINT_MAX) {
    weft__spin_unlock(&s->lock);
    return EOVERFLOW;
  } else {
    /* release: what the releaser did before happens-before the acquire
     * CAS that takes this unit. */
    atomic_fetch_add_explicit(&s->count, 1, memory_order_release);
  }
  weft__spin_unlock(&s->lock);
  weft__wait_wake(f);
  return 0;
}

unsigned weft_sem_value(const weft_sem *s) {
  if (!s) return 0;
  return atomic_load_explicit(&((weft_sem *)s)->count, memory_order_relaxed);
}

/* ---- wait group ------------------------------------------------------------------------
 *
 * count changes with a CAS (so it never goes below zero), lock-free —
 * except the change that reaches zero, which is made under the spinlock,
 * in the critical section that then wakes every linked waiter. A waiter
 * reads count under the spinlock and links itself only if it is not zero:
 * if its critical section comes first, the zeroing one finds it; if
 * after, it reads zero (or a newer count). Zeroing under the lock matters
 * twice: a waiter that sees zero without the lock and destroys the group
 * must wait for that lock (and so for the waker, see weft__wq_quiesce);
 * and the waker's wake-all takes exactly the waiters linked before the
 * zero, never one of the group's next round. */

struct weft_waitgroup {
  atomic_long count;
  weft__spin lock;
  struct weft__wq q;
};

int weft_waitgroup_create(weft_waitgroup **out) {
  if (!out) return EINVAL;
  weft_waitgroup *wg = malloc(sizeof *wg);
  if (!wg) return ENOMEM;
  atomic_init(&wg->count, 0);
  weft__spin_init(&wg->lock);
  weft__wq_init(&wg->q);
  *out = wg;
  return 0;
}

int weft_waitgroup_destroy(weft_waitgroup *wg) {
  if (!wg) return EINVAL;
  if (weft__wq_busy(&wg->lock, &wg->q)) return EBUSY;
  free(wg);
  return 0;
}

/* One CAS of count by delta, if it stays in range: 0, EINVAL or EOVERFLOW;
 * 1 if the change would reach zero and `locked` is 0 (the caller takes
 * the lock and tries again). The new count goes to *nc. */
static int weft__waitgroup_change(weft_waitgroup *wg, long delta, int locked, long *nc) {
  long c = atomic_load_explicit(&wg->count, memory_order_relaxed);
  do {
    if (delta < 0 ? c < -delta : c > LONG_MAX - delta) return delta < 0 ? EINVAL : EOVERFLOW;
    *nc = c + delta;
    if (*nc == 0 && delta != 0 && !locked) return 1;
    /* acq_rel: the decrements form a release sequence that the one
     * reaching zero acquires, so every done()'s work happens-before the
     * waiters it wakes (and the acquire load in weft_waitgroup_wait). */
  } while (!atomic_compare_exchange_weak_explicit(&wg->count, &c, *nc, memory_order_acq_rel,
                                                  memory_order_relaxed));
  return 0;
}

int weft_waitgroup_add(weft_waitgroup *wg, long delta) {
  if (!wg) return EINVAL;
  long nc;
  int rc = weft__waitgroup_change(wg, delta, 0, &nc);
  if (rc != 1) return rc;
  /* The change to zero (see above). Other changes may land meanwhile:
   * under the lock it is decided again. */
  weft__spin_lock(&wg->lock);
  rc = weft__waitgroup_change(wg, delta, 1, &nc);
  if (rc == 0 && nc == 0)
    weft__wake_all(&wg->lock, &wg->q, 0); /* releases the lock */
  else
    weft__spin_unlock(&wg->lock);
  return rc;
}

int weft_waitgroup_done(weft_waitgroup *wg) { return weft_waitgroup_add(wg, -1); }

static int weft__waitgroup_ready(void *p) {
  weft_waitgroup *wg = p;
  /* acquire: pairs with the release sequence of the decrements. */
  return atomic_load_explicit(&wg->count, memory_order_acquire) == 0;
}

int weft_waitgroup_wait_until(weft_waitgroup *wg, uint64_t deadline) {
  if (!wg) return EINVAL;
  if (weft__waitgroup_ready(wg)) return 0;
  return weft__wait_until_ready(&wg->lock, &wg->q, weft__waitgroup_ready, wg, deadline);
}

int weft_waitgroup_wait(weft_waitgroup *wg) {
  return weft_waitgroup_wait_until(wg, WEFT_NO_DEADLINE);
}

/* ---- event -------------------------------------------------------------------------------
 *
 * set: 0 or 1. Manual (and one-shot): set stores 1 under the spinlock and
 * wakes every linked waiter; a waiter checks set under the spinlock before
 * linking, so it either sees 1 or is linked before the set's wake-all.
 * Auto reset: set hands itself to the first live waiter, or stores 1 if
 * there is none; a wait consumes a stored 1 with a CAS 1 -> 0. */

struct weft_event {
  atomic_uint set;
  int flags;
  weft__spin lock;
  struct weft__wq q;
};

int weft_event_create(weft_event **out, int flags) {
  if (!out || (flags & ~(WEFT_EVENT_ONESHOT | WEFT_EVENT_AUTO_RESET)) ||
      flags == (WEFT_EVENT_ONESHOT | WEFT_EVENT_AUTO_RESET))
    return EINVAL;
  weft_event *e = malloc(sizeof *e);
  if (!e) return ENOMEM;
  atomic_init(&e->set, 0);
  e->flags = flags;
  weft__spin_init(&e->lock);
  weft__wq_init(&e->q);
  *out = e;
  return 0;
}

int weft_event_destroy(weft_event *e) {
  if (!e) return EINVAL;
  if (weft__wq_busy(&e->lock, &e->q)) return EBUSY;
  free(e);
  return 0;
}

/* Consumes or observes a set event without waiting: 1 if it was set. */
static int weft__event_take(weft_event *e) {
  if (e->flags & WEFT_EVENT_AUTO_RESET) {
    unsigned one = 1;
    /* acquire: pairs with the release store in weft_event_set. */
    return atomic_compare_exchange_strong_explicit(&e->set, &one, 0, memory_order_acquire,
                                                   memory_order_relaxed);
  }
  /* acquire: as above. */
  return atomic_load_explicit(&e->set, memory_order_acquire) != 0;
}

int weft_event_set(weft_event *e) {
  if (!e) return EINVAL;
  weft__spin_lock(&e->lock);
  if (e->flags & WEFT_EVENT_AUTO_RESET) {
    struct weft__wnode *n = weft__wq_take(&e->q);
    weft_future *f = NULL;
    if (n)
      f = weft__wait_token(n->w); /* handed to the longest waiter: the event stays unset */
    else
      /* release: the setter's writes happen-before the wait that consumes it. */
      atomic_store_explicit(&e->set, 1, memory_order_release);
    weft__spin_unlock(&e->lock);
    weft__wait_wake(f);
    return 0;
  }
  /* release: as above, for every wait that sees 1. */
  atomic_store_explicit(&e->set, 1, memory_order_release);
  weft__wake_all(&e->lock, &e->q, 0);
  return 0;
}

int weft_event_reset(weft_event *e) {
  if (!e) return EINVAL;
  if (e->flags & WEFT_EVENT_ONESHOT) return EPERM;
  /* relaxed: a reset publishes nothing; waits that see 0 just wait. */
  atomic_store_explicit(&e->set, 0, memory_order_relaxed);
  return 0;
}

int weft_event_try_wait(weft_event *e) {
  if (!e) return EINVAL;
  return weft__event_take(e) ? 0 : EAGAIN;
}

static int weft__event_ready(void *e) { return weft__event_take(e); }

int weft_event_wait_until(weft_event *e, uint64_t deadline) {
  if (!e) return EINVAL;
  if (weft__event_take(e)) return 0;
  return weft__wait_until_ready(&e->lock, &e->q, weft__event_ready, e, deadline);
}

int weft_event_wait(weft_event *e) { return weft_event_wait_until(e, WEFT_NO_DEADLINE); }
