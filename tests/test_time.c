/* Time (weft/time.h), black-box: the clock, sleeping coroutines and
 * threads, weft_await_until's deadline from both, the order in which
 * sleepers wake, cancelling a sleeper, a runtime destroyed under sleepers,
 * and races between a deadline, a settle and a cancel.
 *
 * Timing assertions go one way only: nothing wakes before its deadline.
 * How late it wakes is not asserted (a loaded 2-core machine under
 * sanitizers can be late by anything); tests that need "before the
 * deadline" use deadlines far away (seconds, or never).
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <criterion/criterion.h>
#include <criterion/parameterized.h>

#include "weft.h"
#include "support.h"

#define MS 1000000ull
#define SEC 1000000000ull

static unsigned wc3[] = {1, 2, 4};

/* The body of the tests run on 1, 2 and 4 workers: root(arg) as the root
 * task of a fresh runtime, which is then destroyed; then the leak check. */
static void run_root(unsigned workers, weft_fn root, void *arg) {
  weft_runtime *rt = make_rt(workers);
  ASSERT_RC(weft_run_until_complete(rt, root, arg, NULL), 0);
  ASSERT_RC(weft_runtime_destroy(rt), 0);
  leak_check();
}

/* ---- the clock ------------------------------------------------------------------------ */

RT_TEST(time, now_is_the_monotonic_clock) {
  uint64_t prev = weft_now();
  for (int i = 0; i < 1000; i++) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    uint64_t mono = (uint64_t)ts.tv_sec * SEC + (uint64_t)ts.tv_nsec;
    uint64_t now = weft_now();
    cr_assert_geq(now, prev, "weft_now went backwards");
    cr_assert_geq(now, mono, "weft_now is behind CLOCK_MONOTONIC");
    prev = now;
  }
}

/* ---- sleeping --------------------------------------------------------------------------- */

struct sleeper {
  uint64_t ns;
  uint64_t start, end;
  int rc;
};

static void *sleep_child(void *arg) {
  struct sleeper *s = arg;
  s->start = weft_now();
  s->rc = weft_sleep(s->ns);
  s->end = weft_now();
  return NULL;
}

static void *sleep_root(void *arg) {
  unsigned n = *(unsigned *)arg;
  uint64_t durations[] = {0, 1, 1000, 1 * MS, 5 * MS, 20 * MS};
  size_t nd = sizeof durations / sizeof durations[0];
  struct sleeper *s = calloc(n * nd, sizeof *s);
  weft_future **t = calloc(n * nd, sizeof *t);
  for (size_t i = 0; i < n * nd; i++) {
    s[i].ns = durations[i % nd];
    CHECK_RC(weft_spawn(sleep_child, &s[i], &t[i]), 0);
  }
  for (size_t i = 0; i < n * nd; i++) {
    CHECK_RC(weft_await(t[i], NULL), 0);
    weft_future_release(t[i]);
    CHECK_RC(s[i].rc, 0);
    CHECK(s[i].end - s[i].start >= s[i].ns, "slept %llu ns of %llu",
          (unsigned long long)(s[i].end - s[i].start), (unsigned long long)s[i].ns);
  }
  free(s);
  free(t);
  return NULL;
}

ParameterizedTestParameters(time, sleep_lasts_at_least_its_duration) {
  return cr_make_param_array(unsigned, wc3, 3);
}
ParameterizedTest(unsigned *workers, time, sleep_lasts_at_least_its_duration, .timeout = 120) {
  unsigned n = 20;
  run_root(*workers, sleep_root, &n);
}

RT_TEST(time, sleep_from_a_plain_thread) {
  uint64_t t0 = weft_now();
  ASSERT_RC(weft_sleep(3 * MS), 0);
  cr_assert_geq(weft_now() - t0, 3 * MS);
  t0 = weft_now();
  ASSERT_RC(weft_sleep_until(t0 + 2 * MS), 0);
  cr_assert_geq(weft_now(), t0 + 2 * MS);
  ASSERT_RC(weft_sleep_until(0), 0);            /* the past: at once */
  ASSERT_RC(weft_sleep(0), 0);
  ASSERT_RC(weft_sleep_until(WEFT_NO_DEADLINE), EINVAL); /* a thread cannot be cancelled */
}

