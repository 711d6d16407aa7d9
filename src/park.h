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
  int asym;            /* membarrier(2) serves as the heavy fence */
};

void weft__park_init(struct weft__park *p);

/* The two halves of a store-load (Dekker) pair whose one side runs all the
 * time and the other rarely: a notifier (every spawn) publishes work, then
 * reads the idle count; a worker going to sleep (rarely) raises the idle
 * count, then re-checks for work. A seq_cst fence on each side forbids
 * both missing the other; but on the notifier's side that fence is most of
 * what a spawn costs across workers. Where the kernel has
 * MEMBARRIER_CMD_PRIVATE_EXPEDITED, the sleeper's side issues it — every
 * running thread of the process executes a full barrier before it returns
 * — and the notifier's side needs only to keep the compiler from
 * reordering (liburcu and Folly's asymmetric fences). Elsewhere both sides
 * are seq_cst fences. */
static inline void weft__park_light_fence(const struct weft__park *p) {
  if (p->asym)
    atomic_signal_fence(memory_order_seq_cst);
  else
    atomic_thread_fence(memory_order_seq_cst);
}
void weft__park_heavy_fence(const struct weft__park *p);
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
