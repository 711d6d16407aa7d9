/* weft — mutex, condition variable, semaphore, wait group and event that
 * suspend the calling coroutine (never its worker thread). */
#ifndef WEFT_SYNC_H
#define WEFT_SYNC_H

#include <stdint.h>

#include "weft/common.h"
#include "weft/time.h"

WEFT__EXTERN_C_BEGIN

/**
 * @file weft/sync.h
 * @brief Coroutine-aware synchronisation: weft_mutex, weft_cond, weft_sem,
 * weft_waitgroup, weft_event.
 *
 * Every function here is callable from any thread: inside a coroutine of a
 * runtime, a call that must wait suspends the coroutine, and its worker
 * runs other tasks meanwhile; on any other thread (main, a pthread), it
 * blocks the thread. The two kinds of callers may share one object. A
 * task waits without allocating (its wait record lives on its own stack;
 * a timed wait may grow its worker's timer heap), so ENOMEM from a wait is
 * a thread's, or a timed wait's.
 *
 * Waiters are served in FIFO order: a released mutex, a semaphore unit or a
 * condition signal goes to the longest waiter, so none starves.
 *
 * Cancellation. A task blocked in a wait (weft_mutex_lock(), weft_cond_wait(),
 * weft_sem_acquire(), weft_waitgroup_wait(), weft_event_wait()) that is
 * cancelled (weft_cancel()) returns ECANCELED and leaves no trace in the
 * object: it holds no lock, took no unit. If the wait is satisfied at the
 * moment the cancel arrives, it returns 0 (the lock is held, the unit
 * taken), and the task sees ECANCELED at its next blocking call. A call
 * that needs no waiting succeeds even in a cancelled task.
 *
 * Deadlines. Each wait has an `_until` twin (weft_mutex_lock_until(),
 * weft_cond_wait_until(), weft_sem_acquire_until(),
 * weft_waitgroup_wait_until(), weft_event_wait_until()) that gives up when
 * weft_now() reaches its deadline, with ETIMEDOUT, leaving no trace exactly
 * as a cancel does: no lock held, no unit taken, no auto-reset event
 * consumed, no signal swallowed. If the wait is satisfied at the moment
 * the deadline comes, it returns 0. A deadline already past makes the call
 * its try-operation (ETIMEDOUT instead of EBUSY or EAGAIN). The plain wait
 * is its `_until` twin with #WEFT_NO_DEADLINE.
 *
 * Ownership: each object is created with its `_create` function and freed
 * with its `_destroy`, once no call on it is in progress or can start —
 * with one allowance, as POSIX makes for its condition variables: once
 * nobody waits any more, a waiter that a broadcast, a wait group's zero or
 * an event's set woke may destroy the object while that call is still
 * returning; the destroy then waits (for about one batch of wake-ups).
 * Waiting where waiting is impossible — inside a standalone coroutine
 * (weft_coro) driven on a worker, or in a weft_future_then() callback —
 * fails with EPERM, as weft_await() does.
 */

/* ---- mutex -------------------------------------------------------------------- */

/**
 * A mutual-exclusion lock (opaque). Uncontended, taking and releasing it is
 * one compare-and-swap each: no system call, no switch, no allocation.
 * Contended, waiters queue in FIFO order and an unlock hands the mutex
 * directly to the longest waiter (no barging, no starvation). Not
 * recursive; any thread or task may unlock a locked mutex (it does not
 * record its owner).
 */
typedef struct weft_mutex weft_mutex;

/**
 * Creates an unlocked mutex.
 * @param out receives the mutex; untouched on error.
 * @return 0; EINVAL if `out` is NULL; ENOMEM.
 */
WEFT_API int weft_mutex_create(weft_mutex **out);

/**
 * Frees an unlocked mutex that nobody waits for.
 * @param m the mutex; freed on success.
 * @return 0; EINVAL if `m` is NULL; EBUSY if it is locked or has waiters
 *         (nothing is freed).
 */
WEFT_API int weft_mutex_destroy(weft_mutex *m);

/**
 * Locks `m`, waiting (in FIFO order) while another holds it.
 * @param m the mutex.
 * @return 0: the caller holds `m`; ECANCELED if the calling task was
 *         cancelled while waiting (it does not hold `m`); ENOMEM (nothing to
 *         wait with); EPERM where waiting is impossible; EINVAL if `m` is
 *         NULL. Locking a mutex one already holds waits for ever (or until
 *         cancelled): it is not recursive.
 */
