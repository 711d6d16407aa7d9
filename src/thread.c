/* thread — the per-thread state (thread.h). */
#include "thread.h"

#include <pthread.h>

#include "sanitize.h"

void weft__future_drain_quarantine(struct weft__thread *th); /* future.c */

static WEFT__TLS struct weft__thread weft__thread_state;

__attribute__((noinline)) struct weft__thread *weft__thread(void) {
  __asm__ volatile("" ::: "memory");
  return &weft__thread_state;
}

static pthread_once_t weft__thread_once = PTHREAD_ONCE_INIT;
static pthread_key_t weft__thread_key;

static void weft__thread_exit(void *arg) { weft__future_drain_quarantine(arg); }
static void weft__thread_key_init(void) { pthread_key_create(&weft__thread_key, weft__thread_exit); }

void weft__thread_at_exit(struct weft__thread *th) {
  pthread_once(&weft__thread_once, weft__thread_key_init);
  pthread_setspecific(weft__thread_key, th);
  th->q_key_set = 1;
}
