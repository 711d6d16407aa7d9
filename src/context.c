/* context — the switch primitive over Boost.Context's fcontext, with the
 * sanitizer annotations around it. See context.h for the contract. */
#include "context.h"

#include "thread.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>


static WEFT__TLS struct weft__ctx weft__thread_ctx;

static inline void weft__set_running(struct weft__ctx *c) { weft__thread()->running = c; }

struct weft__ctx *weft__ctx_running(void) { return weft__thread()->running; }

static void weft__trampoline(weft__transfer t) {
  struct weft__ctx *self = ((struct weft__switch *)t.data)->to;
#if WEFT__ASAN
  __sanitizer_finish_switch_fiber(NULL, NULL, NULL);
#endif
  weft__arrive(t);
  self->entry(self);
  /* entry() never returns (it ends with weft__ctx_exit). Returning here
   * would reach make_fcontext's _exit(0) stub: fail loudly instead. */
  abort();
}

void weft__ctx_init_thread(struct weft__ctx *c) {
  c->fctx = NULL;
  c->stack = NULL;
  c->entry = NULL;
#if WEFT__ASAN
  c->stack_lo = NULL;
  c->stack_size = 0;
  pthread_attr_t attr;
  if (pthread_getattr_np(pthread_self(), &attr) == 0) {
    void *lo;
    size_t size;
    if (pthread_attr_getstack(&attr, &lo, &size) == 0) {
      c->stack_lo = lo;
      c->stack_size = size;
    }
    pthread_attr_destroy(&attr);
  }
  c->asan_fake_stack = NULL;
#endif
#if WEFT__TSAN
  c->tsan_fiber = __tsan_get_current_fiber();
  c->tsan_owned = 0;
#endif
}

void weft__ctx_set_running(struct weft__ctx *c) { weft__set_running(c); }

struct weft__ctx *weft__ctx_init_here(struct weft__ctx *c, struct weft__thread *th) {
  struct weft__ctx *run = th->running;
  if (WEFT__UNLIKELY(!run)) {
    /* First switch on this thread: describe its own stack once. */
    weft__ctx_init_thread(&weft__thread_ctx);
    th->running = run = &weft__thread_ctx;
  }
  /* Only what the switch back needs: the stack (the overflow handler asks
   * the running context for it) and, under the sanitizers, the bounds. */
  c->stack = run->stack;
#if WEFT__ASAN
  c->stack_lo = run->stack_lo;
  c->stack_size = run->stack_size;
  c->asan_fake_stack = NULL;
#endif
#if WEFT__TSAN
  c->tsan_fiber = __tsan_get_current_fiber();
  c->tsan_owned = 0;
#endif
  return run;
}

void weft__ctx_make(struct weft__ctx *c, void *lo, size_t size,
                    void (*entry)(struct weft__ctx *)) {
  c->stack = NULL;
  c->entry = entry;
  c->fctx = make_fcontext((char *)lo + size, size, weft__trampoline);
#if WEFT__ASAN
  c->stack_lo = lo;
  c->stack_size = size;
  c->asan_fake_stack = NULL;
#endif
#if WEFT__TSAN
  c->tsan_fiber = __tsan_create_fiber(0);
  c->tsan_owned = 1;
#endif
}

void weft__ctx_borrow(struct weft__ctx *c, const struct weft__ctx *host) {
  c->fctx = NULL;
  c->stack = host->stack;
  c->entry = NULL;
#if WEFT__ASAN
  c->stack_lo = host->stack_lo;
  c->stack_size = host->stack_size;
  c->asan_fake_stack = NULL;
#endif
#if WEFT__TSAN
  c->tsan_fiber = host->tsan_fiber;
  c->tsan_owned = 0;
#endif
}

void weft__ctx_destroy(struct weft__ctx *c) {
#if WEFT__TSAN
  if (c->tsan_owned && c->tsan_fiber) __tsan_destroy_fiber(c->tsan_fiber);
  c->tsan_fiber = NULL;
#else
  (void)c;
#endif
}

void weft__ctx_exit(struct weft__ctx *from, struct weft__ctx *to,
                    weft__after_fn after, void *after_arg) {
  /* The record is the thread's, not on this stack (see exit_record). */
  struct weft__switch *sw = (struct weft__switch *)(void *)weft__thread()->exit_record;
  *sw = (struct weft__switch){from, to, after, after_arg};
#if WEFT__ASAN
  /* NULL: this stack is left for good; ASan frees its fake frames. */
  __sanitizer_start_switch_fiber(NULL, to->stack_lo, to->stack_size);
#endif
#if WEFT__TSAN
  __tsan_switch_to_fiber(to->tsan_fiber, 0);
#endif
  jump_fcontext(to->fctx, sw);
  abort(); /* nothing resumes an exited context */
}
