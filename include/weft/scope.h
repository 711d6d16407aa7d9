/* weft — scopes: structured concurrency (a nursery, an errgroup). */
#ifndef WEFT_SCOPE_H
#define WEFT_SCOPE_H

#include <stdint.h>

#include "weft/common.h"
#include "weft/future.h"
#include "weft/runtime.h"
#include "weft/time.h"

WEFT__EXTERN_C_BEGIN

/**
 * @file weft/scope.h
 * @brief Scopes: a group of child tasks that is left only when every child
 * has finished, where the first failure cancels the rest (Trio's nursery,
 * Go's errgroup).
 *
 * @code
 * weft_scope *s;
 * weft_scope_create(&s, NULL);             // on the caller's runtime
 * weft_scope_spawn(s, fetch, url1, NULL);
 * weft_scope_spawn(s, fetch, url2, NULL);
 * int err = weft_scope_join(s);            // waits for both; frees s
 * @endcode
 *
 * Children. A child's body is a #weft_scope_fn: it returns 0 when it
 * succeeded, or a positive errno value when it failed.
 *
 * Failure. The first failure — a child returning non-zero, a child that
 * could not run at all (cancelled before it started, no stack), or a call to
 * weft_scope_fail() or weft_scope_cancel() — is the scope's error. It
 * cancels every other child (weft_cancel(): the blocking call a child is
 * in, or its next one, returns ECANCELED; a child that has not started
 * yet never runs its body), and weft_scope_spawn() is refused from then on.
 * Later failures (typically the cancelled children returning ECANCELED)
 * do not replace the first error.
 *
 * Leaving. weft_scope_join() waits for every child — including children
 * spawned by children while it waits — then frees the scope and returns
 * its error. If the task calling it is cancelled, it cancels the scope and
 * still waits for every child before returning: nothing outlives the
 * scope. Scopes nest: a child may open its own scope; cancelling the child
 * cancels that inner scope when the child reaches its join.
 *
 * Threads: every function here is callable from any thread, inside a
 * coroutine or not, unless it says otherwise. Ownership: the creator
 * owns the scope until a join frees it (weft_scope_join(), or a
 * weft_scope_join_until() that did not time out); no call on the scope may
 * start after that (children are done by then; a thread that is no child
 * must not race the join).
 */

/** A scope (opaque). */
typedef struct weft_scope weft_scope;

/**
 * A scope child's body: `arg` as given to weft_scope_spawn(); returns 0 on
 * success or a positive errno value on failure (which cancels its
 * siblings). A child that sees ECANCELED from a blocking call should
 * return (ECANCELED, or any error) soon.
 */
typedef int (*weft_scope_fn)(void *arg);

/**
 * Creates an empty scope whose children run on `rt`.
 * @param out receives the scope; untouched on error.
 * @param rt the runtime the children run on; NULL: the calling coroutine's.
 * @return 0; EINVAL if `out` is NULL; EPERM if `rt` is NULL outside any
 *         runtime's coroutine; ENOMEM.
 */
WEFT_API int weft_scope_create(weft_scope **out, weft_runtime *rt);

/**
 * Starts `fn(arg)` as a child task of the scope (on the calling worker's
 * queue if the caller is a coroutine of the scope's runtime, as
 * weft_spawn(); else through weft_runtime_spawn()).
 * @param s the scope.
 * @param fn the child's body.
 * @param arg passed to `fn` as is.
 * @param task receives the child's task, with one reference for the caller
 *        (a future of `(void *)(intptr_t)` the body's status; the scope
 *        keeps its own reference); NULL if not wanted.
 * @return 0; ECANCELED if the scope has failed or been cancelled (nothing
 *         was started); EINVAL if `s` or `fn` is NULL; ESHUTDOWN; ENOMEM.
 */
WEFT_API int weft_scope_spawn(weft_scope *s, weft_scope_fn fn, void *arg, weft_future **task);

/**
 * Fails the scope with `err` if it has no error yet, and cancels every
 * child (as the first failing child does) — except the caller, when a
 * child calls it: that child goes on, and should return soon.
 * @param s the scope.
 * @param err the error, a positive errno value.
 * @return 0; EALREADY if the scope already had an error (it keeps it; the
 *         children are cancelled all the same); EINVAL if `s` is NULL or
 *         `err` is not positive.
 */
WEFT_API int weft_scope_fail(weft_scope *s, int err);

/**
 * Cancels the scope: weft_scope_fail(s, ECANCELED).
 * @param s the scope.
 * @return as weft_scope_fail().
 */
WEFT_API int weft_scope_cancel(weft_scope *s);

/**
 * Leaves the scope: waits until every child has finished, frees the scope
 * and returns its error. If the calling task is cancelled meanwhile, the
 * scope is cancelled and the wait goes on (it is not cancellable).
 * Call it exactly once, from the scope's owner, never from one of its
 * children.
 * @param s the scope; freed on return (except on EINVAL, EBUSY, EDEADLK).
 * @return 0 if every child succeeded; else the scope's first error (a
 *         child's status, ECANCELED after weft_scope_cancel() or a cancel
 *         of the joining task, a weft_scope_fail() error); EINVAL if `s`
 *         is NULL; EBUSY if a join is already under way; EDEADLK if called
 *         from one of the scope's own children (nothing happens).
 */
WEFT_API int weft_scope_join(weft_scope *s);

/**
 * weft_scope_join() with a deadline. If every child has finished by
 * `deadline` it is weft_scope_join(): the scope is freed and its error
 * returned. If not, it returns ETIMEDOUT and leaves the scope **joinable**:
 * not freed, not cancelled, its children still running (and may still
 * spawn). The owner must then join it again — typically
 * weft_scope_cancel() and weft_scope_join(), or another
 * weft_scope_join_until() — since nothing may outlive the scope. If the
 * calling task is cancelled while it waits, the scope is cancelled as in
 * weft_scope_join(), and the wait for the children goes on only until
 * `deadline` (the cancelled children may not have finished yet when it
 * returns ETIMEDOUT).
 * @param s the scope; freed on return except on ETIMEDOUT, EINVAL, EBUSY
 *        and EDEADLK.
 * @param deadline a time of weft_now(); #WEFT_NO_DEADLINE is
 *        weft_scope_join(); a past one joins only a scope whose children
 *        have all finished.
 * @return as weft_scope_join(), plus ETIMEDOUT: a child was still running
 *         at the deadline; the scope is still there, to be joined again.
 */
WEFT_API int weft_scope_join_until(weft_scope *s, uint64_t deadline);

WEFT__EXTERN_C_END

#endif /* WEFT_SCOPE_H */
