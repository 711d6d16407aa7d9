/* coro — the standalone coroutine object (weft/coro.h): a body, a stack, a
 * saved context and a state, driven by send/yield with no threads. */
#ifndef WEFT_CORO_INTERNAL_H
#define WEFT_CORO_INTERNAL_H

#include "weft/coro.h"

/* The innermost standalone coroutine running on this thread, or NULL.
 * The runtime asks this to refuse suspending a task from inside one. */
weft_coro *weft__coro_current(void);

#endif