WEFT_API int weft_mutex_lock(weft_mutex *m);

/**
 * weft_mutex_lock() with a deadline: gives up when weft_now() reaches
 * `deadline` before the mutex was handed over.
 * @param m the mutex.
 * @param deadline a time of weft_now(); #WEFT_NO_DEADLINE is
 *        weft_mutex_lock(); a past one locks only a free mutex (as
 *        weft_mutex_trylock()).
 * @return as weft_mutex_lock(), plus ETIMEDOUT: the caller does not hold
 *         `m`, and the next unlock hands it to the next waiter.
 */
WEFT_API int weft_mutex_lock_until(weft_mutex *m, uint64_t deadline);

/**
 * Locks `m` if it is free, without waiting.
 * @param m the mutex.
 * @return 0: the caller holds `m`; EBUSY if it is held (or handed to a
 *         waiter); EINVAL if `m` is NULL.
 */
WEFT_API int weft_mutex_trylock(weft_mutex *m);

/**
 * Unlocks `m`; if tasks or threads wait for it, the longest waiter now
 * holds it and is woken.
 * @param m the mutex, locked.
 * @return 0; EPERM if `m` is not locked; EINVAL if `m` is NULL.
 */
WEFT_API int weft_mutex_unlock(weft_mutex *m);

/* ---- condition variable -------------------------------------------------------------- */

/**
 * A condition variable (opaque), used with a weft_mutex. Wake-ups may be
 * spurious: always wait in a loop that re-checks the predicate under the
 * mutex:
 * @code
 * weft_mutex_lock(m);
 * while (!ready) {
 *   int rc = weft_cond_wait(c, m);  // unlocks m while waiting, re-locks it
 *   if (rc) break;                  // ECANCELED: m is held all the same
 * }
 * ... use the state ...
 * weft_mutex_unlock(m);
 * @endcode
 */
typedef struct weft_cond weft_cond;

/**
 * Creates a condition variable.
 * @param out receives it; untouched on error.
 * @return 0; EINVAL if `out` is NULL; ENOMEM.
 */
WEFT_API int weft_cond_create(weft_cond **out);

/**
 * Frees a condition variable nobody waits on.
 * @param c the condition variable; freed on success.
 * @return 0; EINVAL if `c` is NULL; EBUSY if someone waits on it.
 */
WEFT_API int weft_cond_destroy(weft_cond *c);

/**
 * Atomically unlocks `m` and waits for a signal on `c`, then locks `m`
 * again before returning — whatever it returns, except EINVAL and EPERM.
 * @param c the condition variable.
 * @param m a mutex the caller holds.
 * @return 0 when signalled (or spuriously); ECANCELED if the calling task
 *         was cancelled while waiting (`m` is held again; re-taking it is
 *         not cancellable); ENOMEM (`m` was not released); EPERM if `m` is
 *         not locked, or where waiting is impossible (`m` is held); EINVAL
 *         if `c` or `m` is NULL.
 */
WEFT_API int weft_cond_wait(weft_cond *c, weft_mutex *m);

/**
 * weft_cond_wait() with a deadline, as pthread_cond_timedwait(): gives up
 * waiting for a signal when weft_now() reaches `deadline`, and then still
 * re-locks `m` before returning (that re-lock has no deadline: it waits
 * for the mutex as long as it takes, so the call can return later than
 * `deadline`).
 * @param c the condition variable.
 * @param m a mutex the caller holds.
 * @param deadline a time of weft_now(); #WEFT_NO_DEADLINE is
 *        weft_cond_wait(); a past one returns ETIMEDOUT at once, `m` never
 *        released.
 * @return as weft_cond_wait(), plus ETIMEDOUT: no signal was taken (a
 *         concurrent signal goes to another waiter), and `m` is held
 *         again. Re-check the predicate: it may have become true anyway.
 */
WEFT_API int weft_cond_wait_until(weft_cond *c, weft_mutex *m, uint64_t deadline);

/**
 * Wakes the longest waiter on `c`, if any. Call it with or without the
 * mutex held (holding it makes the predicate change and the signal one
 * step for the waiter).
 * @param c the condition variable.
 * @return 0; EINVAL if `c` is NULL.
 */
WEFT_API int weft_cond_signal(weft_cond *c);

/**
 * Wakes every task and thread waiting on `c` when the call starts.
 * @param c the condition variable.
 * @return 0; EINVAL if `c` is NULL.
 */
