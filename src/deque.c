/* deque — Chase–Lev work-stealing deque in C11 atomics, with the orderings
 * of Lê, Pop, Cohen and Zappa Nardelli, "Correct and Efficient
 * Work-Stealing for Weak Memory Models" (PPoPP 2013), figure 1.
 *
 * Invariants. Elements live in buf[i mod CAP] for top <= i < bottom. Only
 * the owner moves bottom; top only grows, by CAS, taken by a thief, by the
 * owner when it pops the last element, or by the owner taking the oldest
 * (weft__deque_take_oldest: on a solo deque a plain store, since nobody
 * else moves it). An element is taken by exactly the
 * one party whose CAS on top moved it past that index, or by the owner's pop
 * when more than one element remains (then no thief can reach index b: a
 * thief reaching it would have to read bottom > b after the owner's seq_cst
 * fence, or its own lease's heavy fence, published bottom = b, which the
 * fence pair below forbids).
 *
 * Two changes from the paper, both for ThreadSanitizer, which does not
 * model stand-alone fences: the slot store in push is a release store and
 * the slot load in steal is an acquire load, so that the task's contents
 * written before the push visibly happen-before the thief's use of it (on
 * x86 both are plain moves; on Arm they are cheap). The fences that order
 * bottom against top are kept as in the paper: TSan does not need to see
 * them, since every access they order is atomic.
 *
 * Leases: the owner's fence made asymmetric. The paper's fence pair keeps
 * an owner popping index b (its store of bottom = b, then its read of top)
 * and a thief taking index t == b (its read of top, then of bottom) from
 * both missing the other. Here the owner's fence is only a compiler
 * barrier unless it reads a lease count above zero, and a thief takes a
 * lease before it steals: it bumps the count, then issues the heavy half
 * of an asymmetric fence (membar.h), which makes every running thread of
 * the process execute a full barrier at some point B of its instruction
 * stream before the call returns. Take any pop of the owner's and B:
 * - its store of bottom comes after B: then so does its read of the lease
 *   count (after the store, in program order), which sees the bump (made
 *   before B). It fences, and it and the thief's steals are the paper's.
 * - its store of bottom comes before B: the thief reads bottom after its
 *   heavy fence, so it sees this pop's bottom (or a later one), never the
 *   index being popped as one it may take. Whatever top the pop reads,
 *   that thief does not take its element.
 * A lease given back (a release decrement) leaves nothing behind: an
 * unfenced pop that reads the count at zero (acquire) reads top no older
 * than that thief's last steal. The owner's own takes from the top (its
 * spill, and steals, which tests make) need no lease: they do not race its
 * pops, and race thieves by the CAS on top.
 * Without membarrier (old kernels, Valgrind) both halves are full fences,
 * as in the paper.
 */
#include "deque.h"

#include <assert.h>
#include <stdlib.h>

#include "membar.h"

/* The owner's half: between its store of bottom and its read of top. */
static inline void weft__deque_owner_fence(struct weft__deque *d) {
  /* Compiler order: the count is read after the store of bottom (see the
   * file comment's first case). */
  atomic_signal_fence(memory_order_seq_cst);
  /* acquire: pairs with the release decrement of a lease given back, so
   * that top below is read no older than that thief's last steal. */
  if (!weft__membar_asym || atomic_load_explicit(&d->leases, memory_order_acquire) != 0)
    /* seq_cst fence: the paper's; pairs with the fence in steal. */
    atomic_thread_fence(memory_order_seq_cst);
}

void weft__deque_lease(struct weft__deque *d) {
  /* relaxed: the heavy fence below publishes it to every pop after B. */
  atomic_fetch_add_explicit(&d->leases, 1, memory_order_relaxed);
  weft__membar_heavy();
}

void weft__deque_unlease(struct weft__deque *d) {
  /* release: our steals (their CAS on top) happen-before any pop that
   * reads the count at zero and so skips its fence. */
  unsigned old = atomic_fetch_sub_explicit(&d->leases, 1, memory_order_release);
  /* A lease given back twice would let pops skip their fence while
   * another thief steals: stop here rather than race. */
  if (old == 0) abort();
}

