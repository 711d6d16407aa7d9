/* Which dynamic-analysis tools this translation unit is compiled for.
 * Everything tool-specific in weft is guarded by these three macros. */
#ifndef WEFT_SANITIZE_H
#define WEFT_SANITIZE_H

#ifndef __has_feature
#define __has_feature(x) 0
#endif

#if defined(__SANITIZE_ADDRESS__) || __has_feature(address_sanitizer)
#define WEFT__ASAN 1
#else
#define WEFT__ASAN 0
#endif

#if defined(__SANITIZE_THREAD__) || __has_feature(thread_sanitizer)
#define WEFT__TSAN 1
#else
#define WEFT__TSAN 0
#endif

#include "weft_config.h"
#define WEFT__VALGRIND WEFT_HAVE_VALGRIND

/* Hot thread-locals: one segment-relative load, no __tls_get_addr call. */
#define WEFT__TLS _Thread_local __attribute__((tls_model("initial-exec")))

#define WEFT__LIKELY(x) __builtin_expect(!!(x), 1)
#define WEFT__UNLIKELY(x) __builtin_expect(!!(x), 0)

#endif
