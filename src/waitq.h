/* waitq — how a coroutine (or a plain thread) blocks in a coordination
 * primitive: channels (chan.c), mutex, condition variable, semaphore, wait
 * group and event (sync.c). Built on the public future API, and on the
 * scheduler's direct waits (worker.c) for tasks.
 *
 * One blocked operation is a `struct weft__wait`: a state word, and the
 * task's direct wait or a pending future. It has one or more cases
 * (`struct weft__wnode`), each linked in one primitive's FIFO queue under
 * that primitive's spinlock; a channel select has one case per channel
 * operation, everything else has one. The wait and its nodes live on the
 * blocked caller's stack.
 *
 * The protocol.
 * - Waiter: a task begins a direct wait (worker.c, "direct waits": its
 *   wait word goes to PREPARING, no future); anything else (a plain
 *   thread, a coroutine's body) makes a future with two references, its
 *   own and the "firer's". Then it links its node(s) under the
 *   primitive's lock, unlocks, and blocks: the task switches out, the
 *   others await the future. A task already cancelled does not wait: the
 *   operation reports ECANCELED (as if cancelled while waiting).
 * - Firer (whoever completes the operation for the waiter: a sender for a
 *   blocked receiver, an unlocker for a blocked locker, a closer...): under
 *   the primitive's lock it unlinks the first node and CASes the wait's
 *   state PENDING -> that node's case index. Winning the CAS *is* the
 *   operation taking effect for the waiter: it then writes the node's
 *   result and value and takes a wake token (weft__wait_token), still
 *   under the lock, and after unlocking wakes it (weft__wait_wake): makes
 *   the task runnable, or resolves the future and drops the firer's
 *   reference.
 *   Losing it means the wait is stale (another case fired, or the waiter
 *   gave up): the node is dropped and the firer takes the next one.
 * - A waiter whose await fails (ECANCELED: its task was cancelled;
 *   ETIMEDOUT: its deadline came first; or ENOMEM, EPERM) retracts: CAS
 *   PENDING -> RETRACTED. Winning means no one
 *   will ever fire it: it takes over the firer's reference, unlinks its
 *   nodes and reports the error — the primitive is left exactly as if it
 *   had never waited (a send's value is not delivered). Losing means a
 *   firer won first: the operation has happened, so the waiter reports
 *   success (a cancellation that comes too late is seen at the task's next
 *   blocking call), after taking and dropping the firing case's lock so
 *   that the firer's writes under it are visible.
 * So every operation either happens exactly once or leaves no trace, and
 * exactly one party holds the firer's reference.
 *
 * Deadlines. The await is weft_await_until(): a timeout is one more reason
 * to retract, handled exactly as a cancel (no trace; or, if a firer won the
 * race, success). A primitive checks its deadline (weft__deadline_passed)
 * only after its non-blocking attempt failed and before it makes its
 * future: a past deadline makes the call its try-operation (ETIMEDOUT
 * instead of EAGAIN), and nothing is allocated for it. Waits that must not
 * give up (nocancel: re-taking the mutex after a condition wait) ignore any
 * deadline, as they ignore a cancel.
 *
 * A task's token is taken under the lock because taking it is the task's
 * wake-up: after the lock is released the waiter may be gone, unless the
 * token says the firer owns its scheduling (then it cannot run until the
 * firer schedules it).
 *
 * Lifetime. The wait and nodes are on the waiter's stack; the waiter does
 * not return while any node is linked. A node's `queued` is 1 while it is
 * linked; whoever unlinks it stores 0 with release as its very last touch
 * of the node (and a firer touches a fired node only until it unlocks).
 * The waiter reads `queued` with acquire: 0 means nobody will touch that
 * node again; 1 means take the lock and unlink it.
 *
 * Misuse guard: freeing a primitive while an operation on it is still in
 * progress is the caller's bug (as pthread_mutex_destroy); the _destroy
 * functions return EBUSY when they can see a waiter.
 */
