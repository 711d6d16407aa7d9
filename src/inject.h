/* inject — a runtime's injection queue: work that arrives from outside the
 * workers (plain threads, other runtimes, wake-ups of tasks by threads that
 * are not their workers) and the half of a full deque that a worker spills.
 *
 * An intrusive FIFO list under a mutex, with an atomic length read without
 * the lock so that idle workers can skip an empty queue cheaply. Why not a
 * lock-free ring (ck_ring): it is bounded, and spills can be large (a
 * spawn-10^6 loop); a ck_fifo needs a separately allocated entry per item,
 * a malloc on the spawn path. A list links the tasks themselves, takes a
 * whole spilled batch in one lock acquisition, and the lock is off every
 * worker's fast path (touched when its own deque is empty, or every 61st
 * scheduling tick for fairness).
 */
#ifndef WEFT_INJECT_H
#define WEFT_INJECT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>

struct weft__task;

struct weft__inject {
  pthread_mutex_t lock;
  struct weft__task *head, *tail; /* linked through task->next; under lock */
  atomic_size_t len;
};

void weft__inject_init(struct weft__inject *q);
void weft__inject_destroy(struct weft__inject *q);
/* Appends the chain first..last (n tasks, linked through ->next). */
void weft__inject_push(struct weft__inject *q, struct weft__task *first,
                       struct weft__task *last, size_t n);
/* Takes up to `max` tasks from the front into a chain; returns the first
 * (NULL if empty) and the count in *n. */
struct weft__task *weft__inject_pop(struct weft__inject *q, size_t max, size_t *n);
static inline size_t weft__inject_len(struct weft__inject *q) {
  return atomic_load_explicit(&q->len, memory_order_relaxed);
}

#endif
