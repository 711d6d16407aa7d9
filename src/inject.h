/* inject — a runtime's injection queue: work that arrives from outside the
 * workers (plain threads, other runtimes, wake-ups of tasks by threads that
 * are not their workers) and the half of a full deque that a worker spills.
 *
 * A growable ring of task pointers under a mutex, with an atomic length
 * read without the lock so that idle workers can skip an empty queue
 * cheaply. Pointers, not links through the task: like a deque slot, an
 * entry may name a task that is also queued elsewhere — the stale spawn
 * entry of a task its awaiter ran inline, next to that task's resume entry
 * (worker.c) — which an intrusive list cannot hold. Why not a lock-free
 * ring (ck_ring): it is bounded, and spills can be large (a spawn-10^6
 * loop); the lock is off every worker's fast path (touched when its own
 * deque is empty, or every 61st scheduling tick for fairness), and batches
 * move under one acquisition.
 */
#ifndef WEFT_INJECT_H
#define WEFT_INJECT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>

struct weft__task;

struct weft__inject {
  pthread_mutex_t lock;
  struct weft__task **ring; /* capacity cap, a power of two; under lock */
  size_t cap, head, count;
  atomic_size_t len; /* == count, readable without the lock */
};

void weft__inject_init(struct weft__inject *q);
void weft__inject_destroy(struct weft__inject *q);
/* Appends n tasks. Returns 0, or ENOMEM (nothing appended). */
int weft__inject_push(struct weft__inject *q, struct weft__task *const *tasks, size_t n);
/* Takes up to `max` tasks from the front into out[]; returns how many. */
size_t weft__inject_pop(struct weft__inject *q, struct weft__task **out, size_t max);
static inline size_t weft__inject_len(struct weft__inject *q) {
  return atomic_load_explicit(&q->len, memory_order_relaxed);
}

#endif
