/* Futures (weft/future.h), black-box: settling once, references, waiting
 * from coroutines and from plain threads, chains, all-of, any-of.
 *
 * Futures are settled from plain threads (pthreads) while coroutines and
 * other threads wait for them. Checks off the test's main thread use
 * CHECK (print, abort); every test ends with a leak check (ASan builds). */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <criterion/parameterized.h>

#include "weft.h"
#include "support.h"

/* ---- settling once ----------------------------------------------------------------- */

RT_TEST(future, resolve_then_read) {
  weft_future *f = NULL;
  ASSERT_RC(weft_future_create(&f), 0);
  cr_assert_not_null(f);
  cr_expect_eq(weft_future_status(f), WEFT_FUTURE_PENDING);
  void *v = IP(1);
  ASSERT_RC(weft_future_result(f, &v), EAGAIN);
  ASSERT_RC(weft_future_resolve(f, IP(42)), 0);
  cr_expect_eq(weft_future_status(f), WEFT_FUTURE_RESOLVED);
  ASSERT_RC(weft_future_result(f, &v), 0);
  cr_expect_eq(PI(v), 42);
  ASSERT_RC(weft_future_result(f, NULL), 0);
  /* Settling again changes nothing. */
  ASSERT_RC(weft_future_resolve(f, IP(43)), EALREADY);
  ASSERT_RC(weft_future_fail(f, EIO), EALREADY);
  ASSERT_RC(weft_cancel(f), EALREADY);
  ASSERT_RC(weft_future_result(f, &v), 0);
  cr_expect_eq(PI(v), 42, "a second settle changed the value");
  /* Awaiting a settled future from a plain thread returns at once. */
  v = NULL;
  ASSERT_RC(weft_await(f, &v), 0);
  cr_expect_eq(PI(v), 42);
  ASSERT_RC(weft_future_release(f), 0);
}

RT_TEST(future, fail_then_read) {
  weft_future *f;
  ASSERT_RC(weft_future_create(&f), 0);
  ASSERT_RC(weft_future_fail(f, 0), EINVAL);
  ASSERT_RC(weft_future_fail(f, -5), EINVAL);
  cr_expect_eq(weft_future_status(f), WEFT_FUTURE_PENDING, "an invalid fail settled the future");
  ASSERT_RC(weft_future_fail(f, EIO), 0);
  cr_expect_eq(weft_future_status(f), WEFT_FUTURE_FAILED);
  void *v = IP(1);
  ASSERT_RC(weft_future_result(f, &v), EIO);
  cr_expect_null(v, "the value of a failed future must read as NULL");
  ASSERT_RC(weft_future_fail(f, EPERM), EALREADY);
  ASSERT_RC(weft_future_resolve(f, IP(1)), EALREADY);
  ASSERT_RC(weft_future_result(f, NULL), EIO); /* a second settle changed nothing */
  ASSERT_RC(weft_await(f, NULL), EIO);
  ASSERT_RC(weft_future_release(f), 0);
}

RT_TEST(future, cancel_a_pending_plain_future) {
  weft_future *f;
  ASSERT_RC(weft_future_create(&f), 0);
  ASSERT_RC(weft_cancel(f), 0);
  cr_expect_eq(weft_future_status(f), WEFT_FUTURE_FAILED);
  ASSERT_RC(weft_future_result(f, NULL), ECANCELED);
  ASSERT_RC(weft_cancel(f), EALREADY);
  ASSERT_RC(weft_future_release(f), 0);
}

/* Many threads race to settle one future: exactly one wins. */
struct settle_race {
  weft_future *f;
  atomic_int go;
  atomic_int wins;
  int id;
};

struct settle_racer {
  struct settle_race *r;
  int id;
};

static void *settle_racer_main(void *arg) {
  struct settle_racer *sr = arg;
  while (!atomic_load(&sr->r->go)) sched_yield();
  int rc;
  switch (sr->id % 3) {
  case 0: rc = weft_future_resolve(sr->r->f, IP(sr->id + 1)); break;
  case 1: rc = weft_future_fail(sr->r->f, sr->id + 1); break;
  default: rc = weft_cancel(sr->r->f); break;
  }
  CHECK(rc == 0 || rc == EALREADY, "settle returned %s", weft_err_name(rc));
  if (rc == 0) atomic_fetch_add(&sr->r->wins, 1);
  return NULL;
}

RT_TEST(future, concurrent_settles_one_wins, .timeout = 120) {
  int rounds = SIZED(300, 100, 30);
  for (int round = 0; round < rounds; round++) {
    struct settle_race r = {NULL, 0, 0, 0};
    ASSERT_RC(weft_future_create(&r.f), 0);
    struct settle_racer sr[6];
    pthread_t th[6];
    for (int i = 0; i < 6; i++) {
      sr[i] = (struct settle_racer){&r, i};
      th[i] = start_thread(settle_racer_main, &sr[i]);
    }
    atomic_store(&r.go, 1);
    for (int i = 0; i < 6; i++) pthread_join(th[i], NULL);
    cr_assert_eq(atomic_load(&r.wins), 1, "round %d: %d settles succeeded", round, atomic_load(&r.wins));
    cr_assert_neq(weft_future_status(r.f), WEFT_FUTURE_PENDING);
    ASSERT_RC(weft_future_release(r.f), 0);
  }
}

/* ---- references ---------------------------------------------------------------------- */

