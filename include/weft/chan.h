/* weft — channels: typed-by-convention pipes of pointers between
 * coroutines and threads, and select over several of them. */
#ifndef WEFT_CHAN_H
#define WEFT_CHAN_H

#include <stdint.h>

#include "weft/common.h"
#include "weft/time.h"

WEFT__EXTERN_C_BEGIN

/**
 * @file weft/chan.h
 * @brief Channels (Go's `chan`): FIFO queues of `void *` values that
 * coroutines and threads send into and receive from, blocking when they
 * must wait — and weft_select() to wait on several at once.
 *
 * Kinds, by capacity at weft_chan_create():
 * - **unbuffered** (0): a send waits for a receiver and hands its value
 *   over directly (a rendezvous);
 * - **bounded** (N >= 1): up to N values wait in the channel; a send waits
 *   only when it is full, a receive only when it is empty;
 * - **unbounded** (#WEFT_CHAN_UNBOUNDED): a send never waits (it may fail
 *   with ENOMEM); a receive waits when it is empty.
 *
 * Values are opaque pointers, delivered in the order they were sent, each
 * to exactly one receiver; weft never frees them.
 *
 * Blocking. Inside a coroutine of a runtime, a blocking call suspends the
 * coroutine (its worker runs other tasks); on any other thread it blocks
 * the thread. A task waits without allocating (its wait record lives on
 * its own stack; a timed wait may grow its worker's timer heap, a select
 * of more than 8 cases takes scratch memory); a thread allocates a future
 * per wait. Waiters are served first come, first
 * served. A blocked task
 * that is cancelled (weft_cancel()) returns ECANCELED and leaves no trace:
 * a send's value is not delivered, a receive takes nothing. If the
 * operation completes at the moment the cancel arrives, it reports success
 * instead, and the task sees ECANCELED at its next blocking call. An
 * operation that completes without waiting succeeds even in a cancelled
 * task.
 *
 * Deadlines. Each blocking call has an `_until` twin that gives up at a
 * deadline (a weft_now() time; #WEFT_NO_DEADLINE: never) with ETIMEDOUT,
 * leaving no trace exactly as a cancel does: a timed-out send delivered
 * nothing, a timed-out receive took nothing. If the operation completes at
 * the moment the deadline comes, it reports success. A deadline already
 * past makes the call a try (ETIMEDOUT instead of EAGAIN). The plain call
 * is its `_until` twin with #WEFT_NO_DEADLINE.
 *
 * Closing. weft_chan_close() says no more values will come: sends after it
 * fail with EPIPE (the value is not taken), blocked senders are woken with
 * EPIPE, and receivers first drain the values already in the channel, then
 * get #WEFT_CLOSED (blocked receivers are woken with it).
 *
 * Ownership: whoever creates a channel destroys it with weft_chan_destroy(),
 * once no call on it is in progress or can still start — typically after
 * the producers closed it and the consumers saw #WEFT_CLOSED. Every
 * function here is callable from any thread, inside a coroutine or not.
 */

/** A channel (opaque). */
typedef struct weft_chan weft_chan;

/** Capacity for weft_chan_create(): a channel that never fills. */
#define WEFT_CHAN_UNBOUNDED ((size_t)-1)

/**
 * Creates a channel.
 * @param out receives the channel; untouched on error.
 * @param capacity 0 for unbuffered, N for a buffer of N values, or
 *        #WEFT_CHAN_UNBOUNDED.
 * @param flags 0 (reserved for later use).
 * @return 0; EINVAL if `out` is NULL or `flags` is not 0; ENOMEM.
 */
WEFT_API int weft_chan_create(weft_chan **out, size_t capacity, int flags);

/**
 * Frees a channel and drops the values still buffered in it (weft does not
 * own them: drain the channel first if they need freeing).
 * Callable from anywhere, once no other call on `ch` is in progress — but
 * a receiver that weft_chan_close() woke may destroy the channel while
 * that close is still returning: the destroy then waits for it.
 * @param ch the channel; freed on success.
 * @return 0; EINVAL if `ch` is NULL; EBUSY if a sender or receiver is
 *         still blocked in it (nothing is freed).
 */
WEFT_API int weft_chan_destroy(weft_chan *ch);

/**
 * Sends `value`: hands it to a waiting receiver, or buffers it, or waits
 * until one of the two is possible.
 * @param ch the channel.
 * @param value the value, passed as is.
 * @return 0 when the value was delivered or buffered; EPIPE if the channel
 *         is (or becomes, while waiting) closed — the value was not taken;
 *         ECANCELED if the calling task was cancelled while waiting (the
 *         value was not taken); ENOMEM (an unbounded channel could not
 *         grow, or nothing to wait with); EINVAL if `ch` is NULL; EPERM if
 *         it would wait where waiting is impossible (see weft_await()).
 */
WEFT_API int weft_chan_send(weft_chan *ch, void *value);

/**
 * weft_chan_send() with a deadline: gives up when weft_now() reaches
 * `deadline` before the value could be delivered or buffered.
 * @param ch the channel.
 * @param value the value, passed as is.
 * @param deadline a time of weft_now(); #WEFT_NO_DEADLINE waits as long as
 *        weft_chan_send(); a past one sends only if that needs no waiting.
 * @return as weft_chan_send(), plus ETIMEDOUT: the deadline came first and
 *         the value was not taken (no receiver will ever see it; it is
 *         still the caller's).
 */
WEFT_API int weft_chan_send_until(weft_chan *ch, void *value, uint64_t deadline);

/**
 * Receives the next value, waiting for one if the channel is empty.
 * @param ch the channel.
 * @param value receives the value (NULL on any other outcome); may be NULL
 *        to drop it.
 * @return 0 with a value; #WEFT_CLOSED if the channel is closed and
 *         drained; ECANCELED if the calling task was cancelled while
 *         waiting (nothing was taken); ENOMEM; EINVAL if `ch` is NULL;
 *         EPERM as for weft_chan_send().
 */
