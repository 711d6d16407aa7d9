/* weft — time: the clock, sleeping, and deadlines on waits. */
#ifndef WEFT_TIME_H
#define WEFT_TIME_H

#include <stdint.h>

#include "weft/common.h"
#include "weft/future.h"

WEFT__EXTERN_C_BEGIN

/**
 * @file weft/time.h
 * @brief The clock (weft_now()), sleeping coroutines (weft_sleep(),
 * weft_sleep_until()) and a deadline on waiting for a future
 * (weft_await_until()), which every blocking operation of weft/chan.h and
 * weft/sync.h builds on.
 *
 * Times are nanoseconds of CLOCK_MONOTONIC, as weft_now() returns them. A
 * deadline is such a time; #WEFT_NO_DEADLINE waits for ever. A deadline in
 * the past is allowed: the operation still succeeds if it can without
 * waiting, else it returns ETIMEDOUT without waiting for anything else —
 * at once if this thread's last weft_now() was already past the deadline
 * (the primitives of weft/chan.h and weft/sync.h check so before they
 * wait), otherwise when its worker next looks at its timers.
 *
 * A sleeping or waiting coroutine costs no CPU: timers live with the
 * workers (a heap per worker), and an idle worker sleeps until its next
 * timer is due. A timer fires at its deadline or later, never earlier; how
 * much later depends on how busy the workers are — a worker looks at its
 * timers whenever it picks the next task, and idle workers look at every
 * worker's timers.
 */

/** The deadline that never comes: wait for ever. */
#define WEFT_NO_DEADLINE UINT64_MAX

/**
 * The current time. Callable from anywhere.
 * @return nanoseconds of CLOCK_MONOTONIC: the clock of every deadline.
 */
WEFT_API uint64_t weft_now(void);

/**
 * Suspends the calling coroutine until weft_now() >= `deadline` (its
 * worker runs other coroutines meanwhile). On a plain thread it blocks the
 * thread (clock_nanosleep).
 * @param deadline a time of weft_now(); #WEFT_NO_DEADLINE sleeps until
 *        cancelled (a plain thread: EINVAL).
 * @return 0 when the deadline has come; ECANCELED if the calling task is
 *         cancelled (before or while sleeping); EPERM inside a standalone
 *         coroutine (weft_coro) running on a runtime's worker; ENOMEM.
 *         A plain thread's sleep is not cut short by signals.
 */
WEFT_API int weft_sleep_until(uint64_t deadline);

/**
 * weft_sleep_until(weft_now() + ns), saturating. weft_sleep(0) returns at
 * once (use weft_yield() to let others run).
 * @param ns how long, in nanoseconds.
 * @return as weft_sleep_until().
 */
WEFT_API int weft_sleep(uint64_t ns);

/**
 * weft_await() with a deadline: waits for `f` to settle, or until
 * weft_now() >= `deadline`, whichever is first. Giving up leaves `f` as it
 * was (it is not cancelled; await it again, or cancel it).
 *
 * Callable as weft_await(): inside a coroutine it suspends the coroutine,
 * on a plain thread it blocks the thread.
 * @param f the future or task to wait for; borrowed.
 * @param deadline a time of weft_now(), or #WEFT_NO_DEADLINE.
 * @param value receives the value if it resolved; may be NULL.
 * @return as weft_await(), plus ETIMEDOUT if the deadline came first (an
 *         `f` that has already settled is read even past the deadline).
 *         Unlike weft_await(), a task that has not started is never run
 *         inline on the caller's stack when there is a deadline (it could
 *         not be interrupted): the caller suspends and the task runs on its
 *         own.
 */
WEFT_API int weft_await_until(weft_future *f, uint64_t deadline, void **value);

WEFT__EXTERN_C_END

#endif /* WEFT_TIME_H */