RT_TEST(future, retain_and_release) {
  weft_future *f;
  ASSERT_RC(weft_future_create(&f), 0);
  for (int i = 0; i < 3; i++) ASSERT_RC(weft_future_retain(f), 0);
  /* Four references: three releases leave it alive and usable. */
  for (int i = 0; i < 3; i++) {
    ASSERT_RC(weft_future_release(f), 0);
    cr_expect_eq(weft_future_status(f), WEFT_FUTURE_PENDING);
  }
  ASSERT_RC(weft_future_resolve(f, IP(3)), 0);
  void *v;
  ASSERT_RC(weft_future_result(f, &v), 0);
  cr_expect_eq(PI(v), 3);
  ASSERT_RC(weft_future_release(f), 0); /* the last: freed (ASan reports any later use) */
}

/* A thread keeps a future alive with its own reference after the creator
 * has let go. */
static void *resolve_and_release(void *arg) {
  weft_future *f = arg;
  sleep_us(1000);
  CHECK_RC(weft_future_resolve(f, IP(11)), 0);
  CHECK_RC(weft_future_release(f), 0);
  return NULL;
}

RT_TEST(future, a_reference_held_by_another_thread) {
  weft_future *f;
  ASSERT_RC(weft_future_create(&f), 0);
  ASSERT_RC(weft_future_retain(f), 0);
  pthread_t t = start_thread(resolve_and_release, f);
  void *v = NULL;
  ASSERT_RC(weft_await(f, &v), 0);
  cr_expect_eq(PI(v), 11);
  ASSERT_RC(weft_future_release(f), 0);
  pthread_join(t, NULL);
}

/* Releasing a task's last reference detaches it: it still runs to the end. */
struct detach {
  atomic_int go;
  atomic_int done;
};

static void *wait_go_then_finish(void *arg) {
  struct detach *d = arg;
  while (!atomic_load(&d->go)) {
    int rc = weft_yield();
    CHECK(rc == 0, "weft_yield: %s", weft_err_name(rc));
  }
  atomic_store(&d->done, 1);
  return NULL;
}

RT_TEST(future, releasing_a_task_does_not_stop_it, .timeout = 60) {
  weft_runtime *rt = make_rt(2);
  struct detach d = {0, 0};
  weft_future *t;
  ASSERT_RC(weft_runtime_spawn(rt, wait_go_then_finish, &d, &t), 0);
  ASSERT_RC(weft_future_release(t), 0);
  atomic_store(&d.go, 1);
  wait_at_least(&d.done, 1);
  ASSERT_RC(weft_runtime_destroy(rt), 0);
}

RT_TEST(future, a_task_cannot_be_settled_from_outside, .timeout = 60) {
  weft_runtime *rt = make_rt(1);
  weft_future *t;
  struct detach d = {1, 0};
  ASSERT_RC(weft_runtime_spawn(rt, wait_go_then_finish, &d, &t), 0);
  ASSERT_RC(weft_future_resolve(t, IP(1)), EINVAL);
  ASSERT_RC(weft_future_fail(t, EIO), EINVAL);
  ASSERT_RC(weft_await(t, NULL), 0);
  ASSERT_RC(weft_future_resolve(t, IP(1)), EINVAL);
  ASSERT_RC(weft_future_release(t), 0);
  ASSERT_RC(weft_runtime_destroy(rt), 0);
}

/* ---- waiting from plain threads ------------------------------------------------------ */

struct settler {
  weft_future *f;
  int how; /* 0 resolve, 1 fail, 2 cancel */
  long delay_us;
  atomic_int settling; /* set just before the settle call */
};

static void *settler_main(void *arg) {
  struct settler *s = arg;
  sleep_us(s->delay_us);
  atomic_store(&s->settling, 1);
  switch (s->how) {
  case 0: CHECK_RC(weft_future_resolve(s->f, IP(77)), 0); break;
  case 1: CHECK_RC(weft_future_fail(s->f, EIO), 0); break;
  default: CHECK_RC(weft_cancel(s->f), 0); break;
  }
  return NULL;
}

static const int settle_rc[] = {0, EIO, ECANCELED};

ParameterizedTestParameters(await_thread, blocks_until_another_thread_settles) {
  static int how[] = {0, 1, 2};
  return cr_make_param_array(int, how, 3);
}
ParameterizedTest(int *how, await_thread, blocks_until_another_thread_settles, .timeout = 60) {
  weft_future *f;
  ASSERT_RC(weft_future_create(&f), 0);
  struct settler s = {f, *how, 20000, 0};
  pthread_t t = start_thread(settler_main, &s);
  void *v = NULL;
  int rc = weft_await(f, &v);
  /* The await cannot have returned before the settle began. */
  cr_expect_eq(atomic_load(&s.settling), 1, "weft_await returned before the future was settled");
  cr_expect_eq(rc, settle_rc[*how], "weft_await returned %s", weft_err_name(rc));
  if (*how == 0) cr_expect_eq(PI(v), 77);
  pthread_join(t, NULL);
  ASSERT_RC(weft_future_release(f), 0);
  leak_check();
}

/* Many plain threads wait for one future. */
struct thread_awaiter {
  weft_future *f;
  atomic_int *started;
  int rc;
  void *v;
};

static void *thread_awaiter_main(void *arg) {
  struct thread_awaiter *a = arg;
  atomic_fetch_add(a->started, 1);
  a->rc = weft_await(a->f, &a->v);
  return NULL;
}

