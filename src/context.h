/* context — the only code that knows fcontext.
 *
 * A context is a place execution can be suspended and resumed: a thread's
 * own stack, or a coroutine stack. weft__ctx_switch() saves the running
 * context and resumes another. What is saved is what fcontext saves: the
 * callee-saved registers, the stack pointer, the return address and the
 * x87/SSE control words; everything else is dead across a call anyway.
 *
 * Post-switch actions. A switch carries an optional action that runs on the
 * *destination* side, after the source's registers are saved and before the
 * destination continues. Anything that makes a suspended coroutine visible
 * to another thread (a waiter list, a run queue) must be done there and
 * never before the switch: otherwise another worker could resume the
 * coroutine while its registers are still being saved, and two threads
 * would run on one stack. (Go's park_m, Boost.Fiber's ontop callbacks.)
 *
 * Migration. A context may be resumed by a different thread than the one
 * that suspended it. Code running in a coroutine must not keep a
 * thread-local's address across a switch (see worker.h).
 *
 * Stacks grow down; fcontext wants the top, 16-byte aligned, which the
 * stack layer gives. The entry function of a context must never return:
 * Debian's make_fcontext places a stub that calls _exit(0) behind it, which
 * would end the process "successfully".
 *
 * Tool annotations (compiled in only for that tool): AddressSanitizer is
 * told about every stack switch (so it does not report the new stack as an
 * overflow of the old one), ThreadSanitizer gets one fiber per coroutine
 * context.
 */
#ifndef WEFT_CONTEXT_H
#define WEFT_CONTEXT_H

#include <stddef.h>

#include "sanitize.h"

typedef void (*weft__after_fn)(void *arg);

/* Small: every task has one, and a burst of a million spawns is a million
 * of them (the exit's switch record is per thread, the bounds only for
 * AddressSanitizer). */
struct weft__ctx {
  void *fctx;       /* the saved fcontext while suspended */
  struct weft__stack *stack; /* the stack descriptor; NULL for a thread's own stack */
  /* Coroutine contexts: the first code to run, given this context (its
   * owner finds itself from it); never returns. */
  void (*entry)(struct weft__ctx *self);
#if WEFT__ASAN
  void *stack_lo;   /* lowest address of the stack this context runs on */
  size_t stack_size;
  void *asan_fake_stack;
#endif
#if WEFT__TSAN
  void *tsan_fiber;
  int tsan_owned; /* created by us (a coroutine), not the thread's own */
#endif
};

/* Makes `c` describe the calling thread's own stack, so other contexts can
 * switch back to it. Call on the thread itself. */
void weft__ctx_init_thread(struct weft__ctx *c);

/* Prepares `c` to run entry(c) on the stack [lo, lo + size) when first
 * switched to. */
void weft__ctx_make(struct weft__ctx *c, void *lo, size_t size,
                    void (*entry)(struct weft__ctx *));

/* The context running on this thread now (set on every switch), or NULL
 * if this thread never switched. */
struct weft__ctx *weft__ctx_running(void);

/* Fills `c` to stand for the code running now, so that something can switch
 * back to it: its stack and, under the sanitizers, its bounds and tool
 * state. Returns the context that was running: when `c` (usually a local)
 * goes out of scope, put that one back with weft__ctx_set_running(). */
struct weft__thread;
struct weft__ctx *weft__ctx_init_here(struct weft__ctx *c, struct weft__thread *th);

/* Declares `c` the context running on this thread (see weft__ctx_init_here). */
void weft__ctx_set_running(struct weft__ctx *c);

/* Makes `c` a second context on `host`'s stack (code called from the
 * host's code, which may suspend on its own): same stack bounds and tool
 * fiber, nothing of its own to release. */
void weft__ctx_borrow(struct weft__ctx *c, const struct weft__ctx *host);

/* Releases tool state of a coroutine context. Never call it from `c` itself. */
void weft__ctx_destroy(struct weft__ctx *c);

/* Saves the running context into `from`, resumes `to`, and there runs
 * after(after_arg) first (if `after` is non-NULL). Returns when something
 * switches back to `from`. Inline (below): every call level between the
 * caller and jump_fcontext costs a mispredicted return after each switch
 * (the return stack buffer holds the other stack's calls). */
static inline void weft__ctx_switch(struct weft__ctx *from, struct weft__ctx *to,
                                    weft__after_fn after, void *after_arg);

/* Like weft__ctx_switch, for a context that will never be resumed: tools
 * drop what they kept for it. `after` typically frees its stack. */
_Noreturn void weft__ctx_exit(struct weft__ctx *from, struct weft__ctx *to,
                              weft__after_fn after, void *after_arg);

/* ---- inline: the switch itself ---------------------------------------------- */

#include "thread.h"

#if WEFT__ASAN
#include <sanitizer/common_interface_defs.h>
#endif
#if WEFT__TSAN
#include <sanitizer/tsan_interface.h>
#endif

/* Boost.Context's C-ABI routines (extern "C" in Boost; no C++ header is
 * included). Their names are fixed by the library; only this header and
 * context.c use them. */
typedef void *weft__fcontext;
typedef struct {
  weft__fcontext fctx;
  void *data;
} weft__transfer;
extern weft__transfer jump_fcontext(weft__fcontext const to, void *vp);
extern weft__fcontext make_fcontext(void *sp, size_t size, void (*fn)(weft__transfer));

/* What travels with a jump. It lives on the source's stack, which nobody
 * touches until `after` has run on the destination: the source cannot be
 * resumed earlier, because publishing it is the job of `after`. */
struct weft__switch {
  struct weft__ctx *from;
  struct weft__ctx *to;
  weft__after_fn after;
  void *after_arg;
};
_Static_assert(sizeof(struct weft__switch) <= sizeof(((struct weft__thread *)0)->exit_record),
               "exit_record holds a switch record");

/* On the destination side of every jump: record where the source stopped,
 * then run the source's post-switch action. The per-thread state is reached
 * through weft__thread() again: this code may now run on another thread. */
static inline void weft__arrive(weft__transfer t) {
  struct weft__switch *sw = (struct weft__switch *)t.data;
  weft__after_fn after = sw->after;
  void *after_arg = sw->after_arg;
  sw->from->fctx = t.fctx;
  weft__thread()->running = sw->to;
  /* `after` may free the source (and so an exit record): sw is done with. */
  if (after) after(after_arg);
}

static inline void weft__ctx_switch(struct weft__ctx *from, struct weft__ctx *to,
                                    weft__after_fn after, void *after_arg) {
  struct weft__switch sw = {from, to, after, after_arg};
#if WEFT__ASAN
  __sanitizer_start_switch_fiber(&from->asan_fake_stack, to->stack_lo, to->stack_size);
#endif
#if WEFT__TSAN
  __tsan_switch_to_fiber(to->tsan_fiber, 0);
#endif
  weft__transfer t = jump_fcontext(to->fctx, &sw);
#if WEFT__ASAN
  __sanitizer_finish_switch_fiber(from->asan_fake_stack, NULL, NULL);
#endif
  weft__arrive(t);
}

#endif