/* Sleepers wake in the order of their deadlines. One worker; the root
 * keeps it busy (no switch) until every sleeper is due, so that one look
 * at the timers finds them all: they must then run earliest deadline
 * first. (Across looks, a task woken later may overtake one woken earlier
 * that is still queued: the LIFO slot favours the latest wake-up.) */
#define ORDER_N 50

struct order {
  uint64_t deadline[ORDER_N];
  atomic_int pos;
  int woke_at[ORDER_N];
  atomic_int late; /* a child that began sleeping after its deadline */
};

struct order_child {
  struct order *o;
  int i;
};

static void *order_child_fn(void *arg) {
  struct order_child *c = arg;
  if (weft_now() >= c->o->deadline[c->i]) atomic_fetch_add(&c->o->late, 1);
  CHECK_RC(weft_sleep_until(c->o->deadline[c->i]), 0);
  CHECK(weft_now() >= c->o->deadline[c->i], "woke early");
  c->o->woke_at[c->i] = atomic_fetch_add(&c->o->pos, 1);
  return NULL;
}

static void *order_root(void *arg) {
  struct order *o = arg;
  struct order_child c[ORDER_N];
  weft_future *t[ORDER_N];
  uint64_t seed = test_seed(), rng = seed;
  int perm[ORDER_N];
  for (int i = 0; i < ORDER_N; i++) perm[i] = i;
  for (int i = ORDER_N - 1; i > 0; i--) {
    int j = (int)(rng_next(&rng) % (uint64_t)(i + 1));
    int x = perm[i];
    perm[i] = perm[j];
    perm[j] = x;
  }
  /* Far enough ahead that every child is asleep before the first is due. */
  uint64_t base = weft_now() + 300 * MS;
  for (int i = 0; i < ORDER_N; i++) o->deadline[i] = base + (uint64_t)perm[i] * 200000u;
  for (int i = 0; i < ORDER_N; i++) {
    c[i] = (struct order_child){o, i};
    CHECK_RC(weft_spawn(order_child_fn, &c[i], &t[i]), 0);
  }
  CHECK_RC(weft_sleep(1 * MS), 0); /* the children run and go to sleep */
  while (weft_now() < base + ORDER_N * 200000u + 1 * MS) {
  } /* busy: no look at the timers until all are due */
  for (int i = 0; i < ORDER_N; i++) {
    CHECK_RC(weft_await(t[i], NULL), 0);
    weft_future_release(t[i]);
  }
  if (atomic_load(&o->late)) return NULL; /* the machine stalled: the caller retries */
  for (int i = 0; i < ORDER_N; i++)
    CHECK(o->woke_at[i] == perm[i], "seed %llu: sleeper %d (deadline rank %d) woke %d-th",
          (unsigned long long)seed, i, perm[i], o->woke_at[i]);
  return IP(1);
}

RT_TEST(time, sleepers_wake_in_deadline_order, .timeout = 120) {
  weft_runtime *rt = make_rt(1);
  void *checked = NULL;
  for (int attempt = 0; attempt < 5 && !checked; attempt++) {
    struct order *o = calloc(1, sizeof *o);
    ASSERT_RC(weft_run_until_complete(rt, order_root, o, &checked), 0);
    free(o);
  }
  cr_assert(checked, "every attempt had a sleeper start after its deadline");
  ASSERT_RC(weft_runtime_destroy(rt), 0);
}

/* Many sleepers at once: all wake, none early. */
static void *many_root(void *arg) {
  unsigned n = *(unsigned *)arg;
  struct sleeper *s = calloc(n, sizeof *s);
  weft_future **t = calloc(n, sizeof *t);
  uint64_t seed = test_seed(), rng = seed;
  for (unsigned i = 0; i < n; i++) {
    s[i].ns = rng_next(&rng) % (50 * MS);
    CHECK_RC(weft_spawn(sleep_child, &s[i], &t[i]), 0);
  }
  for (unsigned i = 0; i < n; i++) {
    CHECK_RC(weft_await(t[i], NULL), 0);
    weft_future_release(t[i]);
    CHECK(s[i].end - s[i].start >= s[i].ns, "seed %llu: woke early",
          (unsigned long long)seed);
  }
  free(s);
  free(t);
  return NULL;
}

