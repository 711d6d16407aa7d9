/* chan — channels (unbuffered, bounded, unbounded) and select.
 *
 * State. Everything in a channel is guarded by its spinlock (spin.h): the
 * ring buffer of values, the closed flag, and two FIFO wait queues
 * (waitq.h), of blocked senders and of blocked receivers. The lock is held
 * for O(1) work (plus the few stale nodes a take drops), never across an
 * await or a malloc.
 *
 * Invariants, under the lock:
 * - receivers wait only while the buffer is empty and the channel open;
 * - senders wait only while the buffer is full (always, when unbuffered)
 *   and the channel open;
 * so an arriving send first serves the oldest live receiver (then the
 *   buffer is empty: FIFO order is kept), and an arriving receive takes
 *   the oldest buffered value and refills the buffer from the oldest live
 *   sender (or, unbuffered, takes that sender's value directly).
 * Queues may hold stale nodes (a select fired elsewhere, a cancelled
 * waiter that has not unlinked itself yet); weft__wq_take skips them.
 *
 * Blocking (waitq.h): an operation that must wait first tries under the
 * lock. A task without a deadline then begins its direct wait right there
 * and links it; any other waiter readies its wait outside the lock (a
 * thread's future, a timed wait's room for its timer) and tries again
 * before linking — so nothing on the non-blocking paths allocates, and
 * nothing allocates under the lock.
 *
 * Select follows Go's selectgo: lock every channel of the select in
 * address order (each once), poll the cases in a random order, and if none
 * is ready link one node per case and unlock; the first firer to win the
 * shared wait's state CAS completes exactly that case. The others are
 * unlinked by the selecting caller when it wakes (or skipped as stale by
 * whoever meets them first).
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sanitize.h"
#include "spin.h"
#include "waitq.h"
#include "weft/chan.h"

struct weft_chan {
  weft__spin lock;
  int closed;
  size_t cap;  /* 0, N, or WEFT_CHAN_UNBOUNDED */
  void **buf;  /* ring of `size` slots */
  size_t size; /* slots: cap for a bounded channel; grows when unbounded */
  size_t head; /* oldest value */
  size_t count;
  struct weft__wq recvq, sendq;
};

/* Internal outcome of the locked attempts: the unbounded buffer is full and
 * must grow (outside the lock) before the send can go in. */
#define WEFT__NEED_GROW (-100)

#define WEFT__UNBOUNDED_INITIAL 16

int weft_chan_create(weft_chan **out, size_t capacity, int flags) {
  if (!out || flags != 0) return EINVAL;
  weft_chan *ch = calloc(1, sizeof *ch);
  if (!ch) return ENOMEM;
  weft__spin_init(&ch->lock);
  ch->cap = capacity;
  if (capacity != 0 && capacity != WEFT_CHAN_UNBOUNDED) {
    if (capacity > SIZE_MAX / sizeof(void *) || !(ch->buf = malloc(capacity * sizeof(void *)))) {
      free(ch);
      return ENOMEM;
    }
    ch->size = capacity;
  }
  weft__wq_init(&ch->recvq);
  weft__wq_init(&ch->sendq);
  *out = ch;
  return 0;
}

int weft_chan_destroy(weft_chan *ch) {
  if (!ch) return EINVAL;
  weft__spin_lock(&ch->lock);
  weft__wq_quiesce(&ch->lock, &ch->recvq); /* a close's batches pause on recvq */
  int busy = !weft__wq_empty(&ch->recvq) || !weft__wq_empty(&ch->sendq);
  weft__spin_unlock(&ch->lock);
  if (busy) return EBUSY;
  free(ch->buf);
  free(ch);
  return 0;
}

size_t weft_chan_len(const weft_chan *ch) {
  if (!ch) return 0;
  weft_chan *c = (weft_chan *)ch; /* the lock is state, not the channel's value */
  weft__spin_lock(&c->lock);
  size_t n = c->count;
  weft__spin_unlock(&c->lock);
  return n;
}

