/* Standalone coroutines (weft/coro.h), black-box: every behaviour the
 * header documents, through the public API only.
 *
 * Bodies record what they saw in structs owned by the test, and the test
 * asserts on those after each send: the order of events is what is checked,
 * never timings. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "weft/coro.h"

#include "child.h"

/* Integers through the opaque pointers of send and yield. */
#define IP(x) ((void *)(intptr_t)(x))
#define PI(p) ((intptr_t)(p))

/* Some tests end with exit(REACHED_END) and declare `.exit_code =
 * REACHED_END`: if a finished body ever fell through to make_fcontext's
 * _exit(0) stub, the process would end "successfully" in the middle of the
 * test, and Criterion would count a plain test that exits 0 as passed. */
#define REACHED_END 42

static void *sentinel = &sentinel; /* a value no body produces */

/* ---- creating and driving ---------------------------------------------------- */

static void *set_flag(void *arg) {
  *(int *)arg = 1;
  return NULL;
}

Test(coro, create_runs_none_of_the_body) {
  int ran = 0;
  weft_coro *co = NULL;
  cr_assert_eq(weft_coro_create(&co, set_flag, &ran, NULL), 0);
  cr_assert_not_null(co);
  cr_expect_eq(ran, 0, "the body ran at create");
  cr_expect_eq(weft_coro_status(co), WEFT_CORO_CREATED);
  cr_assert_eq(weft_coro_send(co, NULL, NULL), WEFT_DONE);
  cr_expect_eq(ran, 1, "the first send did not run the body");
  cr_assert_eq(weft_coro_destroy(co), 0);
}

static void *three_steps(void *arg) {
  int *step = arg;
  *step = 1;
  weft_coro_yield(NULL, NULL);
  *step = 2;
  weft_coro_yield(NULL, NULL);
  *step = 3;
  return NULL;
}

Test(coro, each_send_runs_to_the_next_yield) {
  int step = 0;
  weft_coro *co;
  cr_assert_eq(weft_coro_create(&co, three_steps, &step, NULL), 0);
  cr_assert_eq(weft_coro_send(co, NULL, NULL), 0);
  cr_expect_eq(step, 1);
  cr_assert_eq(weft_coro_send(co, NULL, NULL), 0);
  cr_expect_eq(step, 2);
  cr_assert_eq(weft_coro_send(co, NULL, NULL), WEFT_DONE);
  cr_expect_eq(step, 3);
  cr_assert_eq(weft_coro_destroy(co), 0);
}

/* The seed notes' generator: the first send primes it (runs to the first
 * yield, which hands out nothing); each later send adds its value and
 * yields the running sum; sending NULL ends it and it returns the sum. */
static void *running_sum(void *arg) {
  (void)arg;
  intptr_t sum = 0;
  void *in;
  weft_coro_yield(NULL, &in);
  while (in) {
    sum += PI(in);
    weft_coro_yield(IP(sum), &in);
  }
  return IP(sum);
}

Test(coro, generator_yields_a_running_sum_of_what_is_sent) {
  weft_coro *co;
  cr_assert_eq(weft_coro_create(&co, running_sum, NULL, NULL), 0);
  void *out = sentinel;
  cr_assert_eq(weft_coro_send(co, NULL, &out), 0);
  cr_expect_null(out, "priming yield handed out %p", out);
  for (intptr_t i = 1; i <= 1000; i++) {
    cr_assert_eq(weft_coro_send(co, IP(i), &out), 0, "send %jd", (intmax_t)i);
    cr_assert_eq(PI(out), i * (i + 1) / 2, "after sending %jd got %jd", (intmax_t)i,
                 (intmax_t)PI(out));
  }
  cr_assert_eq(weft_coro_send(co, NULL, &out), WEFT_DONE);
  cr_expect_eq(PI(out), 500500);
  cr_assert_eq(weft_coro_destroy(co), 0);
}

static void *return_arg(void *arg) { return arg; }

Test(coro, done_carries_the_return_value) {
  int x;
  weft_coro *co;
  cr_assert_eq(weft_coro_create(&co, return_arg, &x, NULL), 0);
  void *out = NULL;
  cr_assert_eq(weft_coro_send(co, NULL, &out), WEFT_DONE);
  cr_expect_eq(out, &x);
  cr_assert_eq(weft_coro_destroy(co), 0);
}

static void *yield_then_return(void *arg) {
  weft_coro_yield(IP(1), NULL);
  return arg;
}