WEFT_API int weft_cond_broadcast(weft_cond *c);

/* ---- semaphore ---------------------------------------------------------------------- */

/**
 * A counting semaphore (opaque): acquire takes a unit, waiting (FIFO) while
 * there is none; release gives one back, straight to the longest waiter if
 * there is one.
 */
typedef struct weft_sem weft_sem;

/**
 * Creates a semaphore holding `initial` units.
 * @param out receives it; untouched on error.
 * @param initial the units it starts with.
 * @return 0; EINVAL if `out` is NULL; ENOMEM.
 */
WEFT_API int weft_sem_create(weft_sem **out, unsigned initial);

/**
 * Frees a semaphore nobody waits on (the units it holds do not matter).
 * @param s the semaphore; freed on success.
 * @return 0; EINVAL if `s` is NULL; EBUSY if someone waits on it.
 */
WEFT_API int weft_sem_destroy(weft_sem *s);

/**
 * Takes one unit, waiting while there is none.
 * @param s the semaphore.
 * @return 0: a unit was taken; ECANCELED if the calling task was cancelled
 *         while waiting (no unit was taken); ENOMEM; EPERM where waiting is
 *         impossible; EINVAL if `s` is NULL.
 */
WEFT_API int weft_sem_acquire(weft_sem *s);

/**
 * weft_sem_acquire() with a deadline: gives up when weft_now() reaches
 * `deadline` before a unit came.
 * @param s the semaphore.
 * @param deadline a time of weft_now(); #WEFT_NO_DEADLINE is
 *        weft_sem_acquire(); a past one takes a unit only if there is one
 *        (as weft_sem_try_acquire()).
 * @return as weft_sem_acquire(), plus ETIMEDOUT: no unit was taken (the
 *         count is as if the call had not been made).
 */
WEFT_API int weft_sem_acquire_until(weft_sem *s, uint64_t deadline);

/**
 * Takes one unit if there is one, without waiting.
 * @param s the semaphore.
 * @return 0: a unit was taken; EAGAIN if there was none; EINVAL if `s` is NULL.
 */
WEFT_API int weft_sem_try_acquire(weft_sem *s);

/**
 * Gives back one unit: to the longest waiter if there is one, else to the
 * semaphore.
 * @param s the semaphore.
 * @return 0; EOVERFLOW if it already holds UINT_MAX units (nothing
 *         changes); EINVAL if `s` is NULL.
 */
WEFT_API int weft_sem_release(weft_sem *s);

/**
 * The units the semaphore holds now (a snapshot). Callable from anywhere.
 * @param s the semaphore, or NULL.
 * @return the count; 0 if `s` is NULL.
 */
WEFT_API unsigned weft_sem_value(const weft_sem *s);

/* ---- wait group ----------------------------------------------------------------------- */

/**
 * A wait group (opaque), as Go's sync.WaitGroup: a counter of outstanding
 * work; weft_waitgroup_wait() waits until it is zero. Add before starting
 * the work it counts (not from inside that work), and call
 * weft_waitgroup_done() once per unit. To reuse a wait group, let every
 * wait of the previous round return before adding again.
 */
typedef struct weft_waitgroup weft_waitgroup;

/**
 * Creates a wait group with a count of zero.
 * @param out receives it; untouched on error.
 * @return 0; EINVAL if `out` is NULL; ENOMEM.
 */
WEFT_API int weft_waitgroup_create(weft_waitgroup **out);

/**
 * Frees a wait group nobody waits on.
 * @param wg the wait group; freed on success.
 * @return 0; EINVAL if `wg` is NULL; EBUSY if someone waits on it.
 */
WEFT_API int weft_waitgroup_destroy(weft_waitgroup *wg);

/**
 * Adds `delta` (which may be negative) to the count; when it reaches zero,
 * every waiter is woken.
 * @param wg the wait group.
 * @param delta the change.
 * @return 0; EINVAL if `wg` is NULL or the count would go below zero;
 *         EOVERFLOW if it would exceed LONG_MAX (nothing changes on error).
 */
WEFT_API int weft_waitgroup_add(weft_waitgroup *wg, long delta);

/**
 * weft_waitgroup_add(wg, -1): one unit of work is finished.
 * @param wg the wait group.
 * @return as weft_waitgroup_add().
 */
WEFT_API int weft_waitgroup_done(weft_waitgroup *wg);

