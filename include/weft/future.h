/* weft — futures: values that settle later, awaited by coroutines or threads. */
#ifndef WEFT_FUTURE_H
#define WEFT_FUTURE_H

#include "weft/common.h"

WEFT__EXTERN_C_BEGIN

/**
 * @file weft/future.h
 * @brief Futures: pending, then resolved with a value or failed with an
 * error code, once. Cancellation is a failure with ECANCELED.
 *
 * A task (weft_spawn()) is a future of its coroutine's return value, so
 * every function here also takes a task.
 *
 * Ownership: futures are reference counted. Every function that hands out a
 * future (weft_future_create(), weft_spawn(), the combinators) gives the
 * caller one reference, dropped with weft_future_release(). Functions that
 * take futures as inputs borrow them: weft keeps its own references for as
 * long as it needs them. A future's value is an opaque pointer: weft never
 * frees it; whoever resolves it and whoever reads it agree on who does.
 *
 * Using a future after releasing its last reference is a bug that weft
 * reports (EINVAL, WEFT_FUTURE_INVALID) for plain and derived futures for
 * as long as their memory waits in the releasing thread's quarantine (the
 * next 256 releases there). A task's memory is recycled at once (it is on
 * the hot path), so a released task's handle is as undefined as any freed
 * object's.
 *
 * Threads: every function here is callable from any thread, inside a
 * coroutine or not, unless it says otherwise.
 */

/** A future (opaque); tasks are futures too. */
typedef struct weft_future weft_future;

/** How a future stands. */
typedef enum weft_future_state {
  WEFT_FUTURE_INVALID = -1, /**< not a future (NULL or released) */
  WEFT_FUTURE_PENDING = 0,  /**< not settled yet */
  WEFT_FUTURE_RESOLVED = 1, /**< settled with a value */
  WEFT_FUTURE_FAILED = 2    /**< settled with an error (ECANCELED if cancelled) */
} weft_future_state;

/**
 * Creates a pending future that you settle with weft_future_resolve() or
 * weft_future_fail().
 * @param out receives the future, with one reference for the caller;
 *        untouched on error.
 * @return 0; EINVAL if `out` is NULL; ENOMEM.
 */
WEFT_API int weft_future_create(weft_future **out);

/**
 * Settles `f` with `value` and wakes everything waiting for it.
 * @param f a pending future made by weft_future_create().
 * @param value the value its readers get; weft does not own it.
 * @return 0; EINVAL if `f` is NULL or a task (a task is settled by its
 *         coroutine); EALREADY if it has already settled (nothing changes).
 */
WEFT_API int weft_future_resolve(weft_future *f, void *value);

/**
 * Settles `f` as failed with `err` (a positive errno value) and wakes
 * everything waiting for it.
 * @param f a pending future made by weft_future_create().
 * @param err the error its readers get, a positive errno value.
 * @return 0; EINVAL if `f` is NULL, a task, or `err` is not positive;
 *         EALREADY if it has already settled.
 */
WEFT_API int weft_future_fail(weft_future *f, int err);

/**
 * Takes one more reference to `f`, to be dropped with weft_future_release().
 * @param f a future the caller holds a reference to (or borrows, as
 *        weft_task_current()'s).
 * @return 0; EINVAL if `f` is NULL or released.
 */
WEFT_API int weft_future_retain(weft_future *f);

/**
 * Drops one reference; the last one frees the future. Releasing a task's
 * last reference does not stop the task: it runs to completion (detached).
 * @param f a future of which the caller holds a reference, which it gives up.
 * @return 0; EINVAL if `f` is NULL or already released.
 */
WEFT_API int weft_future_release(weft_future *f);

/**
 * Where `f` stands now, without waiting.
 * @param f a future, or NULL.
 * @return its state; WEFT_FUTURE_INVALID if `f` is NULL or released.
 */
WEFT_API weft_future_state weft_future_status(const weft_future *f);

/**
 * Reads a settled future without waiting.
 * @param f the future.
 * @param value receives the value if it resolved (NULL otherwise); may be NULL.
 * @return 0 if it resolved; its error if it failed; EAGAIN if it is still
 *         pending; EINVAL if `f` is NULL or released.
 */
WEFT_API int weft_future_result(const weft_future *f, void **value);

/**
 * Continuation for weft_future_then(): called with the input's value when
 * the input resolves. It sets `*result` and returns 0 to resolve the output
 * with it, or returns a positive errno to fail the output.
 */
typedef int (*weft_then_fn)(void *arg, void *value, void **result);

/**
 * Chains `fn` after `in`: when `in` resolves, `fn(arg, value, &result)` runs
 * and its outcome settles the new future `*out`. If `in` fails, `fn` does
 * not run and `*out` fails with the same error (errors propagate along
 * chains). If `out` is cancelled first, `fn` does not run.
 *
 * `fn` runs on whichever thread settles `in` (at once, if `in` has already
 * settled): keep it short, and do not await or block in it; spawn a task
 * from it for longer work. Chains of any length settle without deep
 * recursion.
 * @param in the input future; borrowed.
 * @param fn the continuation.
 * @param arg passed to `fn` as is.
 * @param out receives the output future, with one reference for the
 *        caller; untouched on error.
 * @return 0; EINVAL if `in`, `fn` or `out` is NULL; ENOMEM.
 */
