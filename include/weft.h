/* weft — M:N stackful coroutines on many cores.
 *
 * One include for the whole public API. See README.md for the model and the
 * per-concept headers in weft/ for each function's contract. */
#ifndef WEFT_H
#define WEFT_H

#include "weft/common.h"
#include "weft/coro.h"
#include "weft/future.h"
#include "weft/runtime.h"
#include "weft/chan.h"
#include "weft/sync.h"
#include "weft/scope.h"
#include "weft/time.h"

#endif /* WEFT_H */