#ifndef WEFT_WAITQ_H
#define WEFT_WAITQ_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "spin.h"
#include "weft/future.h"
#include "weft/time.h"

enum { WEFT__WAIT_PENDING = -1, WEFT__WAIT_RETRACTED = -2 };

struct weft__task;

/* A task's wait without a future (worker.c): its wait word's generation. */
struct weft__dwait {
  struct weft__task *task; /* NULL: not a direct wait */
  uint64_t gen;
};

struct weft__wait {
  atomic_int state;      /* PENDING, then the index of the case that fired, or RETRACTED */
  weft_future *f;        /* not a task: two references, the waiter's and the firer's */
  struct weft__dwait dw; /* a task: dw.task is set, f is NULL */
};

/* worker.c. Begins the calling task's direct wait, with room for a timer if
 * `deadline` is one: 0; EPERM if the caller is no task (or a coroutine's
 * body, or a settle's callback); ECANCELED; ENOMEM (no room for the timer;
 * may allocate, so not under a primitive's lock with a deadline). */
int weft__dwait_begin(struct weft__dwait *d, uint64_t deadline);
/* Ends a direct wait that was never linked. */
void weft__dwait_abandon(struct weft__dwait *d);
/* Switches out until a firer claims d (0), the task is cancelled
 * (ECANCELED) or the deadline comes (ETIMEDOUT): the deadline given to
 * weft__dwait_begin, or none. */
int weft__dwait_block(struct weft__dwait *d, uint64_t deadline);
/* Under the lock of a primitive that linked d, after writing its node:
 * wakes d's task; returns its token if the caller must make it runnable
 * (weft__dwait_wake, after unlocking), else NULL. */
weft_future *weft__dwait_claim(const struct weft__dwait *d);
/* 1 if tok is a direct wait's token (it is now runnable), 0 if not. */
int weft__dwait_wake(weft_future *tok);

struct weft__wq;

struct weft__wnode {
  struct weft__wnode *prev, *next; /* in *q, under *lock */
  struct weft__wait *w;
  weft__spin *lock;                /* the primitive's lock (NULL: a disabled case) */
  struct weft__wq *q;
  unsigned long seq;               /* its place in q (see weft__wq_take_before) */
  atomic_int queued;               /* 1 while linked in q */
  int index;                       /* which case of w it is */
  int result;                      /* written by the firer: the operation's outcome */
  void *value;                     /* a send's value (read by the firer), a receive's (written) */
};

struct weft__wq {
  struct weft__wnode *head, *tail;
  unsigned long seq; /* pushes so far */
  /* Wakers of all between two batches (weft__wq_batch_pause): they have
   * released the lock and will take it again. Under the lock. */
  unsigned wakers;
};

static inline void weft__wq_init(struct weft__wq *q) {
  q->head = q->tail = NULL;
  q->seq = 0;
  q->wakers = 0;
}

/* Waking all of a queue in batches (a condition's broadcast, a wait group
 * reaching zero, an event's set, a channel's close) releases the
 * primitive's lock between batches, to wake each batch's tasks without it,
 * and then takes it again. The waiters still queued at the pause keep the
 * primitive's _destroy at EBUSY — unless they all leave meanwhile (cancel,
 * deadline), when a destroy could free the primitive under the waker's
 * next lock. So a waker that will come back says so, under the lock,
 * before it releases it, and _destroy waits for none to be between
 * batches (weft__wq_quiesce). The waker's last touch of the primitive is
 * then the unlock that ends its last batch. */
static inline void weft__wq_batch_pause(struct weft__wq *q) { q->wakers++; }
static inline void weft__wq_batch_resume(struct weft__wq *q) { q->wakers--; }

/* A destroy, with `lock` held: returns with it held and no waker of q
 * between batches. A waker's pause is as long as waking one batch. */