Test(coro, out_and_sent_may_be_null) {
  weft_coro *co;
  cr_assert_eq(weft_coro_create(&co, yield_then_return, IP(7), NULL), 0);
  cr_assert_eq(weft_coro_send(co, NULL, NULL), 0);
  cr_assert_eq(weft_coro_send(co, IP(3), NULL), WEFT_DONE);
  cr_assert_eq(weft_coro_destroy(co), 0);
}

/* A finished body must come back into the send that ran it. Everything
 * after the send — and the exit(REACHED_END) — proves it did. */
Test(coro, a_finished_body_returns_into_its_sender, .exit_code = REACHED_END) {
  weft_coro *co;
  cr_assert_eq(weft_coro_create(&co, return_arg, IP(99), NULL), 0);
  void *out = NULL;
  int rc = weft_coro_send(co, NULL, &out);
  cr_assert_eq(rc, WEFT_DONE, "send gave %s", weft_err_name(rc));
  cr_assert_eq(PI(out), 99);
  cr_assert_eq(weft_coro_status(co), WEFT_CORO_DONE);
  cr_assert_eq(weft_coro_destroy(co), 0);
  exit(REACHED_END);
}

/* ---- independent state --------------------------------------------------------- */

struct counter {
  intptr_t start, step;
};

/* Yields start, start + step, ... five values; returns how many it yielded. */
static void *count(void *arg) {
  const struct counter *c = arg;
  intptr_t n = c->start, k;
  for (k = 0; k < 5; k++) {
    weft_coro_yield(IP(n), NULL);
    n += c->step;
  }
  return IP(k);
}

Test(coro, coroutines_of_one_function_hold_independent_state) {
  enum { N = 8 };
  struct counter cfg[N];
  weft_coro *co[N];
  int next[N] = {0};
  for (int i = 0; i < N; i++) {
    cfg[i] = (struct counter){.start = 1000 * (i + 1), .step = i + 1};
    cr_assert_eq(weft_coro_create(&co[i], count, &cfg[i], NULL), 0);
  }
  /* Interleave: each round visits the coroutines in a different order. */
  for (int round = 0; round < 5; round++) {
    for (int j = 0; j < N; j++) {
      int i = (j * 3 + round * 5) % N; /* 3 is prime to 8: a permutation */
      void *out;
      cr_assert_eq(weft_coro_send(co[i], NULL, &out), 0);
      cr_assert_eq(PI(out), cfg[i].start + next[i] * cfg[i].step,
                   "coroutine %d, value %d: got %jd", i, next[i], (intmax_t)PI(out));
      next[i]++;
    }
  }
  for (int i = N; i-- > 0;) {
    void *out;
    cr_assert_eq(weft_coro_send(co[i], NULL, &out), WEFT_DONE);
    cr_expect_eq(PI(out), 5);
    cr_assert_eq(weft_coro_destroy(co[i]), 0);
  }
}

/* ---- nesting -------------------------------------------------------------------- */

/* A level at depth 0 yields 1, 2, 3 and returns 100. A level at depth d
 * creates the level at d - 1, drives it to its end, yields each of its
 * values plus 10, and returns its return value plus 1. */
struct level {
  int depth;
  weft_coro *self;
  struct level *outer;
  weft_coro_state outer_state_seen; /* the driver's state, seen from here */
  int inner_rc;                     /* how the inner level ended */
  weft_coro_state inner_state_after;
};

static void *nested(void *arg) {
  struct level *me = arg;
  if (me->outer) me->outer_state_seen = weft_coro_status(me->outer->self);
  if (me->depth == 0) {
    for (intptr_t i = 1; i <= 3; i++) weft_coro_yield(IP(i), NULL);
    return IP(100);
  }
  struct level *in = calloc(1, sizeof *in);
  in->depth = me->depth - 1;
  in->outer = me;
  in->outer_state_seen = WEFT_CORO_INVALID;
  if (weft_coro_create(&in->self, nested, in, NULL) != 0) abort();
  void *v;
  int rc;
  while ((rc = weft_coro_send(in->self, NULL, &v)) == 0) weft_coro_yield(IP(PI(v) + 10), NULL);
  me->inner_rc = rc;
  me->inner_state_after = weft_coro_status(in->self);
  if (in->outer_state_seen != WEFT_CORO_RUNNING) v = IP(-1);
  weft_coro_destroy(in->self);
  free(in);
  return IP(PI(v) + 1);
}

