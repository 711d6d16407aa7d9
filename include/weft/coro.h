/* weft — standalone coroutine objects, driven by hand (no runtime, no threads). */
#ifndef WEFT_CORO_H
#define WEFT_CORO_H

#include "weft/common.h"

WEFT__EXTERN_C_BEGIN

/**
 * @file weft/coro.h
 * @brief Coroutines by themselves: create one, drive it with send, let it
 * yield values back, learn that it finished and what it returned.
 *
 * This is the generator protocol of the seed notes, in C. Creating a
 * coroutine runs none of its body. Each weft_coro_send() runs the body until
 * it calls weft_coro_yield() or returns: one value goes in, one comes out.
 * Many coroutines of one function each hold their own state on their own
 * stack. A coroutine may create and drive another (nesting).
 *
 * Threads: a coroutine object is not thread-safe; drive it from one thread
 * at a time. It may be driven by different threads at different times (not
 * concurrently), but its body must not rely on thread-local storage or
 * `errno` surviving a weft_coro_yield() in that case.
 *
 * Ownership: the caller of weft_coro_create() owns the coroutine and frees
 * it with weft_coro_destroy(). Values passed through send and yield are
 * opaque pointers that weft never dereferences or frees.
 */

/** A standalone coroutine (opaque). */
typedef struct weft_coro weft_coro;

/** Where a coroutine is in its life. */
typedef enum weft_coro_state {
  WEFT_CORO_INVALID = -1,  /**< not a coroutine (NULL was passed) */
  WEFT_CORO_CREATED = 0,   /**< created; none of its body has run */
  WEFT_CORO_SUSPENDED = 1, /**< stopped at a weft_coro_yield() */
  WEFT_CORO_RUNNING = 2,   /**< inside a send (possibly driving another coroutine) */
  WEFT_CORO_DONE = 3       /**< its body returned */
} weft_coro_state;

/** Options for weft_coro_create(); a NULL pointer means all defaults. */
typedef struct weft_coro_config {
  /** Usable stack bytes; 0 means the default, 64 KiB. Rounded up to pages; at least 16 KiB. */
  size_t stack_size;
  /** A name shown in diagnostics (stack overflow); copied, truncated to 31 bytes. NULL: none. */
  const char *name;
} weft_coro_config;

/**
 * Creates a coroutine that will run `fn(arg)`, without running any of it.
 *
 * Callable from anywhere (a plain thread or inside a coroutine).
 * @param out receives the new coroutine, owned by the caller; untouched on
 *        error.
 * @param fn the body; it runs on the coroutine's own stack.
 * @param arg passed to `fn` as is; weft never dereferences it.
 * @param cfg options, or NULL for defaults; copied.
 * @return 0; EINVAL if `out` or `fn` is NULL or the stack size is absurd
 *         (over 1 GiB); ENOMEM if no memory or stack could be had.
 */
WEFT_API int weft_coro_create(weft_coro **out, weft_fn fn, void *arg,
                              const weft_coro_config *cfg);

/**
 * Runs the coroutine until its next weft_coro_yield() or the end of its body.
 *
 * `in` becomes the value that the coroutine's pending weft_coro_yield()
 * receives. As in Python, the first send starts the body, which has nothing
 * to receive a value with: it must pass NULL (its input is `arg`).
 *
 * Callable from a plain thread or from inside another coroutine (nesting).
 * @param co the coroutine to resume.
 * @param in the value its pending weft_coro_yield() returns in `sent`; NULL
 *        on the first send.
 * @param out receives the yielded value (return 0) or the body's return
 *        value (return WEFT_DONE); may be NULL.
 * @return 0 if the coroutine yielded; WEFT_DONE if its body returned (its
 *         stack is given back at once); EINVAL if `co` is NULL or the first
 *         send passes a non-NULL `in`; ESRCH if it has already finished;
 *         EBUSY if it is running (it, or a coroutine it is driving, is the
 *         caller).
 */
WEFT_API int weft_coro_send(weft_coro *co, void *in, void **out);

/**
 * Suspends the calling standalone coroutine, handing `value` to the
 * weft_coro_send() that resumed it, and waits for the next send.
 *
 * Callable only from inside the body of a standalone coroutine.
 * @param value handed to the resuming weft_coro_send() as its `out`.
 * @param sent receives the value of the send that resumes it; may be NULL.
 * @return 0 when resumed; EPERM if the caller is not inside a standalone
 *         coroutine (nothing happens then).
 */
WEFT_API int weft_coro_yield(void *value, void **sent);

/**
 * Where `co` is in its life. Callable from anywhere.
 * @param co a coroutine, or NULL.
 * @return its state; WEFT_CORO_INVALID if `co` is NULL.
 */
WEFT_API weft_coro_state weft_coro_status(const weft_coro *co);

/**
 * Frees a coroutine that is not running: created, suspended or done.
 *
 * A suspended coroutine's body never runs again: its stack is unmapped or
 * recycled without unwinding. Whatever the body holds at that yield —
 * memory it allocated, locks, open files — is not released by weft, so
 * either drive a coroutine to the end, or yield only while holding nothing
 * the owner does not also know how to free.
 *
 * Callable from anywhere but the coroutine's own body or one it drives.
 * @param co the coroutine; not to be used again once freed.
 * @return 0; EINVAL if `co` is NULL; EBUSY if it is running (not freed).
 */
WEFT_API int weft_coro_destroy(weft_coro *co);

WEFT__EXTERN_C_END

#endif /* WEFT_CORO_H */
