/* thread — everything weft keeps per thread, in one place, behind one
 * accessor.
 *
 * THE TLS RULE (see also worker.h). Code that may run in a coroutine must
 * not keep a thread-local's address across a switch: the coroutine may
 * resume on another thread, and the compiler may have cached the thread
 * pointer (on aarch64 GCC keeps TPIDR_EL0 in a register across calls;
 * glibc declares __errno_location const). weft__thread() is not inlined
 * and has a compiler barrier: call it again after every switch, and use
 * its result only until the next one. One struct keeps that to a single
 * call on the hot paths (yield, await, the switch itself).
 */
#ifndef WEFT_THREAD_H
#define WEFT_THREAD_H

#include <stdint.h>

struct weft__worker;
struct weft_coro;
struct weft__ctx;
struct weft_future;

#define WEFT__QUARANTINE 256

struct weft__thread {
  struct weft__worker *worker; /* this thread is that runtime worker, or NULL */
  struct weft_coro *coro;      /* innermost standalone coroutine running here */
  struct weft__ctx *running;   /* the context running now (NULL: never switched) */
  int dispatching;             /* firing future waiters (future.c): no suspension */
  int stack_ready;             /* weft__stack_thread_setup has run on this thread */
  /* Released futures wait here, FIFO, before their memory is reused or
   * freed (future.c, weft__future_retire). */
  struct weft_future *quarantine[WEFT__QUARANTINE];
  unsigned q_head, q_len;
  int q_key_set;
  struct weft_future *dispatch_head, *dispatch_tail;
  /* The last time weft_now() read on this thread: a deadline at or before
   * it has passed, without reading the clock again (timer.c). */
  uint64_t last_now;
  /* weft__ctx_exit's switch record (context.h): not on the exiting stack,
   * whose frames a sanitizer may release before the destination, on this
   * same thread, has read it. */
  void *exit_record[4];
};

struct weft__thread *weft__thread(void);

/* Arranges for weft__future_drain_quarantine to run when this thread exits. */
void weft__thread_at_exit(struct weft__thread *th);

#endif