Test(coro, nested_coroutines_yield_what_their_inner_ones_produce, .exit_code = REACHED_END) {
  struct level top = {.depth = 3, .outer_state_seen = WEFT_CORO_INVALID};
  cr_assert_eq(weft_coro_create(&top.self, nested, &top, NULL), 0);
  void *out;
  for (intptr_t i = 1; i <= 3; i++) {
    cr_assert_eq(weft_coro_send(top.self, NULL, &out), 0);
    cr_assert_eq(PI(out), i + 30, "value %jd came out as %jd", (intmax_t)i, (intmax_t)PI(out));
    cr_assert_eq(weft_coro_status(top.self), WEFT_CORO_SUSPENDED);
  }
  /* The innermost returns 100 into level 1, which returns into level 2, and
   * so on: each return lands inside the coroutine that drove it. A driver
   * was seen running (-1 otherwise) by every level it drove. */
  cr_assert_eq(weft_coro_send(top.self, NULL, &out), WEFT_DONE);
  cr_assert_eq(PI(out), 103);
  cr_expect_eq(top.inner_rc, WEFT_DONE);
  cr_expect_eq(top.inner_state_after, WEFT_CORO_DONE);
  cr_assert_eq(weft_coro_destroy(top.self), 0);
  exit(REACHED_END);
}

/* A coroutine started inside another may later be driven by someone else:
 * here the outer one hands its half-run inner generator to the test. */
static void *start_and_hand_over(void *arg) {
  (void)arg;
  weft_coro *inner;
  if (weft_coro_create(&inner, running_sum, NULL, NULL) != 0) return IP(-1);
  void *out;
  if (weft_coro_send(inner, NULL, &out) != 0 || weft_coro_send(inner, IP(5), &out) != 0)
    return IP(-2);
  weft_coro_yield(inner, NULL); /* the driver takes it from here */
  return out;                   /* 5: the sum the inner one had */
}

Test(coro, an_inner_coroutine_may_be_handed_to_another_driver) {
  weft_coro *outer;
  cr_assert_eq(weft_coro_create(&outer, start_and_hand_over, NULL, NULL), 0);
  void *out;
  cr_assert_eq(weft_coro_send(outer, NULL, &out), 0);
  weft_coro *inner = out;
  cr_assert_eq(weft_coro_status(inner), WEFT_CORO_SUSPENDED);
  cr_assert_eq(weft_coro_send(inner, IP(10), &out), 0);
  cr_expect_eq(PI(out), 15);
  cr_assert_eq(weft_coro_send(outer, NULL, &out), WEFT_DONE, "the outer one did not finish");
  cr_expect_eq(PI(out), 5);
  cr_assert_eq(weft_coro_send(inner, NULL, &out), WEFT_DONE);
  cr_expect_eq(PI(out), 15);
  cr_assert_eq(weft_coro_destroy(inner), 0);
  cr_assert_eq(weft_coro_destroy(outer), 0);
}

/* ---- status ----------------------------------------------------------------------- */

struct self_ref {
  weft_coro *self;
  weft_coro_state seen_inside[2];
};

static void *observe_self(void *arg) {
  struct self_ref *r = arg;
  r->seen_inside[0] = weft_coro_status(r->self);
  weft_coro_yield(NULL, NULL);
  r->seen_inside[1] = weft_coro_status(r->self);
  return NULL;
}

Test(coro, status_follows_the_life_of_a_coroutine) {
  struct self_ref r = {.seen_inside = {WEFT_CORO_INVALID, WEFT_CORO_INVALID}};
  cr_assert_eq(weft_coro_create(&r.self, observe_self, &r, NULL), 0);
  cr_expect_eq(weft_coro_status(r.self), WEFT_CORO_CREATED);
  cr_assert_eq(weft_coro_send(r.self, NULL, NULL), 0);
  cr_expect_eq(r.seen_inside[0], WEFT_CORO_RUNNING);
  cr_expect_eq(weft_coro_status(r.self), WEFT_CORO_SUSPENDED);
  cr_assert_eq(weft_coro_send(r.self, NULL, NULL), WEFT_DONE);
  cr_expect_eq(r.seen_inside[1], WEFT_CORO_RUNNING);
  cr_expect_eq(weft_coro_status(r.self), WEFT_CORO_DONE);
  cr_assert_eq(weft_coro_destroy(r.self), 0);
}

