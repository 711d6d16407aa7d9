/* An out-of-tree program that uses an installed weft, as a user's would:
 * a runtime, a root coroutine that spawns children and awaits them, and a
 * check of the result and of the library's version against the headers'.
 * Built by tests/consumer/run.sh with find_package(weft) (shared and static)
 * and with pkg-config. Exits 0 and prints one line on success. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <weft.h>

#define N 8

static void *square(void *arg) {
  uintptr_t x = (uintptr_t)arg;
  return (void *)(x * x);
}

/* Sum of the squares of 1..n, each computed by its own task. */
static void *root(void *arg) {
  uintptr_t n = (uintptr_t)arg, sum = 0;
  weft_future *task[N];
  for (uintptr_t i = 0; i < n; i++)
    if (weft_spawn(square, (void *)(i + 1), &task[i]) != 0) return NULL;
  for (uintptr_t i = 0; i < n; i++) {
    void *v = NULL;
    if (weft_await(task[i], &v) != 0) return NULL;
    sum += (uintptr_t)v;
    weft_future_release(task[i]);
  }
  return (void *)sum;
}

static int fail(const char *what, int rc) {
  fprintf(stderr, "consumer: %s: %s (%s)\n", what, weft_strerror(rc), weft_err_name(rc));
  return 1;
}

int main(void) {
  char want[32];
  snprintf(want, sizeof want, "%d.%d.%d", WEFT_VERSION_MAJOR, WEFT_VERSION_MINOR,
           WEFT_VERSION_PATCH);
  if (weft_version() != WEFT_VERSION_HEX || strcmp(weft_version_string(), want) != 0) {
    fprintf(stderr, "consumer: library %s (0x%x) but headers %s (0x%x)\n",
            weft_version_string(), weft_version(), want, (unsigned)WEFT_VERSION_HEX);
    return 1;
  }

  weft_runtime_config cfg;
  weft_runtime_config_init(&cfg);
  cfg.workers = 2;
  weft_runtime *rt = NULL;
  int rc = weft_runtime_create(&rt, &cfg);
  if (rc != 0) return fail("weft_runtime_create", rc);

  void *result = NULL;
  rc = weft_run_until_complete(rt, root, (void *)(uintptr_t)N, &result);
  if (rc != 0) return fail("weft_run_until_complete", rc);
  rc = weft_runtime_destroy(rt);
  if (rc != 0) return fail("weft_runtime_destroy", rc);

  uintptr_t want_sum = (uintptr_t)N * (N + 1) * (2 * N + 1) / 6;
  if ((uintptr_t)result != want_sum) {
    fprintf(stderr, "consumer: root returned %lu, want %lu\n", (unsigned long)(uintptr_t)result,
            (unsigned long)want_sum);
    return 1;
  }
  printf("consumer: weft %s, 2 workers, sum of squares 1..%d = %lu: ok\n", weft_version_string(),
         N, (unsigned long)want_sum);
  return 0;
}
