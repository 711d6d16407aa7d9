/* park — event count over a futex. See park.h for the protocol. */
#include "park.h"

#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

void weft__futex_wait(atomic_uint *addr, unsigned expected) {
  /* The kernel compares *addr with expected atomically with going to
   * sleep: a wake that changed *addr before this call is never missed. */
  syscall(SYS_futex, (unsigned *)addr, FUTEX_WAIT_PRIVATE, expected, NULL, NULL, 0);
}

void weft__futex_wait_for(atomic_uint *addr, unsigned expected, long timeout_ns) {
  struct timespec ts = {timeout_ns / 1000000000L, timeout_ns % 1000000000L};
  syscall(SYS_futex, (unsigned *)addr, FUTEX_WAIT_PRIVATE, expected, &ts, NULL, 0);
}

int weft__futex_wait_until(atomic_uint *addr, unsigned expected, uint64_t deadline) {
  /* FUTEX_WAIT_BITSET takes an absolute CLOCK_MONOTONIC time: no drift
   * from recomputing a relative timeout after spurious wake-ups. */
  struct timespec ts = {(time_t)(deadline / 1000000000u), (long)(deadline % 1000000000u)};
  long r = syscall(SYS_futex, (unsigned *)addr, FUTEX_WAIT_BITSET_PRIVATE, expected, &ts, NULL,
                   FUTEX_BITSET_MATCH_ANY);
  return r == -1 && errno == ETIMEDOUT ? ETIMEDOUT : 0;
}

void weft__futex_wake(atomic_uint *addr, int n) {
  syscall(SYS_futex, (unsigned *)addr, FUTEX_WAKE_PRIVATE, n, NULL, NULL, 0);
}

void weft__park_init(struct weft__park *p) {
  atomic_init(&p->seq, 0);
  atomic_init(&p->waiters, 0);
}

unsigned weft__park_prepare(struct weft__park *p) {
  /* seq_cst: this read comes before the caller's re-check of the queues in
   * the single total order, so a wake after it changes seq (see wait). */
  return atomic_load_explicit(&p->seq, memory_order_seq_cst);
}

void weft__park_wait(struct weft__park *p, unsigned key, long timeout_ns) {
  /* seq_cst (Dekker with wake): we announce ourselves, then read seq; the
   * waker bumps seq, then reads waiters. At least one sees the other: either
   * we see the new seq and do not sleep, or the waker sees us and calls
   * FUTEX_WAKE. */
  atomic_fetch_add_explicit(&p->waiters, 1, memory_order_seq_cst);
  if (atomic_load_explicit(&p->seq, memory_order_seq_cst) == key) {
    if (timeout_ns)
      weft__futex_wait_for(&p->seq, key, timeout_ns);
    else
      weft__futex_wait(&p->seq, key);
  }
  atomic_fetch_sub_explicit(&p->waiters, 1, memory_order_relaxed);
}

void weft__park_wake_one(struct weft__park *p) {
  /* seq_cst: pairs with the waiters increment in wait (see there). */
  atomic_fetch_add_explicit(&p->seq, 1, memory_order_seq_cst);
  if (atomic_load_explicit(&p->waiters, memory_order_seq_cst) > 0)
    weft__futex_wake(&p->seq, 1);
}

void weft__park_wake_all(struct weft__park *p) {
  atomic_fetch_add_explicit(&p->seq, 1, memory_order_seq_cst);
  weft__futex_wake(&p->seq, INT_MAX);
}
