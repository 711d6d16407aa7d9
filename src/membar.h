/* membar — asymmetric fences: the two halves of a store-load (Dekker) pair
 * whose one side runs all the time and the other rarely.
 *
 * A seq_cst fence on each side forbids both threads missing the other's
 * store; but on the busy side that fence is most of what the operation
 * costs. Where the kernel has MEMBARRIER_CMD_PRIVATE_EXPEDITED, the rare
 * side issues it — every running thread of the process executes a full
 * barrier before it returns — and the busy side needs only to keep the
 * compiler from reordering (liburcu's and Folly's asymmetric fences).
 * Elsewhere (old kernels, Valgrind, a seccomp refusal) both halves are
 * seq_cst fences. ThreadSanitizer does not model membarrier, but it checks
 * for data races, not for this ordering, so it has nothing to miss.
 *
 * The pairs that use it (light side / heavy side):
 * - a notifier publishing work / a worker going to sleep (worker.c);
 * - an inline-run task's settle / a waiter added to it (future.c);
 * - a one-worker runtime's plain claim of a task's start / a cancel, or a
 *   waiter added, from another thread (worker.c, "Plain claims");
 * - a deque owner's pop / a thief taking a steal lease on that deque
 *   (deque.c; the owner's half there also reads the lease count).
 */
#ifndef WEFT_MEMBAR_H
#define WEFT_MEMBAR_H

#include <stdatomic.h>

/* 1 once weft__membar_init found membarrier usable; never changes after. */
extern int weft__membar_asym;

/* Any thread, any number of times (the first call decides). A runtime calls
 * it when it is created, before any of its tasks can use either half. */
void weft__membar_init(void);

static inline __attribute__((always_inline)) void weft__membar_light(void) {
  if (weft__membar_asym)
    atomic_signal_fence(memory_order_seq_cst);
  else
    atomic_thread_fence(memory_order_seq_cst);
}

/* About 8 µs with membarrier on the machine the figures come from: only for
 * the rare side. */
void weft__membar_heavy(void);

#endif