/* ---- the attempts, under the lock ------------------------------------------------ */

static inline void weft__buf_push(weft_chan *ch, void *v) {
  size_t i = ch->head + ch->count;
  if (i >= ch->size) i -= ch->size;
  ch->buf[i] = v;
  ch->count++;
}

static inline void *weft__buf_pop(weft_chan *ch) {
  void *v = ch->buf[ch->head];
  if (++ch->head == ch->size) ch->head = 0;
  ch->count--;
  return v;
}

/* Sends v if that needs no waiting: 0, EPIPE, EAGAIN (would wait), or
 * WEFT__NEED_GROW. *wake: a waiter to wake after unlocking. */
static int weft__send_locked(weft_chan *ch, void *v, weft_future **wake) {
  if (ch->closed) return EPIPE;
  struct weft__wnode *r = weft__wq_take(&ch->recvq);
  if (r) { /* a receiver waits: the buffer is empty; hand v over */
    r->value = v;
    r->result = 0;
    *wake = weft__wait_token(r->w);
    return 0;
  }
  if (ch->cap == 0) return EAGAIN;
  if (ch->count == ch->size) return ch->cap == WEFT_CHAN_UNBOUNDED ? WEFT__NEED_GROW : EAGAIN;
  weft__buf_push(ch, v);
  return 0;
}

/* Receives if that needs no waiting: 0, WEFT_CLOSED or EAGAIN. */
static int weft__recv_locked(weft_chan *ch, void **v, weft_future **wake) {
  struct weft__wnode *s;
  if (ch->count) {
    *v = weft__buf_pop(ch);
    if ((s = weft__wq_take(&ch->sendq))) { /* room now: the oldest sender's value goes in */
      weft__buf_push(ch, s->value);
      s->result = 0;
      *wake = weft__wait_token(s->w);
    }
    return 0;
  }
  if ((s = weft__wq_take(&ch->sendq))) { /* unbuffered: take it from the sender */
    *v = s->value;
    s->result = 0;
    *wake = weft__wait_token(s->w);
    return 0;
  }
  if (ch->closed) {
    *v = NULL;
    return WEFT_CLOSED;
  }
  return EAGAIN;
}

/* Doubles an unbounded channel's ring, allocating outside the lock. */
static int weft__grow(weft_chan *ch) {
  weft__spin_lock(&ch->lock);
  size_t size = ch->size;
  weft__spin_unlock(&ch->lock);
  size_t nsize = size ? size * 2 : WEFT__UNBOUNDED_INITIAL;
  if (nsize < size || nsize > SIZE_MAX / sizeof(void *)) return ENOMEM;
  void **nb = malloc(nsize * sizeof(void *));
  if (!nb) return ENOMEM;
  weft__spin_lock(&ch->lock);
  void **old = NULL;
  if (ch->size == size && ch->count == size) { /* nobody grew it meanwhile */
    for (size_t i = 0; i < ch->count; i++) nb[i] = ch->buf[(ch->head + i) % ch->size];
    old = ch->buf;
    ch->buf = nb;
    ch->size = nsize;
    ch->head = 0;
    nb = NULL;
  }
  weft__spin_unlock(&ch->lock);
  free(old);
  free(nb);
  return 0;
}

/* ---- send and receive ---------------------------------------------------------------- */

/* The one send: block 0 is weft_chan_try_send (EAGAIN); block 1 waits until
 * `deadline` (ETIMEDOUT; a past deadline is checked before the future is
 * made, so it costs what a try costs). */