Test(coro, status_of_null_is_invalid) {
  cr_expect_eq(weft_coro_status(NULL), WEFT_CORO_INVALID);
}

/* ---- bad inputs ---------------------------------------------------------------------- */

Test(coro, create_with_null_out_or_fn_is_einval) {
  weft_coro *co = sentinel;
  cr_expect_eq(weft_coro_create(NULL, set_flag, NULL, NULL), EINVAL);
  cr_expect_eq(weft_coro_create(&co, NULL, NULL, NULL), EINVAL);
  cr_expect_eq(co, sentinel, "out was written on error");
}

Test(coro, send_and_destroy_of_null_are_einval) {
  void *out = sentinel;
  cr_expect_eq(weft_coro_send(NULL, NULL, &out), EINVAL);
  cr_expect_eq(weft_coro_send(NULL, IP(1), NULL), EINVAL);
  cr_expect_eq(out, sentinel);
  cr_expect_eq(weft_coro_destroy(NULL), EINVAL);
}

Test(coro, first_send_with_a_value_is_einval_and_runs_nothing) {
  int ran = 0;
  weft_coro *co;
  cr_assert_eq(weft_coro_create(&co, set_flag, &ran, NULL), 0);
  cr_expect_eq(weft_coro_send(co, IP(1), NULL), EINVAL);
  cr_expect_eq(ran, 0);
  cr_expect_eq(weft_coro_status(co), WEFT_CORO_CREATED);
  /* Still usable the right way. */
  cr_assert_eq(weft_coro_send(co, NULL, NULL), WEFT_DONE);
  cr_expect_eq(ran, 1);
  cr_assert_eq(weft_coro_destroy(co), 0);
}

Test(coro, send_to_a_finished_coroutine_is_esrch) {
  weft_coro *co;
  cr_assert_eq(weft_coro_create(&co, return_arg, IP(5), NULL), 0);
  cr_assert_eq(weft_coro_send(co, NULL, NULL), WEFT_DONE);
  cr_expect_eq(weft_coro_send(co, NULL, NULL), ESRCH);
  cr_expect_eq(weft_coro_send(co, IP(1), NULL), ESRCH);
  cr_expect_eq(weft_coro_status(co), WEFT_CORO_DONE);
  cr_assert_eq(weft_coro_destroy(co), 0);
}

struct misuse {
  weft_coro *self;
  int send_rc, destroy_rc;
  weft_coro_state state_after;
};

static void *misuse_self(void *arg) {
  struct misuse *m = arg;
  m->send_rc = weft_coro_send(m->self, NULL, NULL);
  m->destroy_rc = weft_coro_destroy(m->self);
  m->state_after = weft_coro_status(m->self);
  weft_coro_yield(IP(1), NULL);
  return IP(2);
}

Test(coro, send_to_or_destroy_of_itself_from_its_body_is_ebusy) {
  struct misuse m = {.send_rc = -100, .destroy_rc = -100};
  cr_assert_eq(weft_coro_create(&m.self, misuse_self, &m, NULL), 0);
  void *out;
  cr_assert_eq(weft_coro_send(m.self, NULL, &out), 0);
  cr_expect_eq(m.send_rc, EBUSY, "send to itself: %s", weft_err_name(m.send_rc));
  cr_expect_eq(m.destroy_rc, EBUSY, "destroy of itself: %s", weft_err_name(m.destroy_rc));
  cr_expect_eq(m.state_after, WEFT_CORO_RUNNING);
  /* Neither call disturbed it. */
  cr_expect_eq(PI(out), 1);
  cr_assert_eq(weft_coro_send(m.self, NULL, &out), WEFT_DONE);
  cr_expect_eq(PI(out), 2);
  cr_assert_eq(weft_coro_destroy(m.self), 0);
}

struct driver_misuse {
  weft_coro *outer;
  int send_rc, destroy_rc;
};

static void *misuse_driver(void *arg) {
  struct driver_misuse *m = arg;
  m->send_rc = weft_coro_send(m->outer, NULL, NULL);
  m->destroy_rc = weft_coro_destroy(m->outer);
  return NULL;
}

static void *drive_misuser(void *arg) {
  struct driver_misuse *m = arg;
  weft_coro *inner;
  if (weft_coro_create(&inner, misuse_driver, m, NULL) != 0) return IP(-1);
  int rc = weft_coro_send(inner, NULL, NULL);
  weft_coro_destroy(inner);
  return IP(rc);
}

