/* A known program, traced: fib(15) (one spawn per call with n >= 2), then
 * a fixed spawn tree (the root spawns 4 children, each spawns 3
 * grandchildren; the branches are named "branch", the first renamed
 * "first branch"), then a fork-join with a known span: the root spawns a
 * child that computes for JOIN_CHILD_MS, waits (not for the child) until
 * the child is about to finish, awaits the child — which has finished, or
 * is about to: on one worker it always has, so the await returns at once
 * and only a join record tells the dependency — then computes for
 * JOIN_AFTER_MS. Span: JOIN_CHILD_MS + JOIN_AFTER_MS (and a little); the
 * root's own work is only JOIN_AFTER_MS, so a missed join shows.
 * Writes the trace to argv[1]; argv[2] workers. tests/check_trace.py
 * checks the trace against these numbers. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

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
  for (int i = 0; i < 4; i++) {
    if (weft_spawn(branch, NULL, &t[i])) abort();
    if (weft_task_set_name(t[i], "branch")) abort(); /* one text, named 4 times */
  }
  if (weft_task_set_name(t[0], "first branch")) abort(); /* the newest name wins */
  for (int i = 0; i < 4; i++) {
    void *v;
    if (weft_await(t[i], &v)) abort();
    sum += (intptr_t)v;
    weft_future_release(t[i]);
  }
  return (void *)sum;
}

#define JOIN_CHILD_MS 20
#define JOIN_AFTER_MS 10

static void spin_ms(int ms) {
  struct timespec a, b;
  clock_gettime(CLOCK_MONOTONIC, &a);
  do {
    clock_gettime(CLOCK_MONOTONIC, &b);
  } while ((b.tv_sec - a.tv_sec) * 1000000000L + (b.tv_nsec - a.tv_nsec) < ms * 1000000L);
}

static void *join_child(void *arg) {
  spin_ms(JOIN_CHILD_MS);
  if (weft_future_resolve(arg, NULL)) abort(); /* "about to finish" */
  return (void *)(intptr_t)1;
}

static void *join_root(void *arg) {
  (void)arg;
  weft_future *p, *c;
  void *v;
  if (weft_future_create(&p)) abort();
  if (weft_spawn(join_child, p, &c)) abort();
  if (weft_task_set_name(c, "join child")) abort();
  if (weft_await(p, NULL)) abort(); /* a plain future: no dependency */
  if (weft_await(c, &v) || (intptr_t)v != 1) abort();
  spin_ms(JOIN_AFTER_MS);
  weft_future_release(c);
  weft_future_release(p);
  return (void *)(intptr_t)3;
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
  if (weft_run_until_complete(rt, join_root, NULL, &r2) || (intptr_t)r2 != 3) return 1;
  return weft_runtime_destroy(rt);
}