static int weft__chan_send(weft_chan *ch, void *v, int block, uint64_t deadline) {
  struct weft__wait w;
  struct weft__wnode n;
  int have_wait = 0;
  for (;;) {
    weft_future *wake = NULL;
    weft__spin_lock(&ch->lock);
    int rc = weft__send_locked(ch, v, &wake);
    if (rc == EAGAIN && block && !have_wait) have_wait = weft__wait_init_locked(&w, deadline);
    if (rc == EAGAIN && block && have_wait) {
      weft__wnode_init(&n, &w, 0, &ch->lock);
      n.value = v;
      weft__wq_push(&ch->sendq, &n);
      weft__spin_unlock(&ch->lock);
      int fired;
      rc = weft__wait_block(&w, &n, 1, 0, deadline, &fired);
      return rc ? rc : n.result;
    }
    weft__spin_unlock(&ch->lock);
    if (wake) weft__wait_wake(wake);
    if (rc == WEFT__NEED_GROW) {
      if ((rc = weft__grow(ch)) == 0) continue;
    } else if (rc == EAGAIN && block) {
      if (weft__deadline_passed(deadline)) {
        rc = ETIMEDOUT;
      } else if ((rc = weft__wait_init(&w, deadline)) == 0) { /* allocate outside the lock, then retry */
        have_wait = 1;
        continue;
      }
    }
    if (have_wait) weft__wait_drop(&w);
    return rc;
  }
}

/* The one receive; block and deadline as in weft__chan_send. */
static int weft__chan_recv(weft_chan *ch, void **value, int block, uint64_t deadline) {
  struct weft__wait w;
  struct weft__wnode n;
  int have_wait = 0;
  void *v = NULL;
  for (;;) {
    weft_future *wake = NULL;
    weft__spin_lock(&ch->lock);
    int rc = weft__recv_locked(ch, &v, &wake);
    if (rc == EAGAIN && block && !have_wait) have_wait = weft__wait_init_locked(&w, deadline);
    if (rc == EAGAIN && block && have_wait) {
      weft__wnode_init(&n, &w, 0, &ch->lock);
      weft__wq_push(&ch->recvq, &n);
      weft__spin_unlock(&ch->lock);
      int fired;
      rc = weft__wait_block(&w, &n, 1, 0, deadline, &fired);
      if (!rc) rc = n.result;
      if (value) *value = rc ? NULL : n.value;
      return rc;
    }
    weft__spin_unlock(&ch->lock);
    if (wake) weft__wait_wake(wake);
    if (rc == EAGAIN && block) {
      if (weft__deadline_passed(deadline)) {
        rc = ETIMEDOUT;
      } else if ((rc = weft__wait_init(&w, deadline)) == 0) {
        have_wait = 1;
        continue;
      }
    }
    if (have_wait) weft__wait_drop(&w);
    if (value) *value = rc ? NULL : v;
    return rc;
  }
}

int weft_chan_send_until(weft_chan *ch, void *value, uint64_t deadline) {
  if (!ch) return EINVAL;
  return weft__chan_send(ch, value, 1, deadline);
}

int weft_chan_send(weft_chan *ch, void *value) {
  return weft_chan_send_until(ch, value, WEFT_NO_DEADLINE);
}

int weft_chan_try_send(weft_chan *ch, void *value) {
  if (!ch) return EINVAL;
  return weft__chan_send(ch, value, 0, 0);
}

/* The receives' argument check; block and deadline as in weft__chan_send. */
static int weft__chan_recv_checked(weft_chan *ch, void **value, int block, uint64_t deadline) {
  if (!ch) {
    if (value) *value = NULL;
    return EINVAL;
  }
  return weft__chan_recv(ch, value, block, deadline);
}

int weft_chan_recv_until(weft_chan *ch, uint64_t deadline, void **value) {
  return weft__chan_recv_checked(ch, value, 1, deadline);
}

int weft_chan_recv(weft_chan *ch, void **value) {
  return weft__chan_recv_checked(ch, value, 1, WEFT_NO_DEADLINE);
}

int weft_chan_try_recv(weft_chan *ch, void **value) {
  return weft__chan_recv_checked(ch, value, 0, 0);
}