Test(coro, send_to_or_destroy_of_its_driver_from_a_nested_body_is_ebusy) {
  struct driver_misuse m = {.send_rc = -100, .destroy_rc = -100};
  cr_assert_eq(weft_coro_create(&m.outer, drive_misuser, &m, NULL), 0);
  void *out;
  cr_assert_eq(weft_coro_send(m.outer, NULL, &out), WEFT_DONE);
  cr_expect_eq(PI(out), WEFT_DONE);
  cr_expect_eq(m.send_rc, EBUSY, "send to driver: %s", weft_err_name(m.send_rc));
  cr_expect_eq(m.destroy_rc, EBUSY, "destroy of driver: %s", weft_err_name(m.destroy_rc));
  cr_assert_eq(weft_coro_destroy(m.outer), 0);
}

Test(coro, yield_outside_any_coroutine_is_eperm) {
  void *sent = sentinel;
  cr_expect_eq(weft_coro_yield(IP(1), &sent), EPERM, "before any coroutine");
  cr_expect_eq(sent, sentinel, "sent was written");

  weft_coro *co;
  cr_assert_eq(weft_coro_create(&co, yield_then_return, NULL, NULL), 0);
  cr_assert_eq(weft_coro_send(co, NULL, NULL), 0);
  cr_expect_eq(weft_coro_yield(IP(1), &sent), EPERM, "while one is suspended");
  cr_assert_eq(weft_coro_send(co, NULL, NULL), WEFT_DONE);
  cr_expect_eq(weft_coro_yield(IP(1), &sent), EPERM, "after one finished");
  cr_expect_eq(sent, sentinel, "sent was written");
  cr_assert_eq(weft_coro_destroy(co), 0);
}

/* ---- destroy ---------------------------------------------------------------------------- */

Test(coro, destroying_a_created_coroutine_never_runs_it) {
  int ran = 0;
  weft_coro *co;
  cr_assert_eq(weft_coro_create(&co, set_flag, &ran, NULL), 0);
  cr_assert_eq(weft_coro_destroy(co), 0);
  cr_expect_eq(ran, 0);
}

Test(coro, destroying_a_suspended_coroutine_never_resumes_it) {
  int step = 0;
  weft_coro *co;
  cr_assert_eq(weft_coro_create(&co, three_steps, &step, NULL), 0);
  cr_assert_eq(weft_coro_send(co, NULL, NULL), 0);
  cr_assert_eq(step, 1);
  cr_assert_eq(weft_coro_destroy(co), 0);
  cr_expect_eq(step, 1);
}

/* The frames a destroyed suspended coroutine left behind must not upset
 * the next coroutine that gets its stack (the thread's cache hands the same
 * stack straight back). Under AddressSanitizer this means the redzones of
 * those abandoned frames must not stay poisoned: the next body's locals
 * would then be reported as out of bounds. */
static void *deep_then_yield(void *arg) {
  volatile char pad[4096];
  for (size_t i = 0; i < sizeof pad; i++) pad[i] = (char)i;
  weft_coro_yield(IP(pad[100]), NULL);
  return arg;
}

static void *fill_big_local(void *arg) {
  volatile char big[12 * 1024];
  for (size_t i = 0; i < sizeof big; i++) big[i] = (char)(i * 7);
  intptr_t sum = 0;
  for (size_t i = 0; i < sizeof big; i++) sum += big[i];
  return IP(sum + PI(arg));
}

Test(coro, a_new_coroutine_runs_after_a_suspended_one_was_destroyed) {
  intptr_t expect = 0;
  for (size_t i = 0; i < 12 * 1024; i++) expect += (char)(i * 7);
  for (int round = 0; round < 20; round++) {
    weft_coro *a, *b;
    cr_assert_eq(weft_coro_create(&a, deep_then_yield, NULL, NULL), 0);
    cr_assert_eq(weft_coro_send(a, NULL, NULL), 0);
    cr_assert_eq(weft_coro_destroy(a), 0);
    cr_assert_eq(weft_coro_create(&b, fill_big_local, IP(round), NULL), 0);
    void *out;
    cr_assert_eq(weft_coro_send(b, NULL, &out), WEFT_DONE);
    cr_assert_eq(PI(out), expect + round);
    cr_assert_eq(weft_coro_destroy(b), 0);
  }
}

