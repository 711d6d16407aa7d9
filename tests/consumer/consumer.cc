// A C++ program that uses an installed weft: the C headers must compile
// warning-free as C++11 (g++ -std=c++11 -Wall -Wextra -Wpedantic -Werror)
// and declare everything extern "C", or this would not link.
#include <weft.h>
#include <weft/common.h>
#include <weft/coro.h>
#include <weft/future.h>
#include <weft/runtime.h>
#include <weft/version.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>

namespace {

// A standalone coroutine: yields 1, 2, 3, then returns 10.
void *counter(void *) {
  for (std::uintptr_t i = 1; i <= 3; i++)
    if (weft_coro_yield(reinterpret_cast<void *>(i), nullptr) != 0) return nullptr;
  return reinterpret_cast<void *>(std::uintptr_t{10});
}

void *answer(void *arg) {
  return reinterpret_cast<void *>(reinterpret_cast<std::uintptr_t>(arg) + 1);
}

int fail(const char *what, int rc) {
  std::fprintf(stderr, "consumer++: %s: %s\n", what, weft_strerror(rc));
  return 1;
}

}  // namespace

int main() {
  static_assert(WEFT_VERSION_HEX == ((WEFT_VERSION_MAJOR << 16) | (WEFT_VERSION_MINOR << 8) |
                                     WEFT_VERSION_PATCH),
                "WEFT_VERSION_HEX");
  if (weft_version() != WEFT_VERSION_HEX) return fail("weft_version", EINVAL);

  weft_coro *co = nullptr;
  int rc = weft_coro_create(&co, counter, nullptr, nullptr);
  if (rc != 0) return fail("weft_coro_create", rc);
  std::uintptr_t sum = 0;
  void *out = nullptr;
  while ((rc = weft_coro_send(co, nullptr, &out)) == 0) sum += reinterpret_cast<std::uintptr_t>(out);
  if (rc != WEFT_DONE) return fail("weft_coro_send", rc);
  sum += reinterpret_cast<std::uintptr_t>(out);
  weft_coro_destroy(co);

  weft_runtime *rt = nullptr;
  rc = weft_runtime_create(&rt, nullptr);
  if (rc != 0) return fail("weft_runtime_create", rc);
  void *result = nullptr;
  rc = weft_run_until_complete(rt, answer, reinterpret_cast<void *>(std::uintptr_t{41}), &result);
  if (rc != 0) return fail("weft_run_until_complete", rc);
  weft_runtime_destroy(rt);

  if (sum != 16 || reinterpret_cast<std::uintptr_t>(result) != 42) {
    std::fprintf(stderr, "consumer++: got %lu and %lu, want 16 and 42\n",
                 static_cast<unsigned long>(sum),
                 static_cast<unsigned long>(reinterpret_cast<std::uintptr_t>(result)));
    return 1;
  }
  std::printf("consumer++: weft %s from C++: ok\n", weft_version_string());
  return 0;
}
