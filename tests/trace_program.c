/* A known program, traced: fib(15) (one spawn per call with n >= 2) and then
 * a fixed spawn tree (the root spawns 4 children, each spawns 3
 * grandchildren). Writes the trace to argv[1]; argv[2] workers.
 * tests/check_trace.py checks the trace against these numbers. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "weft.h"

static void *fib(void *arg) {
  intptr_t n = (intptr_t)arg;
  if (n < 2) return (void *)n;
  weft_future *t;
  void *a;
  if (weft_spawn(fib, (void *)(n - 1), &t)) abort();
  intptr_t b = (intptr_t)fib((void *)(n - 2));
  if (weft_await(t, &a)) abort();
  weft_future_release(t);
  return (void *)((intptr_t)a + b);
}

static void *leaf(void *arg) {
  weft_yield(); /* one more slice, and a wake-free resume */
  return arg;
}

static void *branch(void *arg) {
  weft_future *t[3];
  intptr_t sum = 0;
  for (int i = 0; i < 3; i++)
    if (weft_spawn(leaf, (void *)(intptr_t)1, &t[i])) abort();
  for (int i = 2; i >= 0; i--) { /* newest first: some run inline, some not */
    void *v;
    if (weft_await(t[i], &v)) abort();
    sum += (intptr_t)v;
    weft_future_release(t[i]);
  }
  return (void *)(sum + (intptr_t)arg * 0);
}

static void *tree(void *arg) {
  (void)arg;
  weft_future *t[4];
  intptr_t sum = 0;
  for (int i = 0; i < 4; i++)
    if (weft_spawn(branch, NULL, &t[i])) abort();
  for (int i = 0; i < 4; i++) {
    void *v;
    if (weft_await(t[i], &v)) abort();
    sum += (intptr_t)v;
    weft_future_release(t[i]);
  }
  return (void *)sum;
}

int main(int argc, char **argv) {
  if (argc < 3) return 2;
  weft_runtime_config cfg;
  weft_runtime_config_init(&cfg);
  cfg.workers = (unsigned)atoi(argv[2]);
  cfg.trace_path = argv[1];
  weft_runtime *rt;
  if (weft_runtime_create(&rt, &cfg)) return 1;
  void *r1, *r2;
  if (weft_run_until_complete(rt, fib, (void *)15, &r1) || (intptr_t)r1 != 610) return 1;
  if (weft_run_until_complete(rt, tree, NULL, &r2) || (intptr_t)r2 != 12) return 1;
  return weft_runtime_destroy(rt);
}