Test(coro, destroying_a_finished_coroutine) {
  weft_coro *co;
  cr_assert_eq(weft_coro_create(&co, return_arg, NULL, NULL), 0);
  cr_assert_eq(weft_coro_send(co, NULL, NULL), WEFT_DONE);
  cr_expect_eq(weft_coro_destroy(co), 0);
}

/* ---- stack size ---------------------------------------------------------------------------- */

/* About 1 KiB of stack per level; not a tail call. */
static intptr_t recurse(int depth) {
  volatile char frame[1000];
  frame[0] = (char)depth;
  frame[sizeof frame - 1] = 1;
  if (depth == 0) return frame[sizeof frame - 1];
  return recurse(depth - 1) + frame[0] - (char)depth + frame[sizeof frame - 1];
}

static void *recurse_body(void *arg) { return IP(recurse((int)PI(arg))); }

Test(coro, a_one_mib_stack_allows_deep_recursion) {
  /* ~600 KiB deep: ten times the default stack. */
  weft_coro_config cfg = {.stack_size = 1024 * 1024};
  weft_coro *co;
  cr_assert_eq(weft_coro_create(&co, recurse_body, IP(600), &cfg), 0);
  void *out;
  cr_assert_eq(weft_coro_send(co, NULL, &out), WEFT_DONE);
  cr_expect_eq(PI(out), 601);
  cr_assert_eq(weft_coro_destroy(co), 0);
}

Test(coro, a_tiny_stack_size_still_gets_16_kib) {
  /* 10 KiB of frames would not fit in the page that 1 byte rounds to. */
  weft_coro_config cfg = {.stack_size = 1};
  weft_coro *co;
  cr_assert_eq(weft_coro_create(&co, recurse_body, IP(9), &cfg), 0);
  void *out;
  cr_assert_eq(weft_coro_send(co, NULL, &out), WEFT_DONE);
  cr_expect_eq(PI(out), 10);
  cr_assert_eq(weft_coro_destroy(co), 0);
}

Test(coro, odd_stack_sizes_up_to_one_gib_are_accepted) {
  const size_t sizes[] = {16 * 1024 + 1, 20000, 65537, 100003, (size_t)1 << 30};
  for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
    weft_coro_config cfg = {.stack_size = sizes[i]};
    weft_coro *co;
    cr_assert_eq(weft_coro_create(&co, recurse_body, IP(10), &cfg), 0, "size %zu", sizes[i]);
    void *out;
    cr_assert_eq(weft_coro_send(co, NULL, &out), WEFT_DONE, "size %zu", sizes[i]);
    cr_expect_eq(PI(out), 11);
    cr_assert_eq(weft_coro_destroy(co), 0);
  }
}

Test(coro, a_stack_size_over_one_gib_is_einval) {
  const size_t sizes[] = {((size_t)1 << 30) + 1, (size_t)1 << 40, SIZE_MAX};
  for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
    weft_coro_config cfg = {.stack_size = sizes[i]};
    weft_coro *co = sentinel;
    cr_expect_eq(weft_coro_create(&co, set_flag, NULL, &cfg), EINVAL, "size %zu", sizes[i]);
    cr_expect_eq(co, sentinel);
  }
}

/* ---- names (visible in the overflow report) ---------------------------------------------- */

static volatile int keep_recursing = 1;

static intptr_t recurse_forever(intptr_t depth) {
  volatile char frame[1024];
  for (size_t i = 0; i < sizeof frame; i += 64) frame[i] = (char)depth;
  if (!keep_recursing) return frame[0];
  return recurse_forever(depth + 1) + frame[64];
}

static void *overflow_body(void *arg) { return IP(recurse_forever(PI(arg))); }

static void overflow_named(void *name) {
  weft_coro_config cfg = {.name = name};
  weft_coro *co;
  if (weft_coro_create(&co, overflow_body, NULL, &cfg) != 0) _exit(3);
  weft_coro_send(co, NULL, NULL);
  _exit(4); /* not reached: the overflow aborts */
}

/* The name is changed after create; the report must show the old one. */
static void overflow_after_renaming(void *unused) {
  (void)unused;
  char name[32] = "original";
  weft_coro_config cfg = {.name = name};
  weft_coro *co;
  if (weft_coro_create(&co, overflow_body, NULL, &cfg) != 0) _exit(3);
  strcpy(name, "changed");
  weft_coro_send(co, NULL, NULL);
  _exit(4); /* not reached: the overflow aborts */
}

