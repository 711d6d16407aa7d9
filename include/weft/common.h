/* weft — what every public header shares: the export macro, the C++ guard,
 * the coroutine body type, errors and the version functions. */
#ifndef WEFT_COMMON_H
#define WEFT_COMMON_H

#include <stddef.h>

#include "weft/version.h"

/**
 * @def WEFT_API
 * Marks a public function: exported from libweft.so, which is built with
 * hidden visibility so that nothing else leaves it. Expands to the
 * default-visibility attribute while weft itself is compiled (WEFT_BUILDING)
 * and to nothing in a user's program, whichever library it links.
 */
#if defined(WEFT_STATIC_DEFINE)
#define WEFT_API
#elif defined(WEFT_BUILDING) && defined(__GNUC__)
#define WEFT_API __attribute__((visibility("default")))
#else
#define WEFT_API
#endif

#ifdef __cplusplus
#define WEFT__EXTERN_C_BEGIN extern "C" {
#define WEFT__EXTERN_C_END }
#else
#define WEFT__EXTERN_C_BEGIN
#define WEFT__EXTERN_C_END
#endif

WEFT__EXTERN_C_BEGIN

/**
 * @file weft/common.h
 * @brief Status codes, the coroutine body type and the library version.
 *
 * Every weft function that can fail returns an `int`: 0 on success, or a
 * positive errno value (`EINVAL`, `ENOMEM`, `EPERM`, `EBUSY`, `ECANCELED`…)
 * that says what went wrong, as pthreads do. A few calls also have outcomes
 * that are not failures, such as "the coroutine finished"; those are the
 * negative `WEFT_` codes below, so that `rc > 0` always means an error.
 */

/**
 * Not an error: the coroutine ran to the end of its body. Returned by
 * weft_coro_send(), whose out-value is then the body's return value
 * (Python's StopIteration).
 */
#define WEFT_DONE (-1)

/**
 * Not an error: the channel is closed and drained. Returned by
 * weft_chan_recv(), weft_chan_try_recv() and a receive case of
 * weft_select() once every value sent before weft_chan_close() has been
 * received (Go's `v, ok := <-ch` with ok false).
 */
#define WEFT_CLOSED (-2)

/**
 * The body of a coroutine: standalone (weft_coro_create()) or scheduled on
 * a runtime (weft_spawn()). It receives the `arg` given at creation; its
 * return value is what the coroutine returns to whoever waits for it.
 */
typedef void *(*weft_fn)(void *arg);

/**
 * A message for any status code weft returns: 0, a `WEFT_` outcome or an
 * errno value. Callable from anywhere.
 * @param code a status code, as returned by a weft function.
 * @return a static string, never NULL; "unknown error" or "unknown status"
 *         for codes weft does not return.
 */
WEFT_API const char *weft_strerror(int code);

/**
 * The symbolic name of a status code ("EINVAL", "WEFT_DONE", "OK").
 * Callable from anywhere.
 * @param code a status code, as returned by a weft function.
 * @return a static string, never NULL; "UNKNOWN" for codes weft does not
 *         return.
 */
WEFT_API const char *weft_err_name(int code);

/**
 * The version of the library linked at run time, which may differ from the
 * headers compiled against (WEFT_VERSION_HEX). Callable from anywhere.
 * @return (major << 16) | (minor << 8) | patch, as WEFT_VERSION_HEX.
 */
WEFT_API unsigned weft_version(void);

/**
 * The version of the library linked at run time, as text. Callable from
 * anywhere.
 * @return a static string "MAJOR.MINOR.PATCH", never NULL.
 */
WEFT_API const char *weft_version_string(void);

WEFT__EXTERN_C_END

#endif /* WEFT_COMMON_H */