WEFT_API int weft_future_then(weft_future *in, weft_then_fn fn, void *arg,
                              weft_future **out);

/**
 * A future that resolves (with value NULL) when all `n` inputs have
 * resolved, or fails with the first error as soon as one input fails.
 * Read each input's own value with weft_future_result(). n = 0 resolves at once.
 * @param in an array of `n` futures, borrowed; the array is read during
 *        the call only.
 * @param n how many inputs.
 * @param out receives the output future, with one reference for the
 *        caller; untouched on error.
 * @return 0; EINVAL if `out` is NULL, or `in` is NULL with n > 0, or an
 *         input is NULL; ENOMEM.
 */
WEFT_API int weft_future_all(weft_future *const *in, size_t n, weft_future **out);

/**
 * A future that resolves with the value of the first of the `n` inputs to
 * resolve, or, if every input fails, fails with the last error.
 * @param in an array of `n` futures, borrowed; the array is read during
 *        the call only.
 * @param n how many inputs; at least 1.
 * @param out receives the output future, with one reference for the
 *        caller; untouched on error.
 * @return 0; EINVAL if `out` or `in` is NULL, n is 0, or an input is NULL; ENOMEM.
 */
WEFT_API int weft_future_any(weft_future *const *in, size_t n, weft_future **out);

/**
 * Waits for `f` to settle and reads it.
 *
 * Inside a coroutine of a runtime it suspends the coroutine (its worker
 * runs other work) — no switch at all if `f` has already settled. On any
 * other thread it blocks that thread (no spinning) until `f` settles.
 *
 * A task of the same runtime that has not started yet is run right here,
 * on the caller's stack (without a deadline only): the call then returns
 * when that task's function does, even if the caller is cancelled
 * meanwhile — the cancel shows at the caller's next wait. A task that
 * must stay cancellable with its awaiter should be awaited once it has
 * started, or with a deadline (weft_await_until()).
 * @param f the future or task to wait for; borrowed.
 * @param value receives the value if it resolved; may be NULL.
 * @return 0 if `f` resolved; its error if it failed; ECANCELED if the
 *         calling task is cancelled (before or while waiting); EINVAL if `f`
 *         is NULL or released; EDEADLK if a task awaits itself; EPERM if
 *         called inside a standalone coroutine (weft_coro) running on a
 *         runtime's worker, which cannot suspend the task below it.
 */
WEFT_API int weft_await(weft_future *f, void **value);

/**
 * weft_await() and then weft_future_release(): waits for `f` to settle,
 * reads it and gives up the caller's reference — the end of a child's
 * handle in fork-join code, as Tokio's `handle.await` or Boost.Fiber's
 * `join()` ends theirs.
 *
 * Faster than the two calls for a task that has not started: it is run
 * inline (as weft_await() runs it) and its memory goes straight back to
 * the worker, with no reference counting on the way.
 *
 * Callable where weft_await() is, with the same waits and errors. The
 * reference is given up whatever it returns, except EINVAL: when the
 * calling task is cancelled while it waits, it returns ECANCELED and a
 * task `f` runs on, detached, as after weft_future_release().
 * @param f the future or task to wait for; the caller's reference to it
 *        is consumed.
 * @param value receives the value if it resolved; may be NULL.
 * @return as weft_await(): 0 if `f` resolved; its error if it failed;
 *         ECANCELED, EDEADLK, EPERM, ENOMEM (a plain thread could not set
 *         up its wait) as there; EINVAL if `f` is NULL or released (then
 *         nothing is released).
 */
WEFT_API int weft_join(weft_future *f, void **value);

/**
 * Cancels `f`. A plain future (or a combinator's output) that is pending
 * fails with ECANCELED. A task that has not started never starts and fails
 * with ECANCELED. A running task is asked to stop: its next weft_await() or
 * weft_yield() — or the one it is suspended in — returns ECANCELED, and
 * what the task returns after that settles it (cooperative, as asyncio's
 * CancelledError).
 *
 * Callable from anywhere. On a runtime of one worker, cancelling a task
 * that has not started from outside that worker costs a membarrier(2)
 * system call (1-50 us on a virtual machine): that worker claims its
 * tasks without an atomic read-modify-write, and the rare canceller pays
 * for both.
 * @param f the future or task to cancel; borrowed.
 * @return 0; EINVAL if `f` is NULL; EALREADY if `f` has already settled.
 */
WEFT_API int weft_cancel(weft_future *f);

WEFT__EXTERN_C_END

#endif /* WEFT_FUTURE_H */