ParameterizedTestParameters(time, many_sleepers) { return cr_make_param_array(unsigned, wc3, 3); }
ParameterizedTest(unsigned *workers, time, many_sleepers, .timeout = 240) {
  unsigned n = SIZED(100000, 20000, 5000);
  run_root(*workers, many_root, &n);
}

/* ---- cancelling a sleeper ------------------------------------------------------------------ */

static void *long_sleep(void *arg) {
  atomic_int *state = arg;
  atomic_store(state, 1);
  int rc = weft_sleep(3600 * SEC);
  atomic_store(state, rc == ECANCELED ? 2 : 3);
  return IP(rc);
}

static void *sleep_for_ever(void *arg) {
  atomic_int *state = arg;
  atomic_store(state, 1);
  int rc = weft_sleep_until(WEFT_NO_DEADLINE);
  atomic_store(state, rc == ECANCELED ? 2 : 3);
  return IP(rc);
}

static void *cancel_root(void *arg) {
  (void)arg;
  weft_fn fns[] = {long_sleep, sleep_for_ever};
  for (int k = 0; k < 2; k++) {
    atomic_int state;
    atomic_init(&state, 0);
    weft_future *t;
    CHECK_RC(weft_spawn(fns[k], &state, &t), 0);
    while (atomic_load(&state) == 0) weft_yield();
    CHECK_RC(weft_sleep(1 * MS), 0); /* very likely asleep by now; either way it must end */
    CHECK_RC(weft_cancel(t), 0);
    void *v;
    CHECK_RC(weft_await(t, &v), 0);
    CHECK(PI(v) == ECANCELED, "the sleeper returned %ld", (long)PI(v));
    CHECK(atomic_load(&state) == 2, "state %d", atomic_load(&state));
    weft_future_release(t);
  }
  return NULL;
}

ParameterizedTestParameters(time, cancel_wakes_a_sleeper) { return cr_make_param_array(unsigned, wc3, 3); }
ParameterizedTest(unsigned *workers, time, cancel_wakes_a_sleeper, .timeout = 60) {
  run_root(*workers, cancel_root, NULL);
}

/* A runtime destroyed while coroutines sleep for an hour, or for ever:
 * destroy cancels them. */
RT_TEST(time, destroy_cancels_sleepers, .timeout = 60) {
  weft_runtime *rt = make_rt(2);
  atomic_int st[8];
  for (int i = 0; i < 8; i++) {
    atomic_init(&st[i], 0);
    ASSERT_RC(weft_runtime_spawn(rt, i % 2 ? long_sleep : sleep_for_ever, &st[i], NULL), 0);
  }
  for (int i = 0; i < 8; i++) wait_at_least(&st[i], 1);
  ASSERT_RC(weft_runtime_destroy(rt), 0);
  for (int i = 0; i < 8; i++) cr_expect_eq(atomic_load(&st[i]), 2, "sleeper %d: state %d", i, atomic_load(&st[i]));
}

/* A standalone coroutine driven on a worker cannot suspend the task below it. */
static void *coro_sleeps(void *arg) {
  (void)arg;
  return IP(weft_sleep(1 * MS));
}

static void *coro_root(void *arg) {
  (void)arg;
  weft_coro *co;
  CHECK_RC(weft_coro_create(&co, coro_sleeps, NULL, 0), 0);
  void *out;
  CHECK_RC(weft_coro_send(co, NULL, &out), WEFT_DONE);
  CHECK(PI(out) == EPERM, "sleep in a standalone coroutine returned %ld", (long)PI(out));
  weft_coro_destroy(co);
  return NULL;
}

RT_TEST(time, sleep_in_a_standalone_coroutine_on_a_worker) {
  run_root(1, coro_root, NULL);
}

/* ---- weft_await_until ---------------------------------------------------------------------- */

