/* park — an event count on a futex: how idle workers sleep without losing a
 * wake-up, and how a waker wakes exactly one of them.
 *
 * Protocol (the waiter): key = weft__park_prepare(); re-check every source
 * of work; if none, weft__park_wait(key). (The waker): make the work
 * visible; weft__park_wake_one(). If the wake comes after prepare, the
 * sequence number has moved on and wait returns at once; if it comes before
 * prepare, the waiter's re-check sees the work. The worker loop adds the
 * counting of spinning and idle workers that decides whether a wake is
 * needed at all (worker.c).
 *
 * Why not Concurrency Kit's ck_ec: its wake (ops->wake32) wakes every
 * waiter on the counter — a thundering herd for a pool of workers — and its
 * slow path is inline assembly in libck that ThreadSanitizer cannot see.
 * This one is C11 atomics and FUTEX_WAKE of one thread.
 */
#ifndef WEFT_PARK_H
#define WEFT_PARK_H

#include <stdatomic.h>
#include <stdint.h>

struct weft__park {
  atomic_uint seq;     /* bumped by every wake */
  atomic_uint waiters; /* threads inside weft__park_wait */
};

void weft__park_init(struct weft__park *p);
unsigned weft__park_prepare(struct weft__park *p);
/* Sleeps until a wake after `key` was taken (or spuriously), or, if
 * timeout_ns is not 0, until that many nanoseconds have passed. */
void weft__park_wait(struct weft__park *p, unsigned key, long timeout_ns);
void weft__park_wake_one(struct weft__park *p);
void weft__park_wake_all(struct weft__park *p);

/* Plain futex helpers for one-shot flags (thread waiters). */
void weft__futex_wait(atomic_uint *addr, unsigned expected);
void weft__futex_wait_for(atomic_uint *addr, unsigned expected, long timeout_ns);
/* Until the CLOCK_MONOTONIC time `deadline` (ns): ETIMEDOUT once it has
 * passed, else 0 (woken, spuriously or not). */
int weft__futex_wait_until(atomic_uint *addr, unsigned expected, uint64_t deadline);
void weft__futex_wake(atomic_uint *addr, int n);

#endif
