/* error — names and messages of every status code weft returns, from one
 * table, and the version functions. */
#include <errno.h>

#include "weft/common.h"

/* X(code, name, message). Messages say what the code means in weft. */
#define WEFT__ERRNO_MAP(X)                                                         \
  X(0, "OK", "success")                                                            \
  X(WEFT_DONE, "WEFT_DONE", "the coroutine finished")                              \
  X(WEFT_CLOSED, "WEFT_CLOSED", "the channel is closed and drained")               \
  X(EINVAL, "EINVAL", "invalid argument")                                          \
  X(ENOMEM, "ENOMEM", "out of memory")                                             \
  X(EPERM, "EPERM", "not allowed from here (wrong kind of caller)")                \
  X(EBUSY, "EBUSY", "busy: the coroutine is running, or the object is in use")     \
  X(ESRCH, "ESRCH", "the coroutine has already finished")                          \
  X(EALREADY, "EALREADY", "the future has already settled")                        \
  X(ECANCELED, "ECANCELED", "cancelled")                                           \
  X(EDEADLK, "EDEADLK", "this would wait for itself (deadlock)")                   \
  X(ESHUTDOWN, "ESHUTDOWN", "the runtime is shutting down")                        \
  X(EAGAIN, "EAGAIN", "not ready yet, or a resource is temporarily unavailable")   \
  X(ETIMEDOUT, "ETIMEDOUT", "timed out")                                           \
  X(EPIPE, "EPIPE", "the channel is closed: nothing more can be sent")             \
  X(EOVERFLOW, "EOVERFLOW", "a count would overflow")

const char *weft_strerror(int code) {
  switch (code) {
#define WEFT__MSG(c, name, msg) \
  case c:                       \
    return msg;
    WEFT__ERRNO_MAP(WEFT__MSG)
#undef WEFT__MSG
  }
  return code > 0 ? "unknown error" : "unknown status";
}

const char *weft_err_name(int code) {
  switch (code) {
#define WEFT__NAME(c, name, msg) \
  case c:                        \
    return name;
    WEFT__ERRNO_MAP(WEFT__NAME)
#undef WEFT__NAME
  }
  return "UNKNOWN";
}

#define WEFT__STR2(x) #x
#define WEFT__STR(x) WEFT__STR2(x)

unsigned weft_version(void) { return WEFT_VERSION_HEX; }

const char *weft_version_string(void) {
  return WEFT__STR(WEFT_VERSION_MAJOR) "." WEFT__STR(WEFT_VERSION_MINOR) "." WEFT__STR(
      WEFT_VERSION_PATCH);
}