void weft__deque_init(struct weft__deque *d, int solo) {
  d->solo = solo;
  atomic_init(&d->top, 0);
  atomic_init(&d->bottom, 0);
  atomic_init(&d->pushes, 0);
  atomic_init(&d->leases, 0);
  /* The slots are not touched: a slot is only read at an index in
   * [top, bottom), which a push wrote first (release), and leaving them
   * alone keeps a worker's 32 KiB of slots out of memory until used. */
}

int weft__deque_push(struct weft__deque *d, void *x) {
  long long b = atomic_load_explicit(&d->bottom, memory_order_relaxed);
  /* acquire: pairs with the thieves' CAS on top, so that a slot we are about
   * to reuse has been read by the thief that freed it. */
  long long t = atomic_load_explicit(&d->top, memory_order_acquire);
  if (b - t >= WEFT__DEQUE_CAP) return -1;
  /* release: publishes the element's contents to the thief that will
   * acquire-load this slot (see file comment). */
  atomic_store_explicit(&d->buf[b & (WEFT__DEQUE_CAP - 1)], x, memory_order_release);
  /* release: the slot write happens-before any thief that reads the new
   * bottom (the paper's release fence before the store of bottom). */
  atomic_store_explicit(&d->bottom, b + 1, memory_order_release);
  atomic_store_explicit(&d->pushes, atomic_load_explicit(&d->pushes, memory_order_relaxed) + 1,
                        memory_order_relaxed);
  return 0;
}

void *weft__deque_pop(struct weft__deque *d) {
  long long b = atomic_load_explicit(&d->bottom, memory_order_relaxed);
  /* Empty without the fence: top only grows, so a top we read at or past
   * bottom stays so until the owner (we) pushes. A stale, smaller top only
   * sends us down the full path below. */
  if (atomic_load_explicit(&d->top, memory_order_relaxed) >= b) return NULL;
  b -= 1;
  atomic_store_explicit(&d->bottom, b, memory_order_relaxed);
  if (d->solo) {
    /* No thief: index b is ours (top <= b, read above). top stays, so
     * taking the last element leaves top == bottom: empty. */
    return atomic_load_explicit(&d->buf[b & (WEFT__DEQUE_CAP - 1)], memory_order_relaxed);
  }
  /* The store of bottom must be visible before we read top. Pairs with the
   * fence in steal between reading top and bottom if this pop sees the
   * thief's lease; a pop that does not is covered by that lease's heavy
   * fence (see the file comment). Either way, of an owner
   * taking index b and a thief taking index t == b, at least one sees the
   * other's claim, so both cannot take the last element without the CAS
   * below deciding between them. */
  weft__deque_owner_fence(d);
  long long t = atomic_load_explicit(&d->top, memory_order_relaxed);
  void *x = NULL;
  if (t <= b) {
    x = atomic_load_explicit(&d->buf[b & (WEFT__DEQUE_CAP - 1)], memory_order_relaxed);
    if (t == b) {
      /* The last element: race the thieves for it through top. seq_cst:
       * totally ordered with the thieves' CAS on the same index. */
      if (!atomic_compare_exchange_strong_explicit(&d->top, &t, t + 1, memory_order_seq_cst,
                                                   memory_order_relaxed))
        x = NULL; /* a thief took it */
      atomic_store_explicit(&d->bottom, b + 1, memory_order_relaxed);
    }
  } else {
    /* Empty: undo the reservation. */
    atomic_store_explicit(&d->bottom, b + 1, memory_order_relaxed);
  }
  return x;
}

size_t weft__deque_pop_n(struct weft__deque *d, size_t k, void **out) {
  long long b = atomic_load_explicit(&d->bottom, memory_order_relaxed);
  long long nb = b - (long long)k;
  atomic_store_explicit(&d->bottom, nb, memory_order_relaxed);
  /* A solo deque has no thief: k <= the size, so [nb, b) is ours. */
  if (!d->solo) {
    /* As in pop, the store of bottom is visible before we read top. A
     * thief that claims index i read bottom > i: after this fence (or its
     * lease's heavy fence, which is the same argument) it reads nb or less,
     * so it claims below nb; before it, it read top before that too, so
     * i <= the top we read next. Hence if that top is below nb, no thief
     * can ever take an index in [nb, b): they are all ours. */
    weft__deque_owner_fence(d);
    if (atomic_load_explicit(&d->top, memory_order_relaxed) >= nb) {
      /* Thieves are at our range: put bottom back (as pop's empty case
       * does; thieves that took indices meanwhile moved top past them) and
       * take the elements one by one, each pop deciding its own race. */
      atomic_store_explicit(&d->bottom, b, memory_order_relaxed);
      size_t n = 0;
      for (void *x; n < k && (x = weft__deque_pop(d)) != NULL; n++)
        if (out) out[n] = x;
      return n;
    }
  }
  for (size_t i = 0; out && i < k; i++)
    out[i] = atomic_load_explicit(&d->buf[(b - 1 - (long long)i) & (WEFT__DEQUE_CAP - 1)],
                                  memory_order_relaxed);
  return k;
}

