/* inject — the injection queue. See inject.h. */
#include "inject.h"

#include <errno.h>
#include <stdlib.h>

void weft__inject_init(struct weft__inject *q) {
  pthread_mutex_init(&q->lock, NULL);
  q->ring = NULL;
  q->cap = q->head = q->count = 0;
  atomic_init(&q->len, 0);
}

void weft__inject_destroy(struct weft__inject *q) {
  free(q->ring);
  pthread_mutex_destroy(&q->lock);
}

/* Under the lock: room for `more` entries. */
static int weft__inject_reserve(struct weft__inject *q, size_t more) {
  if (q->count + more <= q->cap) return 0;
  size_t cap = q->cap ? q->cap : 256;
  while (cap < q->count + more) cap *= 2;
  struct weft__task **ring = malloc(cap * sizeof *ring);
  if (!ring) return ENOMEM;
  for (size_t i = 0; i < q->count; i++) ring[i] = q->ring[(q->head + i) & (q->cap - 1)];
  free(q->ring);
  q->ring = ring;
  q->cap = cap;
  q->head = 0;
  return 0;
}

int weft__inject_push(struct weft__inject *q, struct weft__task *const *tasks, size_t n) {
  pthread_mutex_lock(&q->lock);
  int rc = weft__inject_reserve(q, n);
  if (!rc) {
    for (size_t i = 0; i < n; i++) q->ring[(q->head + q->count + i) & (q->cap - 1)] = tasks[i];
    q->count += n;
    /* The mutex orders the ring itself; len is what idle workers read
     * without it. Its update is sequenced before the pusher's seq_cst
     * fence in weft__notify, and a parking worker reads it after its own
     * seq_cst fence: that pair is the lost-wake-up argument of worker.c. */
    atomic_store_explicit(&q->len, q->count, memory_order_relaxed);
  }
  pthread_mutex_unlock(&q->lock);
  return rc;
}

size_t weft__inject_pop(struct weft__inject *q, struct weft__task **out, size_t max) {
  if (weft__inject_len(q) == 0) return 0;
  pthread_mutex_lock(&q->lock);
  size_t k = q->count < max ? q->count : max;
  for (size_t i = 0; i < k; i++) out[i] = q->ring[(q->head + i) & (q->cap - 1)];
  if (k) {
    q->head = (q->head + k) & (q->cap - 1);
    q->count -= k;
    atomic_store_explicit(&q->len, q->count, memory_order_relaxed);
  }
  pthread_mutex_unlock(&q->lock);
  return k;
}
