/* inject — the injection queue. See inject.h. */
#include "inject.h"

#include "task.h"

void weft__inject_init(struct weft__inject *q) {
  pthread_mutex_init(&q->lock, NULL);
  q->head = q->tail = NULL;
  atomic_init(&q->len, 0);
}

void weft__inject_destroy(struct weft__inject *q) { pthread_mutex_destroy(&q->lock); }

void weft__inject_push(struct weft__inject *q, struct weft__task *first,
                       struct weft__task *last, size_t n) {
  last->next = NULL;
  pthread_mutex_lock(&q->lock);
  if (q->tail)
    q->tail->next = first;
  else
    q->head = first;
  q->tail = last;
  /* The mutex orders the list itself; len is what idle workers read without
   * it. Its increment is sequenced before the pusher's seq_cst fence in
   * weft__notify, and a parking worker reads it after its own seq_cst fence:
   * that pair is the lost-wake-up argument of worker.c. */
  atomic_fetch_add_explicit(&q->len, n, memory_order_relaxed);
  pthread_mutex_unlock(&q->lock);
}

struct weft__task *weft__inject_pop(struct weft__inject *q, size_t max, size_t *n) {
  *n = 0;
  if (weft__inject_len(q) == 0) return NULL;
  pthread_mutex_lock(&q->lock);
  struct weft__task *first = q->head, *t = first, *prev = NULL;
  size_t k = 0;
  while (t && k < max) {
    prev = t;
    t = t->next;
    k++;
  }
  if (k) {
    q->head = t;
    if (!t) q->tail = NULL;
    prev->next = NULL;
    atomic_fetch_sub_explicit(&q->len, k, memory_order_relaxed);
  }
  pthread_mutex_unlock(&q->lock);
  *n = k;
  return k ? first : NULL;
}