static void *resolve_later(void *arg) {
  weft_future *f = arg;
  CHECK_RC(weft_sleep(2 * MS), 0);
  CHECK_RC(weft_future_resolve(f, IP(42)), 0);
  weft_future_release(f);
  return IP(7);
}

static void *slow_child(void *arg) {
  (void)arg;
  CHECK_RC(weft_sleep(20 * MS), 0);
  return IP(5);
}

static void *await_until_root(void *arg) {
  (void)arg;
  weft_future *f;
  void *v = IP(-1);
  /* A future nobody settles: times out, no earlier than the deadline, and
   * stays pending. */
  CHECK_RC(weft_future_create(&f), 0);
  uint64_t d = weft_now() + 5 * MS;
  CHECK_RC(weft_await_until(f, d, &v), ETIMEDOUT);
  CHECK(weft_now() >= d, "timed out early");
  CHECK(weft_future_status(f) == WEFT_FUTURE_PENDING, "the future changed");
  CHECK_RC(weft_await_until(f, 0, &v), ETIMEDOUT); /* the past: at once */
  /* Settled later: the waiter left behind from the timed-out await is
   * harmless (and freed: LeakSanitizer checks). */
  CHECK_RC(weft_future_resolve(f, IP(9)), 0);
  CHECK_RC(weft_await_until(f, 0, &v), 0); /* settled: read, even past the deadline */
  CHECK(PI(v) == 9, "value %ld", (long)PI(v));
  weft_future_release(f);

  /* Settled before a far deadline. */
  CHECK_RC(weft_future_create(&f), 0);
  weft_future_retain(f); /* the resolver's */
  weft_future *r;
  CHECK_RC(weft_spawn(resolve_later, f, &r), 0);
  CHECK_RC(weft_await_until(f, weft_now() + 60 * SEC, &v), 0);
  CHECK(PI(v) == 42, "value %ld", (long)PI(v));
  CHECK_RC(weft_await_until(r, weft_now() + 60 * SEC, &v), 0);
  CHECK(PI(v) == 7, "value %ld", (long)PI(v));
  weft_future_release(r);
  weft_future_release(f);

  /* A task that has not started is not run inline under a deadline: the
   * await times out while the task runs on its own, and can be awaited
   * again. */
  weft_future *t;
  CHECK_RC(weft_spawn(slow_child, NULL, &t), 0);
  d = weft_now() + 1 * MS;
  int rc = weft_await_until(t, d, &v);
  CHECK(rc == ETIMEDOUT, "awaiting a 20 ms task for 1 ms returned %s", weft_err_name(rc));
  CHECK(weft_now() >= d, "timed out early");
  CHECK_RC(weft_await(t, &v), 0);
  CHECK(PI(v) == 5, "value %ld", (long)PI(v));
  weft_future_release(t);

  return NULL;
}

ParameterizedTestParameters(time, await_until_in_a_coroutine) { return cr_make_param_array(unsigned, wc3, 3); }
ParameterizedTest(unsigned *workers, time, await_until_in_a_coroutine, .timeout = 60) {
  run_root(*workers, await_until_root, NULL);
}

static void *await_forever_with_deadline(void *arg) {
  weft_future *f = arg;
  return IP(weft_await_until(f, weft_now() + 3600 * SEC, NULL));
}

static void *cancel_timed_root(void *arg) {
  (void)arg;
  weft_future *f, *t;
  CHECK_RC(weft_future_create(&f), 0);
  CHECK_RC(weft_spawn(await_forever_with_deadline, f, &t), 0);
  CHECK_RC(weft_sleep(1 * MS), 0);
  CHECK_RC(weft_cancel(t), 0);
  void *v;
  CHECK_RC(weft_await(t, &v), 0);
  CHECK(PI(v) == ECANCELED, "returned %s", weft_err_name((int)PI(v)));
  weft_future_release(t);
  weft_future_release(f);
  return NULL;
}

RT_TEST(time, cancel_wakes_a_timed_await, .timeout = 60) {
  run_root(2, cancel_timed_root, NULL);
}

