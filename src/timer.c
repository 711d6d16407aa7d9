/* timer — the clock, the per-worker timer heaps, and sleeping (weft_now,
 * weft_sleep, weft_sleep_until). See timer.h for who touches a heap when;
 * the waking itself is the scheduler's (worker.c, "Deadlines"). */
#include <errno.h>
#include <stdlib.h>
#include <time.h>

#include "task.h"
#include "thread.h"
#include "timer.h"
#include "weft/time.h"
#include "worker.h"

uint64_t weft__now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t weft_now(void) {
  /* Remembered: a blocking call checks its deadline with weft_now() before
   * it waits (waitq.h); the wait then needs no second clock read (27 ns on
   * this kvm-clock VM) to see that a deadline has already passed. */
  uint64_t now = weft__now();
  weft__thread()->last_now = now;
  return now;
}

void weft__timers_init(struct weft__timers *h) {
  weft__spin_init(&h->lock);
  h->heap = NULL;
  h->n = h->cap = 0;
  atomic_init(&h->next, UINT64_MAX);
  atomic_init(&h->count, 0);
}

void weft__timers_fini(struct weft__timers *h) {
  free(h->heap);
  h->heap = NULL;
  h->n = h->cap = 0;
}

int weft__timers_reserve(struct weft__timers *h) {
  /* Only the owner adds, others only take out: room seen now is still
   * there when the owner adds (relaxed: a count read, not a hand-off). */
  if (atomic_load_explicit(&h->count, memory_order_relaxed) < h->cap) return 0;
  weft__spin_lock(&h->lock);
  int rc = 0;
  if (h->n == h->cap) {
    size_t cap = h->cap ? 2 * h->cap : 64;
    struct weft__timer_slot *p = realloc(h->heap, cap * sizeof *p);
    if (p) {
      h->heap = p;
      h->cap = cap;
    } else {
      rc = ENOMEM;
    }
  }
  weft__spin_unlock(&h->lock);
  return rc;
}

/* ---- the heap (under h->lock) ---------------------------------------------------- */

static void weft__slot_set(struct weft__timers *h, size_t i, struct weft__timer_slot s) {
  h->heap[i] = s;
  s.t->idx = (long)i;
}

static void weft__sift_up(struct weft__timers *h, size_t i) {
  struct weft__timer_slot s = h->heap[i];
  while (i > 0) {
    size_t p = (i - 1) / 2;
    if (h->heap[p].when <= s.when) break;
    weft__slot_set(h, i, h->heap[p]);
    i = p;
  }
  weft__slot_set(h, i, s);
}

static void weft__sift_down(struct weft__timers *h, size_t i) {
  struct weft__timer_slot s = h->heap[i];
  for (;;) {
    size_t c = 2 * i + 1;
    if (c >= h->n) break;
    if (c + 1 < h->n && h->heap[c + 1].when < h->heap[c].when) c++;
    if (s.when <= h->heap[c].when) break;
    weft__slot_set(h, i, h->heap[c]);
    i = c;
  }
  weft__slot_set(h, i, s);
}

static void weft__publish_next(struct weft__timers *h) {
  /* relaxed: a hint for lock-free readers (timer.h, `next`). */
  atomic_store_explicit(&h->next, h->n ? h->heap[0].when : UINT64_MAX, memory_order_relaxed);
  atomic_store_explicit(&h->count, h->n, memory_order_relaxed);
}

static void weft__heap_delete(struct weft__timers *h, size_t i) {
  h->heap[i].t->idx = -1;
  h->n--;
  if (i != h->n) {
    struct weft__timer_slot last = h->heap[h->n];
    weft__slot_set(h, i, last);
    if (i > 0 && h->heap[(i - 1) / 2].when > last.when)
      weft__sift_up(h, i);
    else
      weft__sift_down(h, i);
  }
}

void weft__timers_add(struct weft__timers *h, struct weft__timer *t) {
  weft__spin_lock(&h->lock);
  t->home = h;
  h->heap[h->n++] = (struct weft__timer_slot){t->when, t};
  weft__sift_up(h, h->n - 1);
  weft__publish_next(h);
  weft__spin_unlock(&h->lock);
}

void weft__timers_remove(struct weft__timer *t) {
  struct weft__timers *h = t->home;
  if (!h) return;
  weft__spin_lock(&h->lock);
  if (t->idx >= 0) {
    weft__heap_delete(h, (size_t)t->idx);
    weft__publish_next(h);
  }
  weft__spin_unlock(&h->lock);
  t->home = NULL;
}

size_t weft__timers_expire(struct weft__timers *h, uint64_t now,
                           struct weft__task *(*fire)(struct weft__timer *t),
                           struct weft__task **out, size_t max) {
  size_t k = 0;
  weft__spin_lock(&h->lock);
  while (k < max && h->n && h->heap[0].when <= now) {
    struct weft__timer *t = h->heap[0].t;
    weft__heap_delete(h, 0);
    struct weft__task *task = fire(t);
    if (task) out[k++] = task;
  }
  weft__publish_next(h);
  weft__spin_unlock(&h->lock);
  return k;
}

/* ---- sleeping ---------------------------------------------------------------------- */

int weft_sleep_until(uint64_t deadline) {
  struct weft__thread *th = weft__thread();
  if (th->worker && th->worker->current) return weft__task_wait(th, NULL, deadline, NULL, 0);
  if (th->worker) return EPERM; /* on a worker, outside any task */
  if (deadline == WEFT_NO_DEADLINE) return EINVAL;
  struct timespec ts = {(time_t)(deadline / 1000000000u), (long)(deadline % 1000000000u)};
  int rc;
  /* Signals do not cut a sleep short: it lasts until the deadline. */
  while ((rc = clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL)) == EINTR) {
  }
  return rc;
}

int weft_sleep(uint64_t ns) {
  if (ns == 0) return 0;
  uint64_t now = weft_now();
  uint64_t deadline = ns > WEFT_NO_DEADLINE - now ? WEFT_NO_DEADLINE : now + ns;
  return weft_sleep_until(deadline);
}