WEFT_API int weft_chan_recv(weft_chan *ch, void **value);

/**
 * weft_chan_recv() with a deadline: gives up when weft_now() reaches
 * `deadline` before a value (or the close) came.
 * @param ch the channel.
 * @param deadline a time of weft_now(); #WEFT_NO_DEADLINE waits as long as
 *        weft_chan_recv(); a past one receives only what needs no waiting.
 * @param value receives the value (NULL on any other outcome); may be NULL.
 * @return as weft_chan_recv(), plus ETIMEDOUT: the deadline came first and
 *         nothing was taken (the next value goes to another receive).
 */
WEFT_API int weft_chan_recv_until(weft_chan *ch, uint64_t deadline, void **value);

/**
 * Sends `value` if that is possible without waiting.
 * @param ch the channel.
 * @param value the value, passed as is.
 * @return 0 when delivered or buffered; EAGAIN if it would have to wait
 *         (nothing was sent); EPIPE if the channel is closed; ENOMEM (an
 *         unbounded channel could not grow); EINVAL if `ch` is NULL.
 */
WEFT_API int weft_chan_try_send(weft_chan *ch, void *value);

/**
 * Receives a value if one is available without waiting.
 * @param ch the channel.
 * @param value receives the value (NULL on any other outcome); may be NULL.
 * @return 0 with a value; EAGAIN if it would have to wait; #WEFT_CLOSED if
 *         the channel is closed and drained; EINVAL if `ch` is NULL.
 */
WEFT_API int weft_chan_try_recv(weft_chan *ch, void **value);

/**
 * Closes the channel: no more sends; wakes every blocked sender (EPIPE) and
 * every blocked receiver (#WEFT_CLOSED). Values already buffered stay for
 * receivers to drain.
 * @param ch the channel.
 * @return 0; EPIPE if it was already closed; EINVAL if `ch` is NULL.
 */
WEFT_API int weft_chan_close(weft_chan *ch);

/**
 * How many values are buffered now (a snapshot). Callable from anywhere.
 * @param ch the channel, or NULL.
 * @return the count; 0 if `ch` is NULL or unbuffered.
 */
WEFT_API size_t weft_chan_len(const weft_chan *ch);

/** What a weft_select() case does. */
typedef enum weft_select_kind {
  WEFT_SELECT_SEND = 1, /**< send `value` into `chan` */
  WEFT_SELECT_RECV = 2  /**< receive from `chan` into `value` */
} weft_select_kind;

/** One case of weft_select(). */
typedef struct weft_select_op {
  /** The channel; NULL disables the case (it is never chosen), as Go's nil channel. */
  weft_chan *chan;
  /** WEFT_SELECT_SEND or WEFT_SELECT_RECV. */
  weft_select_kind kind;
  /** Send: the value to send. Receive: set to the value received (NULL if none). */
  void *value;
} weft_select_op;

/** weft_select() flag: do not wait; return EAGAIN if no case is ready (Go's `default:`). */
#define WEFT_SELECT_NONBLOCK 1

/**
 * Waits until one of `n` channel operations can proceed, performs exactly
 * that one, and says which. When several are ready, one is chosen at
 * random (no case is starved). A case is ready when its operation would
 * not wait: a receive from a non-empty or closed channel, a send to a
 * channel with a waiting receiver or room, or to a closed one.
 * @param ops the cases; a receive case's `value` is written.
 * @param n how many cases (at least 1).
 * @param flags 0, or #WEFT_SELECT_NONBLOCK.
 * @param index receives the chosen case (`n` if none was chosen).
 * @return the chosen operation's own outcome, as weft_chan_send() or
 *         weft_chan_recv() would return it: 0, #WEFT_CLOSED (a receive
 *         from a closed, drained channel), EPIPE (a send to a closed
 *         channel; the value was not taken). Or, with `*index` = `n`: EAGAIN
 *         (#WEFT_SELECT_NONBLOCK and nothing ready); ECANCELED (the calling
 *         task was cancelled while waiting; nothing happened); ENOMEM;
 *         EPERM (as weft_chan_send()); EINVAL if `ops` or `index` is NULL,
 *         `n` is 0, a kind is invalid, or — without #WEFT_SELECT_NONBLOCK —
 *         every case is disabled (it would wait for ever).
 */
WEFT_API int weft_select(weft_select_op *ops, size_t n, int flags, size_t *index);

/**
 * weft_select() with a deadline: waits until one case can proceed (and
 * performs it, exactly as weft_select()) or until weft_now() reaches
 * `deadline`, whichever is first. With #WEFT_SELECT_NONBLOCK the deadline
 * does not matter (EAGAIN if nothing is ready). With every case disabled it
 * waits for the deadline alone (a sleep that ends in ETIMEDOUT).
 * @param ops the cases; a receive case's `value` is written.
 * @param n how many cases (at least 1).
 * @param flags 0, or #WEFT_SELECT_NONBLOCK.
 * @param deadline a time of weft_now(); #WEFT_NO_DEADLINE is weft_select();
 *        a past one performs a ready case if there is one, else times out.
 * @param index receives the chosen case (`n` if none was chosen).
 * @return as weft_select(), plus, with `*index` = `n`: ETIMEDOUT (the
 *         deadline came first; no case happened: nothing was sent or
 *         received). EINVAL for every case disabled only without a
 *         deadline.
 */
WEFT_API int weft_select_until(weft_select_op *ops, size_t n, int flags, uint64_t deadline,
                               size_t *index);

WEFT__EXTERN_C_END

#endif /* WEFT_CHAN_H */
