/* deque — the per-worker Chase–Lev work-stealing deque.
 *
 * The owner pushes and pops at the bottom (LIFO: the task it just spawned
 * runs next, while its stack and data are hot); thieves take from the top
 * (FIFO: the oldest task, usually the biggest piece of a divide-and-conquer
 * tree) with one CAS. Names say who may call: weft__deque_push/_pop are
 * owner-only, weft__deque_steal is for a thread holding a lease on the deque
 * (or the owner).
 *
 * The owner's pop is fence-free while no thief holds a lease on the deque.
 * Chase–Lev orders the owner's store of bottom before its read of top with
 * a seq_cst fence, paired with one in steal: most of a pop's cost, paid by
 * every fork-join child although thieves come rarely (fib(30) at two
 * workers: 1.3 million pops, about 20 steals). Here a thief first takes a
 * lease (weft__deque_lease: a count bumped, then the heavy half of an
 * asymmetric fence, membar.h), and the owner fences only while the count is
 * nonzero. See deque.c for why that is enough.
 *
 * Fixed capacity, no growth: when full, weft__deque_push fails and the
 * worker moves half of the deque to the runtime's injection queue (as Go and
 * Tokio do). That keeps the buffer from ever being replaced, so a steal can
 * never read a slot of a buffer that is being freed (no epoch reclamation, no
 * "steal racing a growth takes a task twice" trap), and it puts surplus
 * work where idle workers look first.
 */
#ifndef WEFT_DEQUE_H
#define WEFT_DEQUE_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#define WEFT__DEQUE_CAP 4096 /* a power of two */
#define WEFT__CACHELINE 64

struct weft__deque {
  /* top is written by thieves (CAS) and the owner (last element): its own line. */
  _Alignas(WEFT__CACHELINE) atomic_llong top;
  /* Leases held by thieves (weft__deque_lease): the owner fences its pops
   * only while nonzero. On top's line: the pop reads top anyway. */
  atomic_uint leases;
  /* bottom is written only by the owner, read by thieves. Signed: an empty
   * pop at 0 makes it -1 for a moment, which must compare as less than top. */
  _Alignas(WEFT__CACHELINE) atomic_llong bottom;
  /* Pushes so far (owner-written, relaxed): lets a thief tell a task that
   * has sat alone in the deque from a fresh one (worker.c, steal). */
  atomic_ullong pushes;
  /* Nobody but the owner ever takes from it (a runtime of one worker has no
   * thieves): pops need no fence and no CAS. Fixed at init. */
  int solo;
  _Atomic(void *) buf[WEFT__DEQUE_CAP];
};

/* solo: the owner's thread is the only one that will ever pop or steal
 * (see the field). */
void weft__deque_init(struct weft__deque *d, int solo);

/* Owner only. 0, or -1 if the deque is full (nothing pushed). */
int weft__deque_push(struct weft__deque *d, void *x);

/* Owner only. The newest element, or NULL if empty. */
void *weft__deque_pop(struct weft__deque *d);

/* Owner only. Takes the k newest elements (k <= the size the owner last
 * saw) with one fence instead of k: out[0] is the newest. Returns how many
 * it took — k, or fewer when thieves took some of them meanwhile; the n
 * taken are always the n newest. `out` may be NULL for an owner that read
 * those slots itself (only the owner writes slots, so they still hold what
 * it read): no k-sized array on its stack. */
size_t weft__deque_pop_n(struct weft__deque *d, size_t k, void **out);

/* Owner only. Takes up to n of the oldest elements (the thieves' end)
 * into out, oldest first, with one CAS on top (none on a solo deque): what
 * a full deque's owner moves elsewhere. Returns how many it took; 0 only
 * if the deque is empty. */
size_t weft__deque_take_oldest(struct weft__deque *d, void **out, size_t n);

/* Owner of a solo deque only. Takes out the element at index j (top <= j <
 * bottom, as the owner last saw them) by moving the newest element into its
 * slot: no thief can be reading either slot. Returns the element moved to
 * index j, or NULL if j was the newest (then it was a plain pop). It breaks
 * the deque's order — an element that was newest is now at j — which only
 * a caller that needs no order between those two elements may do: what an
 * awaiter claiming a queued task in place does when the newest entry is
 * a spawn too, so that the entry does not stay behind as a stale one
 * (worker.c). */
void *weft__deque_remove_solo(struct weft__deque *d, long long j);

/* Any thread that holds a lease on d, and its owner. The oldest element;
 * NULL if empty or if the take lost a race (to the owner or another thief):
 * callers treat both as "try elsewhere". */
void *weft__deque_steal(struct weft__deque *d);

/* Any thread but the owner, before its first steal from d: from the moment
 * it returns, every pop of d orders against this thread's steals. About
 * 8 us (a membarrier system call, which interrupts the process's running
 * threads), so a thief keeps its lease while it goes on stealing and gives
 * it back (weft__deque_unlease) when it has work of its own or sleeps:
 * while a lease is held, each pop pays a fence. */
void weft__deque_lease(struct weft__deque *d);

/* The thread that took the lease, after its last steal under it. */
void weft__deque_unlease(struct weft__deque *d);

/* Owner only: the element at index i (top <= i < bottom, as the owner last
 * saw them), left where it is. Only the owner writes slots, so it reads
 * what it pushed there; a thief may take it meanwhile, so a caller that
 * follows the pointer must have taken the element, or know that no thief
 * can (a solo deque), or only compare it. */
static inline void *weft__deque_peek(struct weft__deque *d, long long i) {
  return atomic_load_explicit(&d->buf[i & (WEFT__DEQUE_CAP - 1)], memory_order_relaxed);
}

/* Any thread; a snapshot, possibly stale by the time it returns. */
static inline long long weft__deque_size(struct weft__deque *d) {
  long long b = atomic_load_explicit(&d->bottom, memory_order_relaxed);
  long long t = atomic_load_explicit(&d->top, memory_order_relaxed);
  return b > t ? b - t : 0;
}

#endif