RT_TEST(time, await_until_from_a_plain_thread, .timeout = 60) {
  weft_future *f;
  void *v = NULL;
  ASSERT_RC(weft_future_create(&f), 0);
  uint64_t d = weft_now() + 5 * MS;
  ASSERT_RC(weft_await_until(f, d, &v), ETIMEDOUT);
  cr_assert_geq(weft_now(), d);
  ASSERT_RC(weft_await_until(f, 0, &v), ETIMEDOUT);
  ASSERT_RC(weft_future_resolve(f, IP(3)), 0);
  ASSERT_RC(weft_await_until(f, 0, &v), 0);
  cr_assert_eq(PI(v), 3);
  weft_future_release(f);

  /* A task of a runtime, awaited by the main thread with a deadline. */
  weft_runtime *rt = make_rt(2);
  weft_future *t;
  ASSERT_RC(weft_runtime_spawn(rt, slow_child, NULL, &t), 0);
  ASSERT_RC(weft_await_until(t, weft_now() + 60 * SEC, &v), 0);
  cr_assert_eq(PI(v), 5);
  weft_future_release(t);
  ASSERT_RC(weft_runtime_destroy(rt), 0);
}

/* ---- races: deadline vs settle vs cancel ---------------------------------------------------- */

struct race {
  weft_future *f;
  uint64_t deadline;
  uint64_t jitter; /* the settler's offset around the deadline */
  int rc;
  void *v;
};

static void *race_waiter(void *arg) {
  struct race *r = arg;
  r->rc = weft_await_until(r->f, r->deadline, &r->v);
  return NULL;
}

static void *race_settler(void *arg) {
  struct race *r = arg;
  uint64_t until = r->deadline - 50000 + r->jitter; /* around the deadline */
  while (weft_now() < until) weft_yield();
  weft_future_resolve(r->f, IP(11));
  return NULL;
}

static void *race_root(void *arg) {
  unsigned n = *(unsigned *)arg;
  uint64_t seed = test_seed(), rng = seed;
  struct race *r = calloc(n, sizeof *r);
  weft_future **w = calloc(n, sizeof *w), **s = calloc(n, sizeof *s);
  for (unsigned i = 0; i < n; i++) {
    CHECK_RC(weft_future_create(&r[i].f), 0);
    r[i].deadline = weft_now() + rng_next(&rng) % (2 * MS);
    r[i].jitter = rng_next(&rng) % 100000;
    CHECK_RC(weft_spawn(race_waiter, &r[i], &w[i]), 0);
    CHECK_RC(weft_spawn(race_settler, &r[i], &s[i]), 0);
    if (rng_next(&rng) % 4 == 0) weft_cancel(w[i]);
  }
  int timedout = 0, got = 0, cancelled = 0;
  for (unsigned i = 0; i < n; i++) {
    CHECK_RC(weft_await(s[i], NULL), 0);
    weft_await(w[i], NULL);
    if (weft_future_status(w[i]) == WEFT_FUTURE_FAILED) {
      cancelled++; /* cancelled before it started */
    } else if (r[i].rc == 0) {
      CHECK(PI(r[i].v) == 11, "seed %llu: value %ld", (unsigned long long)seed, (long)PI(r[i].v));
      got++;
    } else if (r[i].rc == ETIMEDOUT) {
      timedout++;
    } else {
      CHECK(r[i].rc == ECANCELED, "seed %llu: returned %s", (unsigned long long)seed,
            weft_err_name(r[i].rc));
      cancelled++;
    }
    weft_future_release(w[i]);
    weft_future_release(s[i]);
    weft_future_release(r[i].f);
  }
  CHECK(got + timedout + cancelled == (int)n, "lost waits");
  free(r);
  free(w);
  free(s);
  return NULL;
}

ParameterizedTestParameters(time, deadline_settle_cancel_race) { return cr_make_param_array(unsigned, wc3, 3); }
ParameterizedTest(unsigned *workers, time, deadline_settle_cancel_race, .timeout = 240) {
  unsigned n = SIZED(20000, 5000, 1000);
  run_root(*workers, race_root, &n);
}
