/* thread — the per-thread state (thread.h). */
#include "thread.h"

#include "sanitize.h"

static WEFT__TLS struct weft__thread weft__thread_state;

__attribute__((noinline)) struct weft__thread *weft__thread(void) {
  __asm__ volatile("" ::: "memory");
  return &weft__thread_state;
}