void *weft__deque_remove_solo(struct weft__deque *d, long long j) {
  long long b = atomic_load_explicit(&d->bottom, memory_order_relaxed) - 1;
  assert(d->solo && atomic_load_explicit(&d->top, memory_order_relaxed) <= j && j <= b);
  /* Only the owner moves bottom and top and writes slots, and on a solo
   * deque nobody else takes elements: relaxed accesses suffice (others
   * only read sizes). */
  void *x = NULL;
  if (j != b) {
    x = atomic_load_explicit(&d->buf[b & (WEFT__DEQUE_CAP - 1)], memory_order_relaxed);
    atomic_store_explicit(&d->buf[j & (WEFT__DEQUE_CAP - 1)], x, memory_order_relaxed);
  }
  atomic_store_explicit(&d->bottom, b, memory_order_relaxed);
  return x;
}

size_t weft__deque_take_oldest(struct weft__deque *d, void **out, size_t n) {
  if (n == 0) return 0;
  long long b = atomic_load_explicit(&d->bottom, memory_order_relaxed);
  for (;;) {
    /* acquire: pairs with the thieves' CAS on top, as in push. */
    long long t = atomic_load_explicit(&d->top, memory_order_acquire);
    if (t >= b) return 0;
    size_t k = (size_t)(b - t) < n ? (size_t)(b - t) : n;
    /* Only the owner (we) writes slots: these hold what was pushed. */
    for (size_t i = 0; i < k; i++)
      out[i] = atomic_load_explicit(&d->buf[(t + (long long)i) & (WEFT__DEQUE_CAP - 1)],
                                    memory_order_relaxed);
    if (d->solo) { /* nobody else moves top */
      atomic_store_explicit(&d->top, t + (long long)k, memory_order_relaxed);
      return k;
    }
    /* No fence against our pops (they are ours, in order) and none
     * against thieves: this CAS on top decides between us and them, as
     * theirs do among themselves; we read bottom exactly. seq_cst: in the
     * thieves' and the pop's order of CASes on top. */
    if (atomic_compare_exchange_strong_explicit(&d->top, &t, t + (long long)k,
                                                memory_order_seq_cst, memory_order_relaxed))
      return k;
  }
}

void *weft__deque_steal(struct weft__deque *d) {
  /* acquire: pairs with the CAS of other thieves and the owner on top, so
   * that the slot we read is not older than the top we read. */
  long long t = atomic_load_explicit(&d->top, memory_order_acquire);
  /* seq_cst fence: read top before bottom, ordered against the owner's
   * store of bottom and fence in pop (see there), which every pop after
   * our caller's lease was taken issues (see the file comment). The owner's
   * own steals (no lease) do not race its pops. */
  atomic_thread_fence(memory_order_seq_cst);
  /* acquire: pairs with the release store of bottom in push, so the slot
   * write for every index below bottom is visible. */
  long long b = atomic_load_explicit(&d->bottom, memory_order_acquire);
  if (t >= b) return NULL;
  /* acquire: pairs with the release store of this slot in push (for TSan;
   * see file comment). Read before the CAS: after it, the owner may reuse
   * the slot. */
  void *x = atomic_load_explicit(&d->buf[t & (WEFT__DEQUE_CAP - 1)], memory_order_acquire);
  /* seq_cst: the claim on index t, ordered against the owner's CAS in pop
   * and other thieves' CAS. Failure means someone else took index t. */
  if (!atomic_compare_exchange_strong_explicit(&d->top, &t, t + 1, memory_order_seq_cst,
                                               memory_order_relaxed))
    return NULL;
  return x;
}
