/* spin — a small test-and-test-and-set spinlock on C11 atomics, for the
 * short critical sections of the coordination primitives (chan.c, sync.c,
 * scope.c).
 *
 * Why not a pthread mutex: a contended pthread mutex puts the calling
 * thread to sleep, and the caller here is usually a runtime worker, which
 * must never sleep on behalf of one of its coroutines (DESIGN.md, layer 7).
 * A waiter of a coordination primitive suspends its coroutine (waitq.h);
 * this lock only guards the O(1) queue updates around that, and is never
 * held across an await, a switch or a call into user code.
 *
 * Protocol. lock: one exchange (acquire) when free; otherwise spin on plain
 * loads (the line stays shared in every spinner's cache until the holder
 * writes it) with a pause, and only then exchange again. A holder can be
 * preempted (a loaded machine, more threads than cores): after a bounded
 * number of pauses a spinner calls sched_yield() so the holder gets a CPU
 * back instead of us burning our time slice. unlock: a release store.
 *
 * Orderings. The acquire exchange that takes the lock pairs with the
 * release store of the previous holder's unlock: everything written inside
 * one critical section happens-before everything in the next. Nothing else
 * is ordered by this lock. The loads in the spin loop are relaxed: they only
 * decide when to retry the exchange, which does the ordering.
 */
#ifndef WEFT_SPIN_H
#define WEFT_SPIN_H

#include <sched.h>
#include <stdatomic.h>

#include "sanitize.h"

typedef struct weft__spin {
  atomic_uint held; /* 0 free, 1 held */
} weft__spin;

#define WEFT__SPIN_INIT {0}

/* Pauses before a spinner gives its CPU away with sched_yield(). */
#define WEFT__SPIN_BEFORE_YIELD 128

static inline void weft__spin_init(weft__spin *s) { atomic_init(&s->held, 0); }

static inline void weft__cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  __asm__ __volatile__("yield" ::: "memory");
#endif
}

static inline void weft__spin_lock(weft__spin *s) {
  /* acquire: pairs with the release store in weft__spin_unlock. */
  if (WEFT__LIKELY(!atomic_exchange_explicit(&s->held, 1, memory_order_acquire))) return;
  unsigned spins = 0;
  for (;;) {
    /* relaxed: only a hint of when to retry; the exchange orders. */
    while (atomic_load_explicit(&s->held, memory_order_relaxed)) {
      if (++spins < WEFT__SPIN_BEFORE_YIELD) {
        weft__cpu_relax();
      } else {
        spins = 0;
        sched_yield(); /* the holder may have been preempted: let it run */
      }
    }
    /* acquire: as above. */
    if (!atomic_exchange_explicit(&s->held, 1, memory_order_acquire)) return;
  }
}

/* 1 if the lock was taken, 0 if it is held by someone else. */
static inline int weft__spin_trylock(weft__spin *s) {
  /* acquire: as in weft__spin_lock. */
  return !atomic_load_explicit(&s->held, memory_order_relaxed) &&
         !atomic_exchange_explicit(&s->held, 1, memory_order_acquire);
}

static inline void weft__spin_unlock(weft__spin *s) {
  /* release: publishes the critical section to the next acquire exchange. */
  atomic_store_explicit(&s->held, 0, memory_order_release);
}

#endif