RT_TEST(await_thread, many_threads_on_one_future, .timeout = 60) {
  enum { N = 8 };
  for (int how = 0; how < 3; how++) {
    weft_future *f;
    ASSERT_RC(weft_future_create(&f), 0);
    atomic_int started = 0;
    struct thread_awaiter a[N];
    pthread_t th[N];
    for (int i = 0; i < N; i++) {
      a[i] = (struct thread_awaiter){f, &started, -1, NULL};
      th[i] = start_thread(thread_awaiter_main, &a[i]);
    }
    wait_at_least(&started, N);
    sleep_us(2000);
    struct settler s = {f, how, 0, 0};
    settler_main(&s);
    for (int i = 0; i < N; i++) {
      pthread_join(th[i], NULL);
      cr_expect_eq(a[i].rc, settle_rc[how], "thread %d: %s", i, weft_err_name(a[i].rc));
      if (how == 0) cr_expect_eq(PI(a[i].v), 77);
    }
    ASSERT_RC(weft_future_release(f), 0);
  }
}

/* ---- coroutines waiting, plain threads settling --------------------------------------- */

struct co_awaiter {
  weft_future *f;
  atomic_int *started;
  int rc;
  void *v;
};

static void *co_awaiter_main(void *arg) {
  struct co_awaiter *a = arg;
  atomic_fetch_add(a->started, 1);
  a->rc = weft_await(a->f, &a->v);
  return NULL;
}

ParameterizedTestParameters(await_task, many_tasks_and_threads_on_one_future) {
  static int how[] = {0, 1, 2};
  return cr_make_param_array(int, how, 3);
}
ParameterizedTest(int *how, await_task, many_tasks_and_threads_on_one_future, .timeout = 120) {
  int m = SIZED(300, 150, 40);
  enum { NT = 4 };
  weft_runtime *rt = make_rt(3);
  weft_future *f;
  ASSERT_RC(weft_future_create(&f), 0);
  atomic_int started = 0;
  struct co_awaiter *a = calloc((size_t)m, sizeof *a);
  weft_future **t = calloc((size_t)m, sizeof *t);
  cr_assert(a && t);
  for (int i = 0; i < m; i++) {
    a[i] = (struct co_awaiter){f, &started, -1, NULL};
    ASSERT_RC(weft_runtime_spawn(rt, co_awaiter_main, &a[i], &t[i]), 0);
  }
  struct thread_awaiter ta[NT];
  pthread_t th[NT];
  for (int i = 0; i < NT; i++) {
    ta[i] = (struct thread_awaiter){f, &started, -1, NULL};
    th[i] = start_thread(thread_awaiter_main, &ta[i]);
  }
  wait_at_least(&started, m + NT);
  struct settler s = {f, *how, 1000, 0};
  pthread_t st = start_thread(settler_main, &s);
  for (int i = 0; i < m; i++) {
    ASSERT_RC(weft_await(t[i], NULL), 0);
    cr_expect_eq(a[i].rc, settle_rc[*how], "task %d: %s", i, weft_err_name(a[i].rc));
    if (*how == 0) cr_expect_eq(PI(a[i].v), 77, "task %d got %ld", i, (long)PI(a[i].v));
    ASSERT_RC(weft_future_release(t[i]), 0);
  }
  for (int i = 0; i < NT; i++) {
    pthread_join(th[i], NULL);
    cr_expect_eq(ta[i].rc, settle_rc[*how], "thread %d: %s", i, weft_err_name(ta[i].rc));
  }
  pthread_join(st, NULL);
  ASSERT_RC(weft_future_release(f), 0);
  ASSERT_RC(weft_runtime_destroy(rt), 0);
  free(a);
  free(t);
  leak_check();
}

/* The settle races the awaiters' suspension: nobody waits for the tasks to
 * be suspended before settling. Many rounds, a fresh future each. */
RT_TEST(await_task, settle_races_suspension, .timeout = 180) {
  int rounds = SIZED(500, 150, 40);
  enum { M = 16 };
  uint64_t seed = test_seed(), s = seed;
  weft_runtime *rt = make_rt(2);
  for (int round = 0; round < rounds; round++) {
    weft_future *f;
    ASSERT_RC(weft_future_create(&f), 0);
    atomic_int started = 0;
    struct co_awaiter a[M];
    weft_future *t[M];
    for (int i = 0; i < M; i++) {
      a[i] = (struct co_awaiter){f, &started, -1, NULL};
      ASSERT_RC(weft_runtime_spawn(rt, co_awaiter_main, &a[i], &t[i]), 0);
    }
    int how = (int)(rng_next(&s) % 3);
    struct settler st = {f, how, (long)(rng_next(&s) % 50), 0};
    pthread_t th = start_thread(settler_main, &st);
    for (int i = 0; i < M; i++) {
      ASSERT_RC(weft_await(t[i], NULL), 0);
      cr_assert_eq(a[i].rc, settle_rc[how], "round %d (seed %#llx), task %d: %s", round,
                   (unsigned long long)seed, i, weft_err_name(a[i].rc));
      if (how == 0) cr_assert_eq(PI(a[i].v), 77);
      ASSERT_RC(weft_future_release(t[i]), 0);
    }
    pthread_join(th, NULL);
    ASSERT_RC(weft_future_release(f), 0);
  }
  ASSERT_RC(weft_runtime_destroy(rt), 0);
}

/* A task awaits a future that a task of the same runtime resolves. */
struct pair {
  weft_future *f;
  int rc;
  void *v;
};

static void *pair_resolver(void *arg) {
  struct pair *p = arg;
  CHECK_RC(weft_yield(), 0);
  CHECK_RC(weft_future_resolve(p->f, IP(5)), 0);
  return NULL;
}