#define OVERFLOW_LINE "weft: stack overflow in coroutine "

/* The report line of a child that must have aborted on an overflow. */
static const char *overflow_report(const struct child_result *r) {
  cr_assert(WIFSIGNALED(r->status) && WTERMSIG(r->status) == SIGABRT,
            "child status %#x, stderr:\n%s", r->status, r->err);
  const char *line = child_line(r, OVERFLOW_LINE);
  cr_assert_not_null(line, "no overflow report in:\n%s", r->err);
  return line;
}

Test(coro, a_long_name_is_truncated_to_31_bytes) {
  char name[] = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEF"; /* 42 bytes */
  struct child_result r;
  run_in_child(overflow_named, name, &r);
  const char *line = overflow_report(&r);
  cr_expect_not_null(strstr(line, OVERFLOW_LINE "\"abcdefghijklmnopqrstuvwxyz01234\" ("),
                     "name not truncated to 31 bytes in: %s", line);
}

Test(coro, a_31_byte_name_is_kept_whole) {
  char name[] = "0123456789012345678901234567890"; /* 31 bytes */
  struct child_result r;
  run_in_child(overflow_named, name, &r);
  const char *line = overflow_report(&r);
  cr_expect_not_null(strstr(line, OVERFLOW_LINE "\"0123456789012345678901234567890\" ("),
                     "name not kept in: %s", line);
}

Test(coro, an_unnamed_coroutine_is_reported_by_address) {
  struct child_result r;
  run_in_child(overflow_named, NULL, &r);
  const char *line = overflow_report(&r);
  cr_expect_eq(strncmp(line, OVERFLOW_LINE "(0x", strlen(OVERFLOW_LINE "(0x")), 0,
               "unexpected report: %s", line);
}

Test(coro, a_name_is_copied_at_create) {
  struct child_result r;
  run_in_child(overflow_after_renaming, NULL, &r);
  const char *line = overflow_report(&r);
  cr_expect_not_null(strstr(line, "\"original\""), "unexpected report: %s", line);
}

/* ---- status codes ---------------------------------------------------------------------------- */

Test(coro, every_returned_code_has_a_name_and_a_message) {
  const struct {
    int code;
    const char *name;
  } codes[] = {{0, "OK"},         {WEFT_DONE, "WEFT_DONE"}, {EINVAL, "EINVAL"}, {ENOMEM, "ENOMEM"},
               {EPERM, "EPERM"},  {EBUSY, "EBUSY"},         {ESRCH, "ESRCH"},
               {WEFT_CLOSED, "WEFT_CLOSED"}};
  enum { N = sizeof codes / sizeof codes[0] };
  for (int i = 0; i < N; i++) {
    cr_expect_str_eq(weft_err_name(codes[i].code), codes[i].name);
    const char *msg = weft_strerror(codes[i].code);
    cr_assert_not_null(msg);
    cr_expect_gt(strlen(msg), 0, "empty message for %s", codes[i].name);
    for (int j = 0; j < i; j++)
      cr_expect_str_neq(msg, weft_strerror(codes[j].code), "%s and %s share a message",
                        codes[i].name, codes[j].name);
  }
}

Test(coro, unknown_codes_are_named_unknown) {
  const int unknown[] = {12345, -99, -1000}; /* -2 is WEFT_CLOSED (channels) */
  for (size_t i = 0; i < sizeof unknown / sizeof unknown[0]; i++) {
    cr_expect_str_eq(weft_err_name(unknown[i]), "UNKNOWN");
    const char *msg = weft_strerror(unknown[i]);
    cr_assert_not_null(msg);
    cr_expect_gt(strlen(msg), 0);
  }
}

Test(coro, version_matches_the_headers) {
  cr_expect_eq(weft_version(), (unsigned)WEFT_VERSION_HEX);
  char want[32];
  snprintf(want, sizeof want, "%d.%d.%d", WEFT_VERSION_MAJOR, WEFT_VERSION_MINOR,
           WEFT_VERSION_PATCH);
  cr_expect_str_eq(weft_version_string(), want);
}

/* ---- threads ---------------------------------------------------------------------------------- */

struct where_ran {
  pthread_t at[3];
};

/* The calling thread, read through a call the compiler cannot see into.
 * glibc declares pthread_self() const, so an optimising compiler may reuse
 * its value across weft_coro_yield — after which the body may be running
 * on another thread. This is the rule the README gives users for errno and
 * thread-locals, and the body below has to follow it too. */
