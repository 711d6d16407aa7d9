/* Scaffolding shared by the Criterion test programs of the runtime and its
 * parts (test_runtime.c, test_future.c, test_misuse.c, test_chan.c,
 * test_sync.c, test_scope.c, test_deque.c).
 *
 * Each of those programs used to carry its own copy of these ~100 lines,
 * kept "identical" by hand; the copies had begun to drift (one make_rt
 * checked the worker count, another did not; start_thread came in two
 * signatures). This header is the one copy. It owns:
 *
 *   - T_TSAN, T_ASAN and SIZED(full, asan, tsan): which sanitizer the build
 *     has, and a workload size for each (full, smaller, smallest);
 *   - IP / PI: an integer carried in a void * and back;
 *   - CHECK / CHECK_RC, for code off the test's main thread (coroutines,
 *     helper threads): print and abort. Criterion's cr_assert longjmps and
 *     may only run on the test's main thread, where ASSERT_RC is for;
 *   - leak_check and RT_TEST: Criterion does not fail a test for leaks that
 *     LeakSanitizer finds at exit, so RT_TEST runs a leak check (ASan
 *     builds) at the end of each body;
 *   - main: Criterion's own, except that the runner process does not report
 *     leaks in ASan builds (see there);
 *   - test_seed / rng_next: the seed of a randomised test (WEFT_TEST_SEED if
 *     set, so that a failure whose message printed its seed can be rerun)
 *     and a splitmix64 generator over it;
 *   - make_rt, await_task, wait_at_least, sleep_us, start_thread,
 *     start_thread_stack: a runtime of N workers, and small waits.
 *
 * Include it once, from the test program's one source file: it defines
 * main. Everything else is a macro or static inline, so a program pays
 * nothing for what it does not use. Tests of one layer without the public
 * API (test_deque.c) use only the parts that do not call weft. */
#ifndef WEFT_TESTS_SUPPORT_H
#define WEFT_TESTS_SUPPORT_H

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "weft.h"

/* ---- sanitizers and workload sizes ------------------------------------------------ */

#if defined(__has_feature)
#define T_HAS_FEATURE(x) __has_feature(x)
#else
#define T_HAS_FEATURE(x) 0
#endif
#if defined(__SANITIZE_THREAD__) || T_HAS_FEATURE(thread_sanitizer)
#define T_TSAN 1
#else
#define T_TSAN 0
#endif
#if defined(__SANITIZE_ADDRESS__) || T_HAS_FEATURE(address_sanitizer)
#define T_ASAN 1
#include <sanitizer/lsan_interface.h>
#else
#define T_ASAN 0
#endif
/* A workload size: full in plain builds, smaller under ASan, smallest under TSan. */
#define SIZED(full, asan, tsan) (T_TSAN ? (tsan) : T_ASAN ? (asan) : (full))

#define IP(x) ((void *)(intptr_t)(x))
#define PI(p) ((intptr_t)(p))

/* ---- checks ----------------------------------------------------------------------- */