static void *pair_root(void *arg) {
  struct pair *p = arg;
  weft_future *r;
  CHECK_RC(weft_spawn(pair_resolver, p, &r), 0);
  p->rc = weft_await(p->f, &p->v);
  CHECK_RC(weft_await(r, NULL), 0);
  CHECK_RC(weft_future_release(r), 0);
  return NULL;
}

ParameterizedTestParameters(await_task, resolved_by_a_sibling_task) {
  static unsigned w[] = {1, 2, 4};
  return cr_make_param_array(unsigned, w, 3);
}
ParameterizedTest(unsigned *workers, await_task, resolved_by_a_sibling_task, .timeout = 60) {
  weft_runtime *rt = make_rt(*workers);
  for (int i = 0; i < 200; i++) {
    struct pair p = {NULL, -1, NULL};
    ASSERT_RC(weft_future_create(&p.f), 0);
    ASSERT_RC(weft_run_until_complete(rt, pair_root, &p, NULL), 0);
    ASSERT_RC(p.rc, 0);
    cr_assert_eq(PI(p.v), 5);
    ASSERT_RC(weft_future_release(p.f), 0);
  }
  ASSERT_RC(weft_runtime_destroy(rt), 0);
  leak_check();
}

/* ---- then -------------------------------------------------------------------------------- */

#define CHAIN_N 10000

struct chain {
  atomic_long calls;
  long fail_at; /* the callback that sees this value fails; -1: none */
  int fail_err;
};

static int add_one(void *arg, void *value, void **result) {
  struct chain *c = arg;
  atomic_fetch_add(&c->calls, 1);
  if (PI(value) == c->fail_at) return c->fail_err;
  *result = IP(PI(value) + 1);
  return 0;
}

/* Builds CHAIN_N continuations after `head`, dropping each intermediate
 * future as it goes (each stays alive for as long as its continuation needs
 * it). Returns the last. */
static weft_future *build_chain(weft_future *head, struct chain *c) {
  weft_future *cur = head;
  for (int k = 0; k < CHAIN_N; k++) {
    weft_future *next = NULL;
    ASSERT_RC(weft_future_then(cur, add_one, c, &next), 0);
    cr_assert_not_null(next);
    if (cur != head) ASSERT_RC(weft_future_release(cur), 0);
    cur = next;
  }
  return cur;
}

static void *resolve_zero(void *arg) {
  CHECK_RC(weft_future_resolve(arg, IP(0)), 0);
  return NULL;
}

static void *fail_eio(void *arg) {
  CHECK_RC(weft_future_fail(arg, EIO), 0);
  return NULL;
}

/* Where the head is settled: 0 this thread, 1 a thread with a 64 KiB stack,
 * 2 inside a coroutine (64 KiB stack). A settle that recursed once per link
 * would overflow the last two. */
static void settle_head(weft_future *head, int where, void *(*how)(void *)) {
  if (where == 0) {
    how(head);
  } else if (where == 1) {
    pthread_t t = start_thread_stack(how, head, 64 * 1024);
    pthread_join(t, NULL);
  } else {
    weft_runtime *rt = make_rt(1);
    ASSERT_RC(weft_run_until_complete(rt, how, head, NULL), 0);
    ASSERT_RC(weft_runtime_destroy(rt), 0);
  }
}

ParameterizedTestParameters(then, chain_built_on_a_pending_head) {
  static int where[] = {0, 1, 2};
  return cr_make_param_array(int, where, 3);
}
ParameterizedTest(int *where, then, chain_built_on_a_pending_head, .timeout = 120) {
  struct chain c = {0, -1, 0};
  weft_future *head;
  ASSERT_RC(weft_future_create(&head), 0);
  weft_future *last = build_chain(head, &c);
  cr_expect_eq(atomic_load(&c.calls), 0, "a continuation ran before its input settled");
  cr_expect_eq(weft_future_status(last), WEFT_FUTURE_PENDING);
  settle_head(head, *where, resolve_zero);
  cr_expect_eq(atomic_load(&c.calls), CHAIN_N);
  void *v = NULL;
  ASSERT_RC(weft_future_result(last, &v), 0);
  cr_expect_eq(PI(v), CHAIN_N);
  ASSERT_RC(weft_await(last, &v), 0);
  ASSERT_RC(weft_future_release(last), 0);
  ASSERT_RC(weft_future_release(head), 0);
  leak_check();
}

RT_TEST(then, chain_built_on_a_resolved_head) {
  struct chain c = {0, -1, 0};
  weft_future *head;
  ASSERT_RC(weft_future_create(&head), 0);
  ASSERT_RC(weft_future_resolve(head, IP(0)), 0);
  weft_future *last = build_chain(head, &c);
  cr_expect_eq(atomic_load(&c.calls), CHAIN_N, "continuations on settled inputs run at once");
  void *v = NULL;
  ASSERT_RC(weft_future_result(last, &v), 0);
  cr_expect_eq(PI(v), CHAIN_N);
  ASSERT_RC(weft_future_release(last), 0);
  ASSERT_RC(weft_future_release(head), 0);
}