static inline void weft__wq_quiesce(weft__spin *lock, const struct weft__wq *q) {
  while (q->wakers) {
    weft__spin_unlock(lock);
    sched_yield();
    weft__spin_lock(lock);
  }
}

/* Under the lock: links n at the tail. */
static inline void weft__wq_push(struct weft__wq *q, struct weft__wnode *n) {
  n->q = q;
  n->seq = q->seq++;
  n->next = NULL;
  n->prev = q->tail;
  if (q->tail)
    q->tail->next = n;
  else
    q->head = n;
  q->tail = n;
  /* relaxed: set and read under the lock; the waiter, who set it, reads
   * its own store or a later 0 (see the file comment). */
  atomic_store_explicit(&n->queued, 1, memory_order_relaxed);
}

/* Under the lock: unlinks n (which is linked) without marking it unqueued. */
static inline void weft__wq_cut(struct weft__wq *q, struct weft__wnode *n) {
  if (n->prev)
    n->prev->next = n->next;
  else
    q->head = n->next;
  if (n->next)
    n->next->prev = n->prev;
  else
    q->tail = n->prev;
  n->prev = n->next = NULL;
}

/* Under the lock: unlinks n; after this the caller must not touch n. */
static inline void weft__wq_unlink(struct weft__wq *q, struct weft__wnode *n) {
  weft__wq_cut(q, n);
  /* release: our last touch of n; pairs with the waiter's acquire load,
   * after which it may return and free the node. */
  atomic_store_explicit(&n->queued, 0, memory_order_release);
}

/* Under the lock: unlinks the first node whose wait it can claim (CAS
 * PENDING -> its index) and returns it, dropping stale nodes on the way;
 * NULL if none. Only nodes pushed before `limit` (a value of q->seq) are
 * considered. The returned node may be used (result, value, its wait's
 * token) only until the lock is released. */
static inline struct weft__wnode *weft__wq_take_before(struct weft__wq *q, unsigned long limit) {
  struct weft__wnode *n;
  while ((n = q->head) && (long)(n->seq - limit) < 0) {
    weft__wq_cut(q, n);
    int expect = WEFT__WAIT_PENDING;
    /* acq_rel: release publishes the primitive's state (the data handed
     * over: a buffer slot, the mutex's critical section) to a waiter whose
     * retraction CAS fails on it (acquire there); acquire orders our reads
     * of the waiter's node after its linking. */
    int won = atomic_compare_exchange_strong_explicit(&n->w->state, &expect, n->index,
                                                      memory_order_acq_rel, memory_order_acquire);
    if (won) {
      /* relaxed: the waiter learns it was fired from its wake-up (a
       * direct wait's claim, later under this lock; a future's resolve,
       * after the unlock) or from the lock it takes when its retraction
       * fails: all after this store. */
      atomic_store_explicit(&n->queued, 0, memory_order_relaxed);
      return n;
    }
    /* release: as in weft__wq_unlink. */
    atomic_store_explicit(&n->queued, 0, memory_order_release);
  }
  return NULL;
}

static inline struct weft__wnode *weft__wq_take(struct weft__wq *q) {
  return weft__wq_take_before(q, q->seq);
}

/* Under the lock: whether a node could still be claimed (stale nodes
 * count: this is a hint, not a promise). */
static inline int weft__wq_empty(const struct weft__wq *q) { return q->head == NULL; }

/* A one-queue primitive's destroy: 1 if somebody still waits in q
 * (EBUSY), else 0 and the primitive may be freed — nobody waits and no
 * wake-all is between batches. Takes and releases `lock`. */
static inline int weft__wq_busy(weft__spin *lock, struct weft__wq *q) {
  weft__spin_lock(lock);
  weft__wq_quiesce(lock, q);
  int busy = !weft__wq_empty(q);
  weft__spin_unlock(lock);
  return busy;
}