/* For code that is not the test's main thread (coroutines, helper threads). */
#define CHECK(cond, ...)                                                        \
  do {                                                                          \
    if (!(cond)) {                                                              \
      fprintf(stderr, "%s:%d: CHECK(%s) failed: ", __FILE__, __LINE__, #cond); \
      fprintf(stderr, __VA_ARGS__);                                             \
      fputc('\n', stderr);                                                      \
      abort();                                                                  \
    }                                                                           \
  } while (0)
#define CHECK_RC(expr, want)                                                    \
  do {                                                                          \
    int rc_ = (expr);                                                           \
    CHECK(rc_ == (want), "%s returned %s, expected %s", #expr, weft_err_name(rc_), \
          weft_err_name(want));                                                 \
  } while (0)
/* For the test's main thread. */
#define ASSERT_RC(expr, want)                                                        \
  do {                                                                               \
    int rc_ = (expr);                                                                \
    cr_assert_eq(rc_, (want), "%s returned %s, expected %s", #expr, weft_err_name(rc_), \
                 weft_err_name(want));                                               \
  } while (0)

static inline void leak_check(void) {
#if T_ASAN
  cr_assert_eq(__lsan_do_recoverable_leak_check(), 0, "LeakSanitizer found leaks (above)");
#endif
}

/* A Criterion test whose body is followed by the leak check. */
#define RT_TEST(suite, name, ...)                                         \
  static void suite##_##name##_body(void);                                \
  Test(suite, name, ##__VA_ARGS__) {                                      \
    suite##_##name##_body();                                              \
    leak_check();                                                         \
  }                                                                       \
  static void suite##_##name##_body(void)

/* ---- main ------------------------------------------------------------------------- */

/* Criterion's own main, except that in ASan builds the runner process (which
 * runs no weft code: each test runs in a worker process of its own) does
 * not report leaks at exit: Criterion 2.4's runner sometimes leaks an event
 * when tests run in parallel, which would fail the whole program. Workers
 * never run this main. */
int main(int argc, char **argv) {
#if T_ASAN
  __lsan_disable();
#endif
  struct criterion_test_set *tests = criterion_initialize();
  int ok = 1;
  if (criterion_handle_args(argc, argv, true)) ok = criterion_run_all_tests(tests);
  criterion_finalize(tests);
  return ok ? 0 : 1;
}

/* ---- seeded randomness ------------------------------------------------------------ */

/* The seed of a randomised test: WEFT_TEST_SEED if set, else fresh. A test
 * that uses it prints it in its failure messages (or logs it), so that
 * WEFT_TEST_SEED=<seed> reruns the same case. */
static inline uint64_t test_seed(void) {
  const char *s = getenv("WEFT_TEST_SEED");
  if (s && *s) return strtoull(s, NULL, 0);
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return ((uint64_t)ts.tv_nsec * 0x9e3779b97f4a7c15ull) ^ ((uint64_t)ts.tv_sec << 20) ^
         (uint64_t)getpid();
}

static inline uint64_t rng_next(uint64_t *s) { /* splitmix64 */
  uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

/* ---- runtimes, tasks, threads, waits (the test's main thread) ---------------------- */

/* A runtime of `workers` workers (0: the default count), checked to have them. */
static inline weft_runtime *make_rt(unsigned workers) {
  weft_runtime_config cfg;
  weft_runtime_config_init(&cfg);
  cfg.workers = workers;
  weft_runtime *rt = NULL;
  ASSERT_RC(weft_runtime_create(&rt, &cfg), 0);
  cr_assert_not_null(rt);
  if (workers) cr_assert_eq(weft_runtime_workers(rt), workers);
  return rt;
}

/* Awaits a task from the main thread, releases it and returns its value as an int. */
static inline intptr_t await_task(weft_future *t) {
  void *v = NULL;
  ASSERT_RC(weft_await(t, &v), 0);
  ASSERT_RC(weft_future_release(t), 0);
  return PI(v);
}

/* Runs fn(arg) on a new thread with a stack of `stack` bytes (0: default). */
static inline pthread_t start_thread_stack(void *(*fn)(void *), void *arg, size_t stack) {
  pthread_attr_t a;
  pthread_attr_init(&a);
  if (stack) cr_assert_eq(pthread_attr_setstacksize(&a, stack), 0);
  pthread_t t;
  cr_assert_eq(pthread_create(&t, &a, fn, arg), 0);
  pthread_attr_destroy(&a);
  return t;
}

/* Runs fn(arg) on a new thread with the default stack. */
static inline pthread_t start_thread(void *(*fn)(void *), void *arg) {
  return start_thread_stack(fn, arg, 0);
}

/* Spins (yielding the CPU) until *p >= v. A hang is caught by the test's timeout. */
static inline void wait_at_least(atomic_int *p, int v) {
  while (atomic_load(p) < v) sched_yield();
}

static inline void sleep_us(long us) {
  struct timespec ts = {us / 1000000, (us % 1000000) * 1000};
  nanosleep(&ts, NULL);
}

#endif /* WEFT_TESTS_SUPPORT_H */