int weft_chan_close(weft_chan *ch) {
  if (!ch) return EINVAL;
  weft__spin_lock(&ch->lock);
  if (ch->closed) {
    weft__spin_unlock(&ch->lock);
    return EPIPE;
  }
  ch->closed = 1; /* from here nobody links a node: the queues only shrink */
  for (;;) {
    struct weft__wakeset ws;
    ws.n = 0;
    struct weft__wnode *x;
    while (!weft__wakeset_full(&ws) && (x = weft__wq_take(&ch->recvq))) {
      x->value = NULL;
      x->result = WEFT_CLOSED;
      weft__wakeset_add(&ws, weft__wait_token(x->w));
    }
    while (!weft__wakeset_full(&ws) && (x = weft__wq_take(&ch->sendq))) {
      x->result = EPIPE;
      weft__wakeset_add(&ws, weft__wait_token(x->w));
    }
    int more = !weft__wq_empty(&ch->recvq) || !weft__wq_empty(&ch->sendq);
    if (more) weft__wq_batch_pause(&ch->recvq); /* see waitq.h */
    weft__spin_unlock(&ch->lock);
    weft__wakeset_wake(&ws);
    if (!more) return 0;
    weft__spin_lock(&ch->lock);
    weft__wq_batch_resume(&ch->recvq);
  }
}

/* ---- select ---------------------------------------------------------------------------- */

/* Per-thread xorshift for the poll order; read only between suspensions. */
static _Thread_local uint64_t weft__sel_rng;
static atomic_ullong weft__sel_seed;

static uint32_t weft__sel_rand(void) {
  uint64_t x = weft__sel_rng;
  if (WEFT__UNLIKELY(x == 0)) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    /* relaxed: only makes the seeds of different threads differ. */
    x = (atomic_fetch_add_explicit(&weft__sel_seed, 1, memory_order_relaxed) + 1) *
            0x9e3779b97f4a7c15ull ^
        (uint64_t)ts.tv_nsec ^ (uint64_t)(uintptr_t)&x;
    if (!x) x = 1;
  }
  x ^= x << 13;
  x ^= x >> 7;
  x ^= x << 17;
  weft__sel_rng = x;
  return (uint32_t)(x >> 32);
}

#define WEFT__SEL_STACK 8

static void weft__lock_all(weft_chan **locks, size_t nl) {
  for (size_t i = 0; i < nl; i++) weft__spin_lock(&locks[i]->lock);
}
static void weft__unlock_all(weft_chan **locks, size_t nl) {
  for (size_t i = nl; i-- > 0;) weft__spin_unlock(&locks[i]->lock);
}

int weft_select(weft_select_op *ops, size_t n, int flags, size_t *index) {
  return weft_select_until(ops, n, flags, WEFT_NO_DEADLINE, index);
}