ParameterizedTestParameters(then, error_at_the_head_propagates_without_callbacks) {
  static int where[] = {0, 1, 2};
  return cr_make_param_array(int, where, 3);
}
ParameterizedTest(int *where, then, error_at_the_head_propagates_without_callbacks, .timeout = 120) {
  struct chain c = {0, -1, 0};
  weft_future *head;
  ASSERT_RC(weft_future_create(&head), 0);
  weft_future *last = build_chain(head, &c);
  settle_head(head, *where, fail_eio);
  cr_expect_eq(atomic_load(&c.calls), 0, "a continuation ran on a failed input");
  ASSERT_RC(weft_future_result(last, NULL), EIO);
  ASSERT_RC(weft_await(last, NULL), EIO);
  ASSERT_RC(weft_future_release(last), 0);
  ASSERT_RC(weft_future_release(head), 0);
  leak_check();
}

RT_TEST(then, chain_built_on_a_failed_head) {
  struct chain c = {0, -1, 0};
  weft_future *head;
  ASSERT_RC(weft_future_create(&head), 0);
  ASSERT_RC(weft_cancel(head), 0);
  weft_future *last = build_chain(head, &c);
  cr_expect_eq(atomic_load(&c.calls), 0);
  ASSERT_RC(weft_future_result(last, NULL), ECANCELED);
  ASSERT_RC(weft_future_release(last), 0);
  ASSERT_RC(weft_future_release(head), 0);
}

RT_TEST(then, a_callback_error_fails_its_output_and_the_rest) {
  for (int pending = 0; pending < 2; pending++) {
    struct chain c = {0, CHAIN_N / 2, EPROTO};
    weft_future *head;
    ASSERT_RC(weft_future_create(&head), 0);
    if (!pending) ASSERT_RC(weft_future_resolve(head, IP(0)), 0);
    weft_future *last = build_chain(head, &c);
    if (pending) ASSERT_RC(weft_future_resolve(head, IP(0)), 0);
    /* Callbacks 0 .. N/2 ran (the last of them failed); none after. */
    cr_expect_eq(atomic_load(&c.calls), CHAIN_N / 2 + 1, "%ld callbacks ran", atomic_load(&c.calls));
    ASSERT_RC(weft_future_result(last, NULL), EPROTO);
    ASSERT_RC(weft_future_release(last), 0);
    ASSERT_RC(weft_future_release(head), 0);
  }
}

RT_TEST(then, one_step_value_and_error) {
  struct chain c = {0, 7, ENOENT};
  weft_future *in, *ok, *bad;
  ASSERT_RC(weft_future_create(&in), 0);
  ASSERT_RC(weft_future_then(in, add_one, &c, &ok), 0);
  ASSERT_RC(weft_future_resolve(in, IP(1)), 0);
  void *v;
  ASSERT_RC(weft_future_result(ok, &v), 0);
  cr_expect_eq(PI(v), 2);
  ASSERT_RC(weft_future_release(in), 0);
  ASSERT_RC(weft_future_create(&in), 0);
  ASSERT_RC(weft_future_then(in, add_one, &c, &bad), 0);
  ASSERT_RC(weft_future_resolve(in, IP(7)), 0);
  cr_expect_eq(weft_future_status(bad), WEFT_FUTURE_FAILED);
  ASSERT_RC(weft_future_result(bad, &v), ENOENT);
  ASSERT_RC(weft_future_release(in), 0);
  ASSERT_RC(weft_future_release(ok), 0);
  ASSERT_RC(weft_future_release(bad), 0);
}

RT_TEST(then, several_continuations_on_one_input) {
  struct chain c = {0, -1, 0};
  weft_future *in, *out[16];
  ASSERT_RC(weft_future_create(&in), 0);
  for (int i = 0; i < 16; i++) ASSERT_RC(weft_future_then(in, add_one, &c, &out[i]), 0);
  ASSERT_RC(weft_future_resolve(in, IP(100)), 0);
  cr_expect_eq(atomic_load(&c.calls), 16);
  for (int i = 0; i < 16; i++) {
    void *v;
    ASSERT_RC(weft_future_result(out[i], &v), 0);
    cr_expect_eq(PI(v), 101);
    ASSERT_RC(weft_future_release(out[i]), 0);
  }
  ASSERT_RC(weft_future_release(in), 0);
}

RT_TEST(then, cancelled_output_skips_the_callback) {
  struct chain c = {0, -1, 0};
  weft_future *in, *out;
  ASSERT_RC(weft_future_create(&in), 0);
  ASSERT_RC(weft_future_then(in, add_one, &c, &out), 0);
  ASSERT_RC(weft_cancel(out), 0);
  ASSERT_RC(weft_future_resolve(in, IP(1)), 0);
  cr_expect_eq(atomic_load(&c.calls), 0, "the callback ran for a cancelled output");
  ASSERT_RC(weft_future_result(out, NULL), ECANCELED);
  ASSERT_RC(weft_future_release(out), 0);
  ASSERT_RC(weft_future_release(in), 0);
}

/* Releasing the output before the input settles: the callback still runs
 * (weft holds its own reference) and nothing leaks. */
RT_TEST(then, output_released_before_the_input_settles) {
  struct chain c = {0, -1, 0};
  weft_future *in, *out;
  ASSERT_RC(weft_future_create(&in), 0);
  ASSERT_RC(weft_future_then(in, add_one, &c, &out), 0);
  ASSERT_RC(weft_future_release(out), 0);
  ASSERT_RC(weft_future_resolve(in, IP(1)), 0);
  cr_expect_eq(atomic_load(&c.calls), 1);
  ASSERT_RC(weft_future_release(in), 0);
}

/* `then` on a task, awaited from a coroutine and from main. */
static void *return_arg(void *arg) { return arg; }

