/* timer — the clock, and a worker's timers: the deadlines of the tasks
 * suspended on it in a sleep or a timed await.
 *
 * One min-heap per worker, under a spinlock. Only tasks running on the
 * worker add to its heap (in the post-switch action of their await, so
 * the heap's owner knows its own earliest deadline when it parks); any
 * worker may fire due timers of any heap (an idle worker looks at all of
 * them, so a timer is not late just because its owner is busy), and a
 * woken task removes its own timer from whichever heap holds it.
 *
 * A timer record lives in the waiting task's await frame, on its stack:
 * it is valid while the task is suspended, and the task removes it (under
 * the heap's lock) before that frame returns. A firer touches a record
 * only under the lock, and marks it out of the heap (idx = -1) there; so
 * after the task's removal has taken and dropped the lock, no firer can
 * touch the record again. The heap keeps each record's deadline next to
 * its pointer so that sifting reads only the array.
 */
#ifndef WEFT_TIMER_H
#define WEFT_TIMER_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "spin.h"

struct weft__task;
struct weft__timers;

struct weft__timer {
  uint64_t when;              /* deadline, ns of weft_now() */
  struct weft__task *task;    /* the task to wake */
  uint64_t gen;               /* of the task's wait (stale wakes do nothing) */
  long idx;                   /* its place in home's heap; -1 when not in one */
  struct weft__timers *home;  /* the heap it went into, or NULL */
};

struct weft__timer_slot {
  uint64_t when;
  struct weft__timer *t;
};

struct weft__timers {
  weft__spin lock;
  struct weft__timer_slot *heap; /* under lock */
  size_t n;                      /* under lock */
  size_t cap;                    /* written by the owner under lock; read by the owner */
  /* n as of the last change, for the owner's lock-free check of room
   * (others only take timers out, so it can only be too high). */
  _Atomic size_t count;
  /* The earliest deadline in the heap, or UINT64_MAX: read without the
   * lock to decide whether to look at all (a stale value only makes a
   * look early or late by one poll). */
  _Atomic uint64_t next;
};

void weft__timers_init(struct weft__timers *h);
void weft__timers_fini(struct weft__timers *h);

/* Makes room for one more timer: 0 or ENOMEM. Only the heap's owner adds,
 * so room made before a switch is still there in the post-switch action;
 * when there is room already, no lock is taken. */
int weft__timers_reserve(struct weft__timers *h);

/* Adds `t` (when, task, gen set) to h; room must have been reserved. */
void weft__timers_add(struct weft__timers *h, struct weft__timer *t);

/* Takes `t` out of its heap if it is still in one. After this returns, no
 * firer touches `t`. */
void weft__timers_remove(struct weft__timer *t);

/* The earliest deadline in h, or UINT64_MAX (a hint; see `next`). */
static inline uint64_t weft__timers_next(struct weft__timers *h) {
  /* relaxed: a hint; the lock orders whatever is done about it. */
  return atomic_load_explicit(&h->next, memory_order_relaxed);
}

/* Fires the timers of h due at `now` (at most `max`): each is taken out of
 * the heap and passed to fire(t) under the lock; fire returns the task to
 * schedule, or NULL (its wait was over already). The tasks to schedule are
 * stored in out[]; returns how many. */
size_t weft__timers_expire(struct weft__timers *h, uint64_t now,
                           struct weft__task *(*fire)(struct weft__timer *t),
                           struct weft__task **out, size_t max);

/* ns of CLOCK_MONOTONIC (weft_now). */
uint64_t weft__now(void);

#endif