/**
 * Waits until the count is zero (returns at once if it is).
 * @param wg the wait group.
 * @return 0; ECANCELED if the calling task was cancelled while waiting;
 *         ENOMEM; EPERM where waiting is impossible; EINVAL if `wg` is NULL.
 */
WEFT_API int weft_waitgroup_wait(weft_waitgroup *wg);

/**
 * weft_waitgroup_wait() with a deadline: gives up when weft_now() reaches
 * `deadline` before the count was zero.
 * @param wg the wait group.
 * @param deadline a time of weft_now(); #WEFT_NO_DEADLINE is
 *        weft_waitgroup_wait(); a past one only checks the count.
 * @return as weft_waitgroup_wait(), plus ETIMEDOUT: the count was not
 *         seen at zero (the work goes on; wait again, or stop it).
 */
WEFT_API int weft_waitgroup_wait_until(weft_waitgroup *wg, uint64_t deadline);

/* ---- event ------------------------------------------------------------------------------ */

/**
 * An event (opaque): a flag that tasks and threads wait to see set.
 * - default (flags 0): **manual reset** — weft_event_set() wakes every
 *   waiter and the event stays set (later waits return at once) until
 *   weft_event_reset();
 * - #WEFT_EVENT_ONESHOT: as the default, but once set it stays set for
 *   ever (weft_event_reset() fails): a latch, or a "done" signal;
 * - #WEFT_EVENT_AUTO_RESET: each weft_event_set() lets exactly one wait
 *   through — the longest waiter, or else the next call to wait — and the
 *   event resets itself.
 */
typedef struct weft_event weft_event;

/** weft_event_create() flag: once set, the event can never be reset. */
#define WEFT_EVENT_ONESHOT 1
/** weft_event_create() flag: each set releases one waiter, then the event resets itself. */
#define WEFT_EVENT_AUTO_RESET 2

/**
 * Creates an event, not set.
 * @param out receives it; untouched on error.
 * @param flags 0, #WEFT_EVENT_ONESHOT or #WEFT_EVENT_AUTO_RESET.
 * @return 0; EINVAL if `out` is NULL or `flags` is invalid (both, or
 *         unknown bits); ENOMEM.
 */
WEFT_API int weft_event_create(weft_event **out, int flags);

/**
 * Frees an event nobody waits on.
 * @param e the event; freed on success.
 * @return 0; EINVAL if `e` is NULL; EBUSY if someone waits on it.
 */
WEFT_API int weft_event_destroy(weft_event *e);

/**
 * Sets the event. Manual reset and one-shot: every waiter is woken, and
 * waits return at once until a reset. Auto reset: the longest waiter is
 * woken (the event stays unset), or if none waits the event stays set until
 * one wait consumes it; setting a set event changes nothing.
 * @param e the event.
 * @return 0; EINVAL if `e` is NULL.
 */
WEFT_API int weft_event_set(weft_event *e);

/**
 * Clears the event: waits wait again until the next weft_event_set().
 * @param e the event.
 * @return 0; EPERM if it is a #WEFT_EVENT_ONESHOT event; EINVAL if `e` is NULL.
 */
WEFT_API int weft_event_reset(weft_event *e);

/**
 * Waits until the event is set (returns at once if it is; an auto-reset
 * event is consumed).
 * @param e the event.
 * @return 0; ECANCELED if the calling task was cancelled while waiting
 *         (an auto-reset event was not consumed); ENOMEM; EPERM where
 *         waiting is impossible; EINVAL if `e` is NULL.
 */
WEFT_API int weft_event_wait(weft_event *e);

/**
 * weft_event_wait() with a deadline: gives up when weft_now() reaches
 * `deadline` before the event was set.
 * @param e the event.
 * @param deadline a time of weft_now(); #WEFT_NO_DEADLINE is
 *        weft_event_wait(); a past one only checks (or, auto reset,
 *        consumes) as weft_event_try_wait().
 * @return as weft_event_wait(), plus ETIMEDOUT: the event was not seen set
 *         (an auto-reset event was not consumed: a set at that moment goes
 *         to another waiter, or stays set).
 */
WEFT_API int weft_event_wait_until(weft_event *e, uint64_t deadline);

/**
 * Consumes (auto reset) or checks the event without waiting.
 * @param e the event.
 * @return 0 if it was set (an auto-reset event is now unset); EAGAIN if
 *         not; EINVAL if `e` is NULL.
 */
WEFT_API int weft_event_try_wait(weft_event *e);

WEFT__EXTERN_C_END

#endif /* WEFT_SYNC_H */