static void *then_on_task_root(void *arg) {
  struct chain *c = arg;
  weft_future *t, *o;
  CHECK_RC(weft_spawn(return_arg, IP(41), &t), 0);
  CHECK_RC(weft_future_then(t, add_one, c, &o), 0);
  void *v = NULL;
  CHECK_RC(weft_await(o, &v), 0);
  CHECK(PI(v) == 42, "got %ld", (long)PI(v));
  CHECK_RC(weft_future_release(o), 0);
  CHECK_RC(weft_future_release(t), 0);
  return v;
}

RT_TEST(then, on_a_task, .timeout = 60) {
  struct chain c = {0, -1, 0};
  weft_runtime *rt = make_rt(2);
  void *v = NULL;
  ASSERT_RC(weft_run_until_complete(rt, then_on_task_root, &c, &v), 0);
  cr_expect_eq(PI(v), 42);
  weft_future *t, *o;
  ASSERT_RC(weft_runtime_spawn(rt, return_arg, IP(9), &t), 0);
  ASSERT_RC(weft_future_then(t, add_one, &c, &o), 0);
  ASSERT_RC(weft_await(o, &v), 0);
  cr_expect_eq(PI(v), 10);
  ASSERT_RC(weft_future_release(o), 0);
  ASSERT_RC(weft_future_release(t), 0);
  ASSERT_RC(weft_runtime_destroy(rt), 0);
}

/* A chain settled from a plain thread while a coroutine awaits its end. */
static void *await_arg(void *arg) {
  void *v = NULL;
  int rc = weft_await(arg, &v);
  CHECK(rc == 0, "await: %s", weft_err_name(rc));
  return v;
}

RT_TEST(then, coroutine_awaits_the_end_of_a_chain, .timeout = 60) {
  struct chain c = {0, -1, 0};
  weft_runtime *rt = make_rt(2);
  weft_future *head;
  ASSERT_RC(weft_future_create(&head), 0);
  weft_future *last = build_chain(head, &c);
  weft_future *t;
  ASSERT_RC(weft_runtime_spawn(rt, await_arg, last, &t), 0);
  pthread_t th = start_thread_stack(resolve_zero, head, 64 * 1024);
  void *v = NULL;
  ASSERT_RC(weft_await(t, &v), 0);
  cr_expect_eq(PI(v), CHAIN_N);
  pthread_join(th, NULL);
  ASSERT_RC(weft_future_release(t), 0);
  ASSERT_RC(weft_future_release(last), 0);
  ASSERT_RC(weft_future_release(head), 0);
  ASSERT_RC(weft_runtime_destroy(rt), 0);
}

/* ---- all -------------------------------------------------------------------------------- */

#define ALL_N 10000

struct many {
  weft_future **f;
  unsigned *order;
  size_t n;      /* settle order[0 .. n) */
  long fail_at;  /* index into order to fail instead of resolve; -1: none */
};

static void *settle_in_order(void *arg) {
  struct many *m = arg;
  for (size_t k = 0; k < m->n; k++) {
    unsigned i = m->order[k];
    if ((long)k == m->fail_at)
      CHECK_RC(weft_future_fail(m->f[i], EIO), 0);
    else
      CHECK_RC(weft_future_resolve(m->f[i], IP(i + 1)), 0);
  }
  return NULL;
}

static weft_future **make_futures(size_t n) {
  weft_future **f = calloc(n, sizeof *f);
  cr_assert_not_null(f);
  for (size_t i = 0; i < n; i++) ASSERT_RC(weft_future_create(&f[i]), 0);
  return f;
}

static void release_futures(weft_future **f, size_t n) {
  for (size_t i = 0; i < n; i++) ASSERT_RC(weft_future_release(f[i]), 0);
  free(f);
}

static unsigned *shuffled(size_t n, uint64_t seed) {
  unsigned *o = malloc(n * sizeof *o);
  cr_assert_not_null(o);
  for (size_t i = 0; i < n; i++) o[i] = (unsigned)i;
  uint64_t s = seed;
  for (size_t i = n - 1; i > 0; i--) {
    size_t j = (size_t)(rng_next(&s) % (i + 1));
    unsigned t = o[i];
    o[i] = o[j];
    o[j] = t;
  }
  return o;
}

RT_TEST(all, ten_thousand_resolved_from_another_thread_in_random_order, .timeout = 60) {
  uint64_t seed = test_seed();
  weft_future **f = make_futures(ALL_N);
  weft_future *all;
  ASSERT_RC(weft_future_all(f, ALL_N, &all), 0);
  unsigned *order = shuffled(ALL_N, seed);
  /* All but the last, from another thread. */
  struct many m = {f, order, ALL_N - 1, -1};
  pthread_t t = start_thread(settle_in_order, &m);
  pthread_join(t, NULL);
  cr_expect_eq(weft_future_status(all), WEFT_FUTURE_PENDING,
               "seed %#llx: all-of settled with one input still pending", (unsigned long long)seed);
  ASSERT_RC(weft_future_resolve(f[order[ALL_N - 1]], IP(order[ALL_N - 1] + 1)), 0);
  void *v = IP(1);
  ASSERT_RC(weft_future_result(all, &v), 0);
  cr_expect_null(v, "all-of resolves with NULL");
  for (size_t i = 0; i < ALL_N; i++) {
    ASSERT_RC(weft_future_result(f[i], &v), 0);
    cr_assert_eq(PI(v), (intptr_t)i + 1);
  }
  ASSERT_RC(weft_future_release(all), 0);
  release_futures(f, ALL_N);
  free(order);
}