static pthread_t (*volatile self_of_thread)(void) = pthread_self;

static void *record_threads(void *arg) {
  struct where_ran *w = arg;
  w->at[0] = self_of_thread();
  weft_coro_yield(IP(1), NULL);
  w->at[1] = self_of_thread();
  weft_coro_yield(IP(2), NULL);
  w->at[2] = self_of_thread();
  return IP(3);
}

struct send_job {
  weft_coro *co;
  int rc;
  void *out;
};

static void *send_on_thread(void *arg) {
  struct send_job *j = arg;
  j->rc = weft_coro_send(j->co, NULL, &j->out);
  return NULL;
}

static void send_from_new_thread(struct send_job *j) {
  pthread_t t;
  cr_assert_eq(pthread_create(&t, NULL, send_on_thread, j), 0);
  cr_assert_eq(pthread_join(t, NULL), 0);
}

Test(coro, a_coroutine_may_be_driven_by_one_thread_after_another) {
  struct where_ran w;
  struct send_job j = {.rc = -100};
  cr_assert_eq(weft_coro_create(&j.co, record_threads, &w, NULL), 0);

  send_from_new_thread(&j); /* thread B starts it */
  cr_assert_eq(j.rc, 0);
  cr_expect_eq(PI(j.out), 1);
  cr_expect_not(pthread_equal(w.at[0], pthread_self()), "first part ran on the creating thread");

  cr_assert_eq(weft_coro_send(j.co, NULL, &j.out), 0); /* back on A */
  cr_expect_eq(PI(j.out), 2);
  cr_expect(pthread_equal(w.at[1], pthread_self()));

  send_from_new_thread(&j); /* thread C finishes it */
  cr_assert_eq(j.rc, WEFT_DONE);
  cr_expect_eq(PI(j.out), 3);
  cr_expect_not(pthread_equal(w.at[2], pthread_self()));
  cr_assert_eq(weft_coro_destroy(j.co), 0);
}

Test(coro, create_on_one_thread_then_finish_on_the_creator) {
  struct where_ran w;
  struct send_job j = {.rc = -100};
  cr_assert_eq(weft_coro_create(&j.co, record_threads, &w, NULL), 0);
  send_from_new_thread(&j);
  cr_assert_eq(j.rc, 0);
  cr_assert_eq(weft_coro_send(j.co, NULL, NULL), 0);
  void *out;
  cr_assert_eq(weft_coro_send(j.co, NULL, &out), WEFT_DONE);
  cr_expect_eq(PI(out), 3);
  cr_expect(pthread_equal(w.at[2], pthread_self()));
  cr_assert_eq(weft_coro_destroy(j.co), 0);
}

struct create_job {
  weft_coro *co;
  struct where_ran *w;
  int rc;
};

static void *create_on_thread(void *arg) {
  struct create_job *j = arg;
  j->rc = weft_coro_create(&j->co, record_threads, j->w, NULL);
  if (j->rc == 0) j->rc = weft_coro_send(j->co, NULL, NULL);
  return NULL;
}

Test(coro, a_coroutine_outlives_the_thread_that_created_it) {
  struct where_ran w;
  struct create_job j = {.w = &w, .rc = -100};
  pthread_t t;
  cr_assert_eq(pthread_create(&t, NULL, create_on_thread, &j), 0);
  cr_assert_eq(pthread_join(t, NULL), 0); /* the thread and its stack cache are gone */
  cr_assert_eq(j.rc, 0);
  cr_assert_eq(weft_coro_send(j.co, NULL, NULL), 0);
  void *out;
  cr_assert_eq(weft_coro_send(j.co, NULL, &out), WEFT_DONE);
  cr_expect_eq(PI(out), 3);
  cr_assert_eq(weft_coro_destroy(j.co), 0);
}

static void *yield_on_plain_thread(void *arg) {
  void *sent = sentinel;
  int rc = weft_coro_yield(IP(1), &sent);
  *(int *)arg = rc == EPERM && sent == sentinel;
  return NULL;
}

Test(coro, yield_on_a_thread_that_never_ran_a_coroutine_is_eperm) {
  int ok = 0;
  pthread_t t;
  cr_assert_eq(pthread_create(&t, NULL, yield_on_plain_thread, &ok), 0);
  cr_assert_eq(pthread_join(t, NULL), 0);
  cr_expect(ok);
}