int weft_select_until(weft_select_op *ops, size_t n, int flags, uint64_t deadline,
                      size_t *index) {
  if (index) *index = n;
  if (!ops || !index || n == 0 || n > INT32_MAX || (flags & ~WEFT_SELECT_NONBLOCK)) return EINVAL;
  size_t active = 0;
  for (size_t i = 0; i < n; i++) {
    if (ops[i].kind != WEFT_SELECT_SEND && ops[i].kind != WEFT_SELECT_RECV) return EINVAL;
    if (ops[i].chan) active++;
  }
  int block = !(flags & WEFT_SELECT_NONBLOCK);
  /* No active case: nothing can fire. Waiting for ever is a bug (EINVAL);
   * waiting until a deadline is a sleep that ends in ETIMEDOUT (or
   * ECANCELED), as Go's select on nil channels and a timer. */
  if (active == 0 && (!block || deadline == WEFT_NO_DEADLINE)) return block ? EINVAL : EAGAIN;

  /* Scratch: the poll order, the channels in lock order, the wait nodes. */
  size_t order_s[WEFT__SEL_STACK];
  weft_chan *locks_s[WEFT__SEL_STACK];
  struct weft__wnode nodes_s[WEFT__SEL_STACK];
  size_t *order = order_s;
  weft_chan **locks = locks_s;
  struct weft__wnode *nodes = nodes_s;
  void *heap = NULL;
  if (n > WEFT__SEL_STACK) {
    heap = malloc(n * (sizeof *order + sizeof *locks + sizeof *nodes));
    if (!heap) return ENOMEM;
    nodes = heap;
    order = (size_t *)(void *)(nodes + n);
    locks = (weft_chan **)(void *)(order + n);
  }

  /* Poll order: a random permutation of the active cases (Fisher-Yates). */
  size_t na = 0;
  for (size_t i = 0; i < n; i++)
    if (ops[i].chan) order[na++] = i;
  for (size_t i = na; i > 1; i--) {
    size_t j = weft__sel_rand() % i;
    size_t t = order[i - 1];
    order[i - 1] = order[j];
    order[j] = t;
  }
  /* Lock order: the distinct channels by address (insertion sort; n is small). */
  size_t nl = 0;
  for (size_t i = 0; i < n; i++) {
    weft_chan *c = ops[i].chan;
    if (!c) continue;
    size_t k = nl;
    while (k > 0 && (uintptr_t)locks[k - 1] > (uintptr_t)c) k--;
    if (k > 0 && locks[k - 1] == c) continue; /* already there */
    memmove(locks + k + 1, locks + k, (nl - k) * sizeof *locks);
    locks[k] = c;
    nl++;
  }

  struct weft__wait w;
  int have_wait = 0, rc;
  for (;;) {
    weft__lock_all(locks, nl);
    for (size_t k = 0; k < na; k++) {
      size_t i = order[k];
      weft_chan *c = ops[i].chan;
      weft_future *wake = NULL;
      if (ops[i].kind == WEFT_SELECT_SEND) {
        rc = weft__send_locked(c, ops[i].value, &wake);
      } else {
        void *v = NULL;
        rc = weft__recv_locked(c, &v, &wake);
        if (rc != EAGAIN) ops[i].value = v;
      }
      if (rc == EAGAIN) continue;
      weft__unlock_all(locks, nl);
      if (wake) weft__wait_wake(wake);
      if (rc == WEFT__NEED_GROW) {
        if ((rc = weft__grow(c)) == 0) goto retry;
        goto out; /* ENOMEM */
      }
      *index = i;
      goto out;
    }
    if (!block) {
      weft__unlock_all(locks, nl);
      rc = EAGAIN;
      goto out;
    }
    if (have_wait) break; /* nothing ready: wait (still locked) */
    weft__unlock_all(locks, nl);
    if (weft__deadline_passed(deadline)) {
      rc = ETIMEDOUT;
      goto out;
    }
    if ((rc = weft__wait_init(&w, deadline)) != 0) goto out;
    have_wait = 1;
  retry:;
  }

  /* Link a node per active case, in case order, then wait. */
  for (size_t i = 0; i < n; i++) {
    weft_chan *c = ops[i].chan;
    weft__wnode_init(&nodes[i], &w, (int)i, c ? &c->lock : NULL);
    if (!c) continue;
    if (ops[i].kind == WEFT_SELECT_SEND) {
      nodes[i].value = ops[i].value;
      weft__wq_push(&c->sendq, &nodes[i]);
    } else {
      weft__wq_push(&c->recvq, &nodes[i]);
    }
  }
  weft__unlock_all(locks, nl);
  have_wait = 0; /* weft__wait_block consumes it */
  int fired;
  rc = weft__wait_block(&w, nodes, n, 0, deadline, &fired);
  if (rc == 0) {
    *index = (size_t)fired;
    rc = nodes[fired].result;
    if (ops[fired].kind == WEFT_SELECT_RECV) ops[fired].value = rc ? NULL : nodes[fired].value;
  }
out:
  if (have_wait) weft__wait_drop(&w);
  free(heap);
  return rc;
}