RT_TEST(all, awaited_while_another_thread_resolves, .timeout = 60) {
  uint64_t seed = test_seed();
  weft_future **f = make_futures(ALL_N);
  weft_future *all;
  ASSERT_RC(weft_future_all(f, ALL_N, &all), 0);
  unsigned *order = shuffled(ALL_N, seed);
  struct many m = {f, order, ALL_N, -1};
  pthread_t t = start_thread(settle_in_order, &m);
  ASSERT_RC(weft_await(all, NULL), 0);
  pthread_join(t, NULL);
  ASSERT_RC(weft_future_release(all), 0);
  release_futures(f, ALL_N);
  free(order);
}

RT_TEST(all, one_failure_fails_it, .timeout = 60) {
  uint64_t seed = test_seed(), s = seed;
  weft_future **f = make_futures(ALL_N);
  weft_future *all;
  ASSERT_RC(weft_future_all(f, ALL_N, &all), 0);
  unsigned *order = shuffled(ALL_N, seed);
  /* Half settle, one of them failing; the rest stay pending. */
  struct many m = {f, order, ALL_N / 2, (long)(rng_next(&s) % (ALL_N / 2))};
  pthread_t t = start_thread(settle_in_order, &m);
  pthread_join(t, NULL);
  cr_expect_eq(weft_future_status(all), WEFT_FUTURE_FAILED, "seed %#llx", (unsigned long long)seed);
  ASSERT_RC(weft_future_result(all, NULL), EIO);
  ASSERT_RC(weft_await(all, NULL), EIO);
  /* Settling the rest changes nothing. */
  for (size_t k = ALL_N / 2; k < ALL_N; k++) ASSERT_RC(weft_future_resolve(f[order[k]], NULL), 0);
  ASSERT_RC(weft_future_result(all, NULL), EIO);
  ASSERT_RC(weft_future_release(all), 0);
  release_futures(f, ALL_N);
  free(order);
}

RT_TEST(all, the_first_error_wins) {
  weft_future **f = make_futures(3);
  weft_future *all;
  ASSERT_RC(weft_future_all(f, 3, &all), 0);
  ASSERT_RC(weft_future_fail(f[2], EPERM), 0);
  ASSERT_RC(weft_future_fail(f[0], EIO), 0);
  ASSERT_RC(weft_future_resolve(f[1], NULL), 0);
  ASSERT_RC(weft_future_result(all, NULL), EPERM);
  ASSERT_RC(weft_future_release(all), 0);
  release_futures(f, 3);
}

RT_TEST(all, of_nothing_and_of_settled_inputs) {
  weft_future *all;
  ASSERT_RC(weft_future_all(NULL, 0, &all), 0);
  cr_expect_eq(weft_future_status(all), WEFT_FUTURE_RESOLVED, "all-of nothing resolves at once");
  ASSERT_RC(weft_future_release(all), 0);

  weft_future **f = make_futures(4);
  for (int i = 0; i < 4; i++) ASSERT_RC(weft_future_resolve(f[i], IP(i)), 0);
  ASSERT_RC(weft_future_all(f, 4, &all), 0);
  cr_expect_eq(weft_future_status(all), WEFT_FUTURE_RESOLVED);
  ASSERT_RC(weft_future_release(all), 0);
  /* An input that has already failed. */
  weft_future *g;
  ASSERT_RC(weft_future_create(&g), 0);
  ASSERT_RC(weft_future_fail(g, ENOENT), 0);
  weft_future *in[2] = {f[0], g};
  ASSERT_RC(weft_future_all(in, 2, &all), 0);
  ASSERT_RC(weft_future_result(all, NULL), ENOENT);
  ASSERT_RC(weft_future_release(all), 0);
  ASSERT_RC(weft_future_release(g), 0);
  release_futures(f, 4);
}

/* all-of over tasks, awaited by a coroutine. */
static void *all_of_tasks_root(void *arg) {
  int n = (int)PI(arg);
  weft_future **t = malloc((size_t)n * sizeof *t);
  CHECK(t != NULL, "malloc");
  for (int i = 0; i < n; i++) CHECK_RC(weft_spawn(return_arg, IP(i), &t[i]), 0);
  weft_future *all;
  CHECK_RC(weft_future_all(t, (size_t)n, &all), 0);
  CHECK_RC(weft_await(all, NULL), 0);
  long sum = 0;
  for (int i = 0; i < n; i++) {
    void *v;
    CHECK_RC(weft_future_result(t[i], &v), 0);
    sum += PI(v);
    CHECK_RC(weft_future_release(t[i]), 0);
  }
  CHECK_RC(weft_future_release(all), 0);
  free(t);
  return IP(sum);
}

RT_TEST(all, of_tasks_awaited_by_a_coroutine, .timeout = 60) {
  int n = SIZED(5000, 2000, 500);
  weft_runtime *rt = make_rt(3);
  void *v = NULL;
  ASSERT_RC(weft_run_until_complete(rt, all_of_tasks_root, IP(n), &v), 0);
  cr_expect_eq(PI(v), (intptr_t)n * (n - 1) / 2);
  ASSERT_RC(weft_runtime_destroy(rt), 0);
}

/* ---- any -------------------------------------------------------------------------------- */