/* Whether a wait until `deadline` would time out at once. Reads the clock
 * only for a real deadline: untimed waits pay nothing for it. */
static inline int weft__deadline_passed(uint64_t deadline) {
  return deadline != WEFT_NO_DEADLINE && weft_now() >= deadline;
}

/* Readies w for a wait until `deadline` (or WEFT_NO_DEADLINE): a direct
 * wait in a task, else a future (two references). 0, ECANCELED (a
 * cancelled task: nothing readied) or ENOMEM. From here until
 * weft__wait_block or weft__wait_drop a task must not wait for anything
 * else, and weft__wait_block must get the same deadline or none. */
int weft__wait_init(struct weft__wait *w, uint64_t deadline);

/* The same, under the primitive's lock, for a wait that cannot have to
 * allocate: 1 if w is now a direct wait (the caller is a task, not
 * cancelled, and has no deadline, whose timer room may need memory and
 * whose check reads the clock), else 0 and nothing is done — unlock,
 * then weft__wait_init (or time out) and try again. */
static inline int weft__wait_init_locked(struct weft__wait *w, uint64_t deadline) {
  if (deadline != WEFT_NO_DEADLINE || weft__dwait_begin(&w->dw, deadline) != 0) return 0;
  atomic_init(&w->state, WEFT__WAIT_PENDING);
  w->f = NULL;
  return 1;
}

/* Gives up a wait that was initialised but never linked. */
void weft__wait_drop(struct weft__wait *w);

/* Initialises node i of w (not linked yet). */
static inline void weft__wnode_init(struct weft__wnode *n, struct weft__wait *w, int index,
                                    weft__spin *lock) {
  n->prev = n->next = NULL;
  n->w = w;
  n->lock = lock;
  n->q = NULL;
  n->seq = 0;
  atomic_init(&n->queued, 0);
  n->index = index;
  n->result = 0;
  n->value = NULL;
}

/* With every node linked and every lock released: waits until a case
 * fires, the deadline (a weft_now() time, or WEFT_NO_DEADLINE) comes or
 * the wait is retracted, unlinks what is left and drops the future.
 * Returns 0 when a case fired (its index in *fired; that node's result and
 * value are readable), or the positive error that made the waiter retract
 * (ETIMEDOUT, ECANCELED...: nothing happened).
 *
 * nocancel: do not retract on cancellation, and ignore the deadline; wait
 * (yielding) until a case fires — for what must complete, such as re-taking
 * a mutex when a condition wait ends. */
int weft__wait_block(struct weft__wait *w, struct weft__wnode *nodes, size_t n, int nocancel,
                     uint64_t deadline, int *fired);

/* Under the lock, once a node of w is claimed (weft__wq_take) and its
 * result and value are written: what weft__wait_wake must wake after
 * unlocking (NULL: nothing). */
static inline weft_future *weft__wait_token(struct weft__wait *w) {
  return w->dw.task ? weft__dwait_claim(&w->dw) : w->f;
}

/* After unlocking: completes a wait claimed by weft__wq_take, given its
 * token (weft__wait_token, taken under the lock). */
void weft__wait_wake(weft_future *tok);

/* Wakes claimed waits in batches: the tokens of up to WEFT__WAKE_BATCH
 * claimed nodes, collected under the lock, woken after it. */
#define WEFT__WAKE_BATCH 32
struct weft__wakeset {
  unsigned n;
  weft_future *f[WEFT__WAKE_BATCH];
};
static inline void weft__wakeset_add(struct weft__wakeset *s, weft_future *f) { s->f[s->n++] = f; }
static inline int weft__wakeset_full(const struct weft__wakeset *s) {
  return s->n == WEFT__WAKE_BATCH;
}
void weft__wakeset_wake(struct weft__wakeset *s);

/* Yields the calling task if there is one, else the CPU: the back-off of
 * waits that may not be cancelled. */
void weft__backoff(void);

#endif
