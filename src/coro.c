/* coro — standalone coroutines: the generator protocol of weft/coro.h on
 * top of the context and stack layers.
 *
 * send() saves the sender in a context on its own stack (`here`), records
 * it as the coroutine's caller, and switches in; yield() switches back to
 * that caller. Nesting works because each send has its own caller context
 * and the thread keeps a chain of current coroutines (`prev`). The stack
 * is taken at create (so ENOMEM is reported there, not at the first send)
 * and given back as soon as the body returns, by a post-switch action on
 * the caller's side — never while still running on it.
 */
#include "weft/coro.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "context.h"
#include "sanitize.h"
#include "stack.h"
#include "thread.h"

struct weft_coro {
  struct weft__ctx ctx;     /* the coroutine's own context */
  struct weft__ctx *caller; /* whoever sent last (a context on its stack) */
  struct weft__stack *stack;
  weft_fn fn;
  void *arg;
  void *transfer; /* the value crossing the current send/yield */
  weft_coro *prev; /* the coroutine that was current when this one was sent to */
  weft_coro_state state;
  char name[32];
};


/* Post-switch action of a finished body, run on the caller's side. */
static void weft__coro_release_stack(void *arg) {
  weft_coro *co = arg;
  weft__ctx_destroy(&co->ctx);
  weft__stack_free(co->stack);
  co->stack = NULL;
}

static void weft__coro_entry(struct weft__ctx *self) {
  weft_coro *co = (weft_coro *)(void *)((char *)self - offsetof(weft_coro, ctx));
  void *ret = co->fn(co->arg);
  co->transfer = ret;
  co->state = WEFT_CORO_DONE;
  weft__stack_check(co->stack);
  weft__ctx_exit(&co->ctx, co->caller, weft__coro_release_stack, co);
}

int weft_coro_create(weft_coro **out, weft_fn fn, void *arg, const weft_coro_config *cfg) {
  if (!out || !fn) return EINVAL;
  size_t size = weft__stack_round(cfg ? cfg->stack_size : 0);
  if (!size) return EINVAL;
  weft_coro *co = malloc(sizeof *co);
  if (!co) return ENOMEM;
  int rc = weft__stack_alloc(size, &co->stack);
  if (rc) {
    free(co);
    return rc;
  }
  co->fn = fn;
  co->arg = arg;
  co->caller = NULL;
  co->transfer = NULL;
  co->prev = NULL;
  co->state = WEFT_CORO_CREATED;
  co->name[0] = '\0';
  if (cfg && cfg->name) {
    strncpy(co->name, cfg->name, sizeof co->name - 1);
    co->name[sizeof co->name - 1] = '\0';
  }
  co->stack->owner = co;
  co->stack->owner_name = co->name;
  weft__ctx_make(&co->ctx, co->stack->lo, co->stack->size, weft__coro_entry);
  co->ctx.stack = co->stack;
  *out = co;
  return 0;
}

int weft_coro_send(weft_coro *co, void *in, void **out) {
  if (!co) return EINVAL;
  switch (co->state) {
  case WEFT_CORO_DONE:
    return ESRCH;
  case WEFT_CORO_RUNNING:
    return EBUSY;
  case WEFT_CORO_CREATED:
    if (in) return EINVAL; /* nothing in the body could receive it */
    break;
  default:
    break;
  }
  struct weft__thread *th = weft__thread();
  if (WEFT__UNLIKELY(!th->stack_ready)) weft__stack_thread_setup(); /* a new thread */
  struct weft__ctx here;
  struct weft__ctx *was_running = weft__ctx_init_here(&here, th);
  co->caller = &here;
  co->transfer = in;
  co->prev = th->coro;
  co->state = WEFT_CORO_RUNNING;
  th->coro = co;
  weft__ctx_switch(&here, &co->ctx, NULL, NULL);
  /* Back: the body yielded or returned (its state says which). The body
   * may have been driven on this thread only (send does not migrate), but
   * `th` is re-read anyway: nothing is kept across a switch. */
  th = weft__thread();
  th->running = was_running;
  th->coro = co->prev;
  co->caller = NULL;
  if (out) *out = co->transfer;
  return co->state == WEFT_CORO_DONE ? WEFT_DONE : 0;
}

int weft_coro_yield(void *value, void **sent) {
  weft_coro *co = weft__thread()->coro;
  if (!co) return EPERM;
  co->transfer = value;
  co->state = WEFT_CORO_SUSPENDED;
  weft__stack_check(co->stack);
  weft__ctx_switch(&co->ctx, co->caller, NULL, NULL);
  /* Resumed by a send, possibly on another thread: `co` is still ours (a
   * local, not a thread-local), and send set the state back to running. */
  if (sent) *sent = co->transfer;
  return 0;
}

weft_coro_state weft_coro_status(const weft_coro *co) {
  return co ? co->state : WEFT_CORO_INVALID;
}

int weft_coro_destroy(weft_coro *co) {
  if (!co) return EINVAL;
  if (co->state == WEFT_CORO_RUNNING) return EBUSY;
  if (co->stack) {
    weft__ctx_destroy(&co->ctx);
    weft__stack_free(co->stack);
  }
  free(co);
  return 0;
}