RT_TEST(any, first_resolved_wins) {
  weft_future **f = make_futures(3);
  weft_future *any;
  ASSERT_RC(weft_future_any(f, 3, &any), 0);
  cr_expect_eq(weft_future_status(any), WEFT_FUTURE_PENDING);
  ASSERT_RC(weft_future_fail(f[2], EIO), 0);
  cr_expect_eq(weft_future_status(any), WEFT_FUTURE_PENDING, "one failure must not settle any-of");
  ASSERT_RC(weft_future_resolve(f[1], IP(11)), 0);
  ASSERT_RC(weft_future_resolve(f[0], IP(10)), 0);
  void *v;
  ASSERT_RC(weft_future_result(any, &v), 0);
  cr_expect_eq(PI(v), 11, "any-of took %ld, not the first resolved", (long)PI(v));
  ASSERT_RC(weft_future_release(any), 0);
  release_futures(f, 3);
}

RT_TEST(any, all_failing_fails_with_the_last_error) {
  weft_future **f = make_futures(3);
  weft_future *any;
  ASSERT_RC(weft_future_any(f, 3, &any), 0);
  ASSERT_RC(weft_future_fail(f[1], EIO), 0);
  ASSERT_RC(weft_future_fail(f[0], EPERM), 0);
  cr_expect_eq(weft_future_status(any), WEFT_FUTURE_PENDING);
  ASSERT_RC(weft_cancel(f[2]), 0);
  ASSERT_RC(weft_future_result(any, NULL), ECANCELED);
  ASSERT_RC(weft_future_release(any), 0);
  release_futures(f, 3);

  f = make_futures(2);
  ASSERT_RC(weft_future_any(f, 2, &any), 0);
  ASSERT_RC(weft_future_fail(f[0], ENOENT), 0);
  ASSERT_RC(weft_future_fail(f[1], EIO), 0);
  ASSERT_RC(weft_future_result(any, NULL), EIO);
  ASSERT_RC(weft_future_release(any), 0);
  release_futures(f, 2);
}

RT_TEST(any, of_settled_inputs) {
  weft_future **f = make_futures(3);
  ASSERT_RC(weft_future_fail(f[0], EIO), 0);
  ASSERT_RC(weft_future_resolve(f[2], IP(3)), 0);
  weft_future *any;
  ASSERT_RC(weft_future_any(f, 3, &any), 0);
  void *v;
  ASSERT_RC(weft_future_result(any, &v), 0);
  cr_expect_eq(PI(v), 3);
  ASSERT_RC(weft_future_resolve(f[1], IP(2)), 0);
  ASSERT_RC(weft_future_result(any, &v), 0);
  cr_expect_eq(PI(v), 3);
  ASSERT_RC(weft_future_release(any), 0);
  release_futures(f, 3);
}

/* Threads race to resolve different inputs: any-of takes one of them, once;
 * an awaiting coroutine and the main thread see the same value. */
struct any_racer {
  weft_future *f;
  atomic_int *go;
  int id;
};

static void *any_racer_main(void *arg) {
  struct any_racer *r = arg;
  while (!atomic_load(r->go)) sched_yield();
  CHECK_RC(weft_future_resolve(r->f, IP(r->id + 1)), 0);
  return NULL;
}

RT_TEST(any, racing_resolvers, .timeout = 120) {
  enum { N = 4 };
  int rounds = SIZED(300, 100, 30);
  weft_runtime *rt = make_rt(2);
  for (int round = 0; round < rounds; round++) {
    weft_future **f = make_futures(N);
    weft_future *any, *t;
    ASSERT_RC(weft_future_any(f, N, &any), 0);
    ASSERT_RC(weft_runtime_spawn(rt, await_arg, any, &t), 0);
    atomic_int go = 0;
    struct any_racer r[N];
    pthread_t th[N];
    for (int i = 0; i < N; i++) {
      r[i] = (struct any_racer){f[i], &go, i};
      th[i] = start_thread(any_racer_main, &r[i]);
    }
    atomic_store(&go, 1);
    void *v = NULL, *tv = NULL;
    ASSERT_RC(weft_await(any, &v), 0);
    cr_assert(PI(v) >= 1 && PI(v) <= N, "round %d: any-of gave %ld", round, (long)PI(v));
    ASSERT_RC(weft_await(t, &tv), 0);
    cr_assert_eq(tv, v, "round %d: the coroutine saw %ld, main %ld", round, (long)PI(tv), (long)PI(v));
    for (int i = 0; i < N; i++) pthread_join(th[i], NULL);
    ASSERT_RC(weft_future_result(any, &tv), 0);
    cr_assert_eq(tv, v, "round %d: any-of changed its value", round);
    ASSERT_RC(weft_future_release(t), 0);
    ASSERT_RC(weft_future_release(any), 0);
    release_futures(f, N);
  }
  ASSERT_RC(weft_runtime_destroy(rt), 0);
}

/* Combinators whose inputs are released (never to settle) before the
 * output settles: nothing leaks, the output stays pending. */
RT_TEST(any, inputs_released_unsettled) {
  weft_future **f = make_futures(3);
  weft_future *any, *all;
  ASSERT_RC(weft_future_any(f, 3, &any), 0);
  ASSERT_RC(weft_future_all(f, 3, &all), 0);
  ASSERT_RC(weft_future_resolve(f[0], IP(1)), 0);
  release_futures(f, 3);
  ASSERT_RC(weft_future_result(any, NULL), 0);
  cr_expect_eq(weft_future_status(all), WEFT_FUTURE_PENDING);
  ASSERT_RC(weft_future_release(any), 0);
  ASSERT_RC(weft_future_release(all), 0);
}
