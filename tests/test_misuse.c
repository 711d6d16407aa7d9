/* Misuse and lifecycle of the runtime (weft/runtime.h, weft/future.h):
 * every documented error for calls from the wrong place or with wrong
 * arguments, shutdown with work still in flight, many runtimes over a
 * process's life, several at once, worker threads as the OS sees them.
 *
 * Checks off the test's main thread use CHECK (print, abort); every test
 * ends with a leak check (ASan builds). */
#include <dirent.h>
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

static void *return_arg(void *arg) { return arg; }

/* Runs fn(arg) on a new plain thread and returns what it returned. */
static void *on_plain_thread(void *(*fn)(void *), void *arg) {
  pthread_t t;
  cr_assert_eq(pthread_create(&t, NULL, fn, arg), 0);
  void *r = NULL;
  pthread_join(t, &r);
  return r;
}

/* ---- coroutine-only calls from plain threads ----------------------------------------------- */

static void *spawn_here(void *arg) {
  (void)arg;
  weft_future *t = (weft_future *)&t; /* must stay untouched */
  int rc = weft_spawn(return_arg, NULL, &t);
  CHECK(t == (weft_future *)&t, "weft_spawn touched its out-parameter on error");
  CHECK_RC(weft_spawn(return_arg, NULL, NULL), rc);
  return IP(rc);
}

static void *yield_here(void *arg) {
  (void)arg;
  return IP(weft_yield());
}

RT_TEST(misuse, spawn_from_a_plain_thread_is_eperm) {
  cr_expect_eq(PI(spawn_here(NULL)), EPERM, "from main: %s", weft_err_name((int)PI(spawn_here(NULL))));
  cr_expect_eq(PI(on_plain_thread(spawn_here, NULL)), EPERM);
  /* Also while a runtime exists: the caller is still no coroutine. */
  weft_runtime *rt = make_rt(1);
  cr_expect_eq(PI(spawn_here(NULL)), EPERM);
  ASSERT_RC(weft_runtime_destroy(rt), 0);
}

RT_TEST(misuse, yield_outside_a_coroutine_is_eperm) {
  ASSERT_RC(weft_yield(), EPERM);
  cr_expect_eq(PI(on_plain_thread(yield_here, NULL)), EPERM);
  weft_runtime *rt = make_rt(1);
  ASSERT_RC(weft_yield(), EPERM);
  ASSERT_RC(weft_runtime_destroy(rt), 0);
}

/* A standalone coroutine cannot suspend the task below it. */
struct in_coro {
  weft_future *pending;
  int yield_rc, await_rc, spawn_rc;
};

static void *inside_standalone(void *arg) {
  struct in_coro *ic = arg;
  ic->yield_rc = weft_yield();
  ic->await_rc = weft_await(ic->pending, NULL);
  weft_coro_yield(NULL, NULL); /* a standalone yield still works */
  return NULL;
}

static void *drive_standalone(void *arg) {
  weft_coro *co;
  CHECK_RC(weft_coro_create(&co, inside_standalone, arg, NULL), 0);
  CHECK_RC(weft_coro_send(co, NULL, NULL), 0);
  CHECK_RC(weft_coro_send(co, NULL, NULL), WEFT_DONE);
  CHECK_RC(weft_coro_destroy(co), 0);
  return NULL;
}

RT_TEST(misuse, standalone_coroutine_inside_a_task_cannot_suspend_it, .timeout = 60) {
  struct in_coro ic = {NULL, -1, -1, -1};
  ASSERT_RC(weft_future_create(&ic.pending), 0);
  weft_runtime *rt = make_rt(1);
  ASSERT_RC(weft_run_until_complete(rt, drive_standalone, &ic, NULL), 0);
  cr_expect_eq(ic.yield_rc, EPERM, "weft_yield in a standalone coroutine: %s", weft_err_name(ic.yield_rc));
  cr_expect_eq(ic.await_rc, EPERM, "weft_await in a standalone coroutine: %s", weft_err_name(ic.await_rc));
  ASSERT_RC(weft_runtime_destroy(rt), 0);
  /* And on a plain thread. */
  ic.yield_rc = -1;
  ASSERT_RC(weft_future_resolve(ic.pending, NULL), 0);
  drive_standalone(&ic);
  cr_expect_eq(ic.yield_rc, EPERM);
  ASSERT_RC(ic.await_rc, 0); /* settled: no suspension needed */
  ASSERT_RC(weft_future_release(ic.pending), 0);
}

/* ---- blocking calls from inside coroutines ------------------------------------------------- */

struct deadlock_probe {
  weft_runtime *self_rt;
  weft_runtime *other_rt;
  int ruc_self, ruc_other, destroy_self, await_self, await_self_value_untouched;
};

static void *deadlock_probe_main(void *arg) {
  struct deadlock_probe *p = arg;
  void *r = IP(99);
  p->ruc_self = weft_run_until_complete(p->self_rt, return_arg, NULL, &r);
  CHECK(PI(r) == 99, "run_until_complete wrote its result on error");
  p->ruc_other = weft_run_until_complete(p->other_rt, return_arg, NULL, NULL);
  p->destroy_self = weft_runtime_destroy(weft_runtime_current());
  void *v = IP(98);
  p->await_self = weft_await(weft_task_current(), &v);
  p->await_self_value_untouched = PI(v) == 98;
  return IP(1);
}

RT_TEST(misuse, blocking_calls_inside_a_coroutine_are_edeadlk, .timeout = 60) {
  struct deadlock_probe p = {NULL, NULL, -1, -1, -1, -1, 0};
  p.self_rt = make_rt(2);
  p.other_rt = make_rt(1);
  void *r = NULL;
  ASSERT_RC(weft_run_until_complete(p.self_rt, deadlock_probe_main, &p, &r), 0);
  cr_expect_eq(PI(r), 1);
  cr_expect_eq(p.ruc_self, EDEADLK, "run_until_complete inside a coroutine: %s", weft_err_name(p.ruc_self));
  cr_expect_eq(p.ruc_other, EDEADLK, "run_until_complete on another runtime inside a coroutine: %s",
               weft_err_name(p.ruc_other));
  cr_expect_eq(p.destroy_self, EDEADLK, "destroying its own runtime from a coroutine: %s",
               weft_err_name(p.destroy_self));
  cr_expect_eq(p.await_self, EDEADLK, "a task awaiting itself: %s", weft_err_name(p.await_self));
  /* The refused destroy did nothing: the runtime still works. */
  ASSERT_RC(weft_run_until_complete(p.self_rt, return_arg, IP(5), &r), 0);
  cr_expect_eq(PI(r), 5);
  ASSERT_RC(weft_runtime_destroy(p.self_rt), 0);
  ASSERT_RC(weft_runtime_destroy(p.other_rt), 0);
}

/* ---- NULL and out-of-range arguments ---------------------------------------------------- */

static int never_then(void *arg, void *value, void **result) {
  (void)arg;
  (void)value;
  (void)result;
  return 0;
}

RT_TEST(misuse, null_arguments_are_einval) {
  weft_runtime *rt = make_rt(1);
  weft_future *f, *out = (weft_future *)&out;
  ASSERT_RC(weft_future_create(&f), 0);

  ASSERT_RC(weft_runtime_create(NULL, NULL), EINVAL);
  ASSERT_RC(weft_runtime_destroy(NULL), EINVAL);
  cr_expect_eq(weft_runtime_workers(NULL), 0);
  ASSERT_RC(weft_run_until_complete(NULL, return_arg, NULL, NULL), EINVAL);
  ASSERT_RC(weft_run_until_complete(rt, NULL, NULL, NULL), EINVAL);
  ASSERT_RC(weft_runtime_spawn(NULL, return_arg, NULL, &out), EINVAL);
  ASSERT_RC(weft_runtime_spawn(rt, NULL, NULL, &out), EINVAL);
  ASSERT_RC(weft_spawn(NULL, NULL, &out), EINVAL);

  ASSERT_RC(weft_future_create(NULL), EINVAL);
  ASSERT_RC(weft_future_resolve(NULL, NULL), EINVAL);
  ASSERT_RC(weft_future_fail(NULL, EIO), EINVAL);
  ASSERT_RC(weft_future_retain(NULL), EINVAL);
  ASSERT_RC(weft_future_release(NULL), EINVAL);
  cr_expect_eq(weft_future_status(NULL), WEFT_FUTURE_INVALID);
  ASSERT_RC(weft_future_result(NULL, NULL), EINVAL);
  ASSERT_RC(weft_await(NULL, NULL), EINVAL);
  ASSERT_RC(weft_cancel(NULL), EINVAL);

  ASSERT_RC(weft_future_then(NULL, never_then, NULL, &out), EINVAL);
  ASSERT_RC(weft_future_then(f, NULL, NULL, &out), EINVAL);
  ASSERT_RC(weft_future_then(f, never_then, NULL, NULL), EINVAL);

  weft_future *two[2] = {f, NULL};
  ASSERT_RC(weft_future_all(two, 2, NULL), EINVAL);
  ASSERT_RC(weft_future_all(NULL, 2, &out), EINVAL);
  ASSERT_RC(weft_future_all(two, 2, &out), EINVAL);
  ASSERT_RC(weft_future_any(two, 1, NULL), EINVAL);
  ASSERT_RC(weft_future_any(NULL, 1, &out), EINVAL);
  ASSERT_RC(weft_future_any(two, 0, &out), EINVAL);
  ASSERT_RC(weft_future_any(two, 2, &out), EINVAL);
  cr_expect_eq(out, (weft_future *)&out, "an out-parameter was written on error");

  /* None of these settled or freed anything. */
  cr_expect_eq(weft_future_status(f), WEFT_FUTURE_PENDING);
  ASSERT_RC(weft_future_release(f), 0);
  ASSERT_RC(weft_runtime_destroy(rt), 0);
}

RT_TEST(misuse, config_out_of_range_is_einval) {
  weft_runtime *rt = (weft_runtime *)&rt;
  weft_runtime_config cfg;
  weft_runtime_config_init(&cfg);
  cfg.workers = 4097;
  ASSERT_RC(weft_runtime_create(&rt, &cfg), EINVAL);
  weft_runtime_config_init(&cfg);
  cfg.stack_size = (size_t)1 << 31; /* 2 GiB */
  ASSERT_RC(weft_runtime_create(&rt, &cfg), EINVAL);
  cr_expect_eq(rt, (weft_runtime *)&rt, "weft_runtime_create wrote its out-parameter on error");
  /* A small stack is rounded up, not refused. */
  weft_runtime_config_init(&cfg);
  cfg.workers = 1;
  cfg.stack_size = 1;
  ASSERT_RC(weft_runtime_create(&rt, &cfg), 0);
  ASSERT_RC(weft_run_until_complete(rt, return_arg, NULL, NULL), 0);
  ASSERT_RC(weft_runtime_destroy(rt), 0);
}

/* ---- shutdown ----------------------------------------------------------------------------- */

/* A task that keeps spawning while the main thread destroys its runtime. */
struct spawner {
  atomic_int started;
  atomic_long spawned;
  int rc;
};

static void *nothing(void *arg) {
  (void)arg;
  return NULL;
}

static void *keep_spawning(void *arg) {
  struct spawner *s = arg;
  atomic_store(&s->started, 1);
  int rc;
  while ((rc = weft_spawn(nothing, NULL, NULL)) == 0) {
    atomic_fetch_add(&s->spawned, 1);
    (void)weft_yield(); /* ECANCELED once destroy has begun: keep going */
  }
  s->rc = rc;
  return NULL;
}

ParameterizedTestParameters(shutdown, spawning_task_sees_eshutdown) {
  static unsigned w[] = {1, 2, 4};
  return cr_make_param_array(unsigned, w, 3);
}
ParameterizedTest(unsigned *workers, shutdown, spawning_task_sees_eshutdown, .timeout = 60) {
  weft_runtime *rt = make_rt(*workers);
  struct spawner s[2];
  memset(s, 0, sizeof s);
  for (int i = 0; i < 2; i++) ASSERT_RC(weft_runtime_spawn(rt, keep_spawning, &s[i], NULL), 0);
  for (int i = 0; i < 2; i++) wait_at_least(&s[i].started, 1);
  sleep_us(2000);
  ASSERT_RC(weft_runtime_destroy(rt), 0);
  for (int i = 0; i < 2; i++)
    cr_expect_eq(s[i].rc, ESHUTDOWN, "spawner %d stopped with %s after %ld spawns", i, weft_err_name(s[i].rc),
                 atomic_load(&s[i].spawned));
  leak_check();
}

/* A task that ignores cancellation keeps destroy waiting; meanwhile the
 * runtime refuses new work from outside. */
struct stubborn {
  atomic_int started;
  atomic_int saw_cancel;
  atomic_int release;
};

static void *stubborn_main(void *arg) {
  struct stubborn *s = arg;
  atomic_store(&s->started, 1);
  while (!atomic_load(&s->release))
    if (weft_yield() == ECANCELED) atomic_store(&s->saw_cancel, 1);
  return NULL;
}

struct destroyer {
  weft_runtime *rt;
  atomic_int returned;
  int rc;
};

static void *destroyer_main(void *arg) {
  struct destroyer *d = arg;
  d->rc = weft_runtime_destroy(d->rt);
  atomic_store(&d->returned, 1);
  return NULL;
}

RT_TEST(shutdown, refuses_work_while_waiting_for_a_stubborn_task, .timeout = 60) {
  weft_runtime *rt = make_rt(2);
  struct stubborn s;
  memset(&s, 0, sizeof s);
  ASSERT_RC(weft_runtime_spawn(rt, stubborn_main, &s, NULL), 0);
  wait_at_least(&s.started, 1);
  struct destroyer d = {rt, 0, -1};
  pthread_t th;
  cr_assert_eq(pthread_create(&th, NULL, destroyer_main, &d), 0);
  wait_at_least(&s.saw_cancel, 1); /* destroy has begun */
  weft_future *t = (weft_future *)&t;
  ASSERT_RC(weft_runtime_spawn(rt, return_arg, NULL, &t), ESHUTDOWN);
  cr_expect_eq(t, (weft_future *)&t, "spawn wrote its out-parameter on error");
  ASSERT_RC(weft_runtime_spawn(rt, return_arg, NULL, NULL), ESHUTDOWN);
  ASSERT_RC(weft_run_until_complete(rt, return_arg, NULL, NULL), ESHUTDOWN);
  sleep_us(20000);
  cr_expect_eq(atomic_load(&d.returned), 0, "destroy returned while a task was still running");
  atomic_store(&s.release, 1);
  pthread_join(th, NULL);
  ASSERT_RC(d.rc, 0);
}

/* Destroy with tasks in every state: suspended for ever on a future nobody
 * resolves, looping on yield, and not started. For the last, every worker
 * is first held by a "hog", a task that does not suspend, so that tasks
 * queued after that cannot start. A hog claims the worker it runs on (the
 * worker's thread name says which): yielding tasks turn into hogs when told
 * to (one per worker that runs them), and main queues claimers for the
 * workers that run none. */
struct inflight {
  weft_future *never;    /* never resolved */
  weft_future *resolved; /* resolved: an await on it only checks for cancellation */
  atomic_int blocked_started, yielders_started;
  atomic_int become_hogs, nclaimed;
  atomic_int claimed[8];
  atomic_int hog_spawn_bad; /* hogs whose spawn after cancellation did not give ESHUTDOWN */
  atomic_int unstarted_ran;
  int *blocked_rc, *yielder_rc;
};

struct slot {
  struct inflight *in;
  int i;
};

static void *blocked_main(void *arg) {
  struct slot *s = arg;
  atomic_fetch_add(&s->in->blocked_started, 1);
  s->in->blocked_rc[s->i] = weft_await(s->in->never, NULL);
  return IP(100 + s->i);
}

static void *unstarted_main(void *arg) {
  struct slot *s = arg;
  atomic_fetch_add(&s->in->unstarted_ran, 1);
  return NULL;
}

/* Claims the calling worker for a hog; 1 if this task got it. */
static int claim_this_worker(struct inflight *in) {
  char name[16] = "";
  unsigned k;
  CHECK(pthread_getname_np(pthread_self(), name, sizeof name) == 0, "pthread_getname_np");
  CHECK(sscanf(name, "weft-w%u", &k) == 1 && k < 8, "a task runs on a thread named '%s'", name);
  int expect = 0;
  if (!atomic_compare_exchange_strong(&in->claimed[k], &expect, 1)) return 0;
  atomic_fetch_add(&in->nclaimed, 1);
  return 1;
}

/* Holds its worker (no suspension) until the task is cancelled, which it
 * learns from an await on a settled future: ECANCELED without a switch.
 * Returns ECANCELED. */
static int hog(struct inflight *in) {
  int rc;
  while ((rc = weft_await(in->resolved, NULL)) != ECANCELED) {
    CHECK(rc == 0, "await: %s", weft_err_name(rc));
    sched_yield();
  }
  /* Cancellation comes after the refusal of new spawns. */
  struct slot dummy = {in, -1};
  if (weft_spawn(unstarted_main, &dummy, NULL) != ESHUTDOWN) atomic_fetch_add(&in->hog_spawn_bad, 1);
  return rc;
}

static void *yielder_main(void *arg) {
  struct slot *s = arg;
  atomic_fetch_add(&s->in->yielders_started, 1);
  int rc;
  while ((rc = weft_yield()) == 0) {
    if (atomic_load(&s->in->become_hogs) && claim_this_worker(s->in)) {
      rc = hog(s->in);
      break;
    }
  }
  s->in->yielder_rc[s->i] = rc;
  return IP(200 + s->i);
}

/* Spawns the yielders from inside the runtime, into a worker's deque, so
 * that they start without depending on when busy workers next look at the
 * injection queue: this test is about destroy. */
struct launch {
  struct slot *ys;
  weft_future **yt;
  int n;
};

static void *launcher_main(void *arg) {
  struct launch *l = arg;
  for (int i = 0; i < l->n; i++) CHECK_RC(weft_spawn(yielder_main, &l->ys[i], &l->yt[i]), 0);
  return NULL;
}

static void *claimer_main(void *arg) {
  struct inflight *in = arg;
  if (claim_this_worker(in)) hog(in);
  return NULL;
}

/* A plain thread waiting for a blocked task while the runtime is destroyed. */
struct outside_waiter {
  weft_future *task;
  int rc;
  void *v;
};

static void *outside_waiter_main(void *arg) {
  struct outside_waiter *w = arg;
  w->rc = weft_await(w->task, &w->v);
  return NULL;
}

ParameterizedTestParameters(shutdown, destroy_with_tasks_in_every_state) {
  static unsigned w[] = {1, 2, 3};
  return cr_make_param_array(unsigned, w, 3);
}
ParameterizedTest(unsigned *workers, shutdown, destroy_with_tasks_in_every_state, .timeout = 120) {
  enum { NB = 20, NY = 8, NU = 30 };
  struct inflight in;
  memset(&in, 0, sizeof in);
  int blocked_rc[NB], yielder_rc[NY];
  for (int i = 0; i < NB; i++) blocked_rc[i] = -1;
  for (int i = 0; i < NY; i++) yielder_rc[i] = -1;
  in.blocked_rc = blocked_rc;
  in.yielder_rc = yielder_rc;
  ASSERT_RC(weft_future_create(&in.never), 0);
  ASSERT_RC(weft_future_create(&in.resolved), 0);
  ASSERT_RC(weft_future_resolve(in.resolved, NULL), 0);

  weft_runtime *rt = make_rt(*workers);
  struct slot bs[NB], ys[NY], us[NU];
  weft_future *bt[NB], *yt[NY], *ut[NU];
  for (int i = 0; i < NB; i++) {
    bs[i] = (struct slot){&in, i};
    ASSERT_RC(weft_runtime_spawn(rt, blocked_main, &bs[i], &bt[i]), 0);
  }
  wait_at_least(&in.blocked_started, NB);
  for (int i = 0; i < NY; i++) ys[i] = (struct slot){&in, i};
  struct launch l = {ys, yt, NY};
  weft_future *lt;
  ASSERT_RC(weft_runtime_spawn(rt, launcher_main, &l, &lt), 0);
  ASSERT_RC(weft_await(lt, NULL), 0);
  ASSERT_RC(weft_future_release(lt), 0);
  wait_at_least(&in.yielders_started, NY);
  /* Hold every worker. */
  atomic_store(&in.become_hogs, 1);
  for (unsigned i = 0; i < *workers; i++) ASSERT_RC(weft_runtime_spawn(rt, claimer_main, &in, NULL), 0);
  wait_at_least(&in.nclaimed, (int)*workers);
  for (int i = 0; i < NU; i++) {
    us[i] = (struct slot){&in, i};
    ASSERT_RC(weft_runtime_spawn(rt, unstarted_main, &us[i], &ut[i]), 0);
  }
  struct outside_waiter ow = {bt[0], -1, NULL};
  pthread_t th;
  cr_assert_eq(pthread_create(&th, NULL, outside_waiter_main, &ow), 0);

  ASSERT_RC(weft_runtime_destroy(rt), 0);

  pthread_join(th, NULL);
  cr_expect_eq(ow.rc, 0);
  cr_expect_eq(PI(ow.v), 100);
  cr_expect_eq(atomic_load(&in.unstarted_ran), 0, "%d tasks queued before destroy ran during it",
               atomic_load(&in.unstarted_ran));
  cr_expect_eq(atomic_load(&in.hog_spawn_bad), 0, "a spawn after cancellation did not give ESHUTDOWN");
  for (int i = 0; i < NB; i++) {
    cr_expect_eq(blocked_rc[i], ECANCELED, "blocked task %d: its await returned %s", i, weft_err_name(blocked_rc[i]));
    void *v = NULL;
    ASSERT_RC(weft_future_result(bt[i], &v), 0);
    cr_expect_eq(PI(v), 100 + i);
    ASSERT_RC(weft_future_release(bt[i]), 0);
  }
  for (int i = 0; i < NY; i++) {
    cr_expect_eq(yielder_rc[i], ECANCELED, "yielding task %d: weft_yield returned %s", i, weft_err_name(yielder_rc[i]));
    void *v = NULL;
    ASSERT_RC(weft_future_result(yt[i], &v), 0);
    cr_expect_eq(PI(v), 200 + i);
    ASSERT_RC(weft_future_release(yt[i]), 0);
  }
  for (int i = 0; i < NU; i++) {
    cr_expect_eq(weft_future_status(ut[i]), WEFT_FUTURE_FAILED, "unstarted task %d is not settled", i);
    ASSERT_RC(weft_future_result(ut[i], NULL), ECANCELED);
    ASSERT_RC(weft_future_release(ut[i]), 0);
  }
  cr_expect_eq(weft_future_status(in.never), WEFT_FUTURE_PENDING);
  ASSERT_RC(weft_future_release(in.never), 0);
  ASSERT_RC(weft_future_release(in.resolved), 0);
  leak_check();
}

/* ---- runtimes over a process's life ---------------------------------------------------------- */

static int thread_count(void) {
  FILE *f = fopen("/proc/self/status", "r");
  cr_assert_not_null(f);
  char line[256];
  int n = -1;
  while (fgets(line, sizeof line, f))
    if (sscanf(line, "Threads: %d", &n) == 1) break;
  fclose(f);
  cr_assert_gt(n, 0);
  return n;
}

static void *fib_task(void *arg) {
  intptr_t n = PI(arg);
  if (n < 2) return arg;
  weft_future *child;
  CHECK_RC(weft_spawn(fib_task, IP(n - 1), &child), 0);
  intptr_t b = PI(fib_task(IP(n - 2)));
  void *a = NULL;
  CHECK_RC(weft_await(child, &a), 0);
  CHECK_RC(weft_future_release(child), 0);
  return IP(PI(a) + b);
}

/* Detached work left for destroy: a small tree that stops growing when
 * spawns are refused and stops waiting when cancelled. */
static void *tolerant_tree(void *arg) {
  intptr_t n = PI(arg);
  if (n < 2) return arg;
  weft_future *child = NULL;
  int rc = weft_spawn(tolerant_tree, IP(n - 1), &child);
  CHECK(rc == 0 || rc == ESHUTDOWN, "spawn: %s", weft_err_name(rc));
  intptr_t b = PI(tolerant_tree(IP(n - 2)));
  if (!child) return IP(b);
  void *a = NULL;
  rc = weft_await(child, &a);
  CHECK(rc == 0 || rc == ECANCELED, "await: %s", weft_err_name(rc));
  CHECK_RC(weft_future_release(child), 0);
  return IP(PI(a) + b);
}

RT_TEST(lifecycle, create_and_destroy_many_times, .timeout = 180) {
  int rounds = SIZED(200, 200, 50);
  int threads0 = thread_count();
  for (int i = 0; i < rounds; i++) {
    weft_runtime *rt = make_rt(1 + (unsigned)i % 4);
    void *r = NULL;
    ASSERT_RC(weft_run_until_complete(rt, fib_task, IP(10), &r), 0);
    cr_assert_eq(PI(r), 55, "round %d", i);
    /* Some rounds leave detached work behind for destroy. */
    if (i % 3 == 0)
      for (int k = 0; k < 10; k++) ASSERT_RC(weft_runtime_spawn(rt, tolerant_tree, IP(8), NULL), 0);
    ASSERT_RC(weft_runtime_destroy(rt), 0);
    /* pthread_join returns when a thread has exited, a moment before the
     * kernel drops it from the count: allow it that moment (up to 5 s). */
    int n = thread_count();
    for (int tries = 0; n != threads0 && tries < 5000; tries++) {
      sleep_us(1000);
      n = thread_count();
    }
    cr_assert_eq(n, threads0, "round %d: %d threads after destroy, %d before the first create", i, n, threads0);
  }
}

RT_TEST(lifecycle, run_until_complete_again_and_again, .timeout = 120) {
  weft_runtime *rt = make_rt(2);
  int rounds = SIZED(2000, 1000, 200);
  for (int i = 0; i < rounds; i++) {
    void *r = NULL;
    ASSERT_RC(weft_run_until_complete(rt, return_arg, IP(i), &r), 0);
    cr_assert_eq(PI(r), i);
    ASSERT_RC(weft_run_until_complete(rt, return_arg, IP(i), NULL), 0);
  }
  ASSERT_RC(weft_runtime_destroy(rt), 0);
}

/* ---- several runtimes at once ----------------------------------------------------------------- */

struct two {
  weft_runtime *a, *b;
};

static void *in_a_leaf(void *arg) {
  struct two *t = arg;
  CHECK(weft_runtime_current() == t->a, "a task of A runs on another runtime");
  return IP(1);
}

static void *in_b_middle(void *arg) {
  struct two *t = arg;
  CHECK(weft_runtime_current() == t->b, "a task of B runs on another runtime");
  weft_future *leaf;
  CHECK_RC(weft_runtime_spawn(t->a, in_a_leaf, t, &leaf), 0);
  void *v = NULL;
  CHECK_RC(weft_await(leaf, &v), 0);
  CHECK_RC(weft_future_release(leaf), 0);
  return IP(PI(v) + 10);
}

static void *in_a_root(void *arg) {
  struct two *t = arg;
  long sum = 0;
  for (int i = 0; i < 50; i++) {
    weft_future *mid;
    CHECK_RC(weft_runtime_spawn(t->b, in_b_middle, t, &mid), 0);
    void *v = NULL;
    CHECK_RC(weft_await(mid, &v), 0);
    CHECK_RC(weft_future_release(mid), 0);
    sum += PI(v);
  }
  return IP(sum);
}

RT_TEST(several, tasks_of_two_runtimes_await_each_other, .timeout = 60) {
  struct two t = {make_rt(2), make_rt(1)};
  void *r = NULL;
  ASSERT_RC(weft_run_until_complete(t.a, in_a_root, &t, &r), 0);
  cr_expect_eq(PI(r), 50 * 11);
  /* And the other way round. */
  struct two swapped = {t.b, t.a};
  ASSERT_RC(weft_run_until_complete(t.b, in_a_root, &swapped, &r), 0);
  cr_expect_eq(PI(r), 50 * 11);
  ASSERT_RC(weft_runtime_destroy(t.a), 0);
  ASSERT_RC(weft_runtime_destroy(t.b), 0);
}

/* A coroutine starts a runtime of its own, uses it and destroys it. */
static void *nested_runtime_root(void *arg) {
  (void)arg;
  weft_runtime *inner;
  weft_runtime_config cfg;
  weft_runtime_config_init(&cfg);
  cfg.workers = 2;
  CHECK_RC(weft_runtime_create(&inner, &cfg), 0);
  weft_future *t;
  CHECK_RC(weft_runtime_spawn(inner, fib_task, IP(12), &t), 0);
  void *v = NULL;
  CHECK_RC(weft_await(t, &v), 0);
  CHECK_RC(weft_future_release(t), 0);
  CHECK_RC(weft_runtime_destroy(inner), 0);
  return v;
}

RT_TEST(several, a_coroutine_creates_and_destroys_a_runtime, .timeout = 60) {
  weft_runtime *rt = make_rt(1);
  void *v = NULL;
  ASSERT_RC(weft_run_until_complete(rt, nested_runtime_root, NULL, &v), 0);
  cr_expect_eq(PI(v), 144);
  ASSERT_RC(weft_runtime_destroy(rt), 0);
}

/* ---- worker threads as the OS sees them -------------------------------------------------------- */

/* How many threads of this process are named `name`. */
static int threads_named(const char *name) {
  DIR *d = opendir("/proc/self/task");
  cr_assert_not_null(d);
  int n = 0;
  struct dirent *e;
  while ((e = readdir(d))) {
    if (e->d_name[0] == '.') continue;
    char path[300], comm[64] = "";
    snprintf(path, sizeof path, "/proc/self/task/%s/comm", e->d_name);
    FILE *f = fopen(path, "r");
    if (!f) continue; /* that thread has exited */
    if (fgets(comm, sizeof comm, f)) comm[strcspn(comm, "\n")] = '\0';
    fclose(f);
    n += strcmp(comm, name) == 0;
  }
  closedir(d);
  return n;
}

RT_TEST(threads, workers_are_named_weft_wN) {
  weft_runtime *rt = make_rt(3);
  /* Each worker names itself as it starts: wait until all have. */
  for (int tries = 0; tries < 10000; tries++) {
    if (threads_named("weft-w0") && threads_named("weft-w1") && threads_named("weft-w2")) break;
    sleep_us(1000);
  }
  cr_expect_eq(threads_named("weft-w0"), 1);
  cr_expect_eq(threads_named("weft-w1"), 1);
  cr_expect_eq(threads_named("weft-w2"), 1);
  cr_expect_eq(threads_named("weft-w3"), 0);
  ASSERT_RC(weft_runtime_destroy(rt), 0);
  cr_expect_eq(threads_named("weft-w0") + threads_named("weft-w1") + threads_named("weft-w2"), 0,
               "worker threads outlived destroy");
}

/* The CPU quota of this process's cgroup, rounded up, or 0 if none. */
static unsigned cgroup_cpu_quota(void) {
  char path[640] = "/sys/fs/cgroup/cpu.max", line[512];
  FILE *f = fopen("/proc/self/cgroup", "r");
  if (f) {
    while (fgets(line, sizeof line, f))
      if (strncmp(line, "0::", 3) == 0) {
        line[strcspn(line, "\n")] = '\0';
        snprintf(path, sizeof path, "/sys/fs/cgroup%s/cpu.max", line + 3);
      }
    fclose(f);
  }
  long quota = -1, period = 0;
  if ((f = fopen(path, "r")) || (f = fopen("/sys/fs/cgroup/cpu.max", "r"))) {
    char q[32];
    if (fscanf(f, "%31s %ld", q, &period) == 2 && strcmp(q, "max") != 0) quota = atol(q);
    fclose(f);
  } else if ((f = fopen("/sys/fs/cgroup/cpu/cpu.cfs_quota_us", "r"))) {
    if (fscanf(f, "%ld", &quota) != 1) quota = -1;
    fclose(f);
    if ((f = fopen("/sys/fs/cgroup/cpu/cpu.cfs_period_us", "r"))) {
      if (fscanf(f, "%ld", &period) != 1) period = 0;
      fclose(f);
    }
  }
  if (quota <= 0 || period <= 0) return 0;
  return (unsigned)((quota + period - 1) / period);
}

static unsigned usable_cpus(void) {
  cpu_set_t set;
  cr_assert_eq(sched_getaffinity(0, sizeof set, &set), 0);
  unsigned n = (unsigned)CPU_COUNT(&set);
  unsigned q = cgroup_cpu_quota();
  if (q && q < n) n = q;
  return n;
}

RT_TEST(threads, zero_workers_means_one_per_usable_cpu) {
  weft_runtime_config cfg;
  weft_runtime_config_init(&cfg);
  cr_expect_eq(cfg.workers, 0);
  weft_runtime *rt;
  ASSERT_RC(weft_runtime_create(&rt, &cfg), 0);
  cr_expect_eq(weft_runtime_workers(rt), usable_cpus());
  ASSERT_RC(weft_runtime_destroy(rt), 0);
  ASSERT_RC(weft_runtime_create(&rt, NULL), 0);
  cr_expect_eq(weft_runtime_workers(rt), usable_cpus(), "NULL config");
  ASSERT_RC(weft_runtime_destroy(rt), 0);
}

RT_TEST(threads, zero_workers_follows_the_affinity_mask) {
  cpu_set_t all, one;
  cr_assert_eq(sched_getaffinity(0, sizeof all, &all), 0);
  int first = -1;
  for (int c = 0; c < CPU_SETSIZE && first < 0; c++)
    if (CPU_ISSET(c, &all)) first = c;
  CPU_ZERO(&one);
  CPU_SET(first, &one);
  cr_assert_eq(sched_setaffinity(0, sizeof one, &one), 0); /* this test process only */
  weft_runtime *rt;
  ASSERT_RC(weft_runtime_create(&rt, NULL), 0);
  cr_expect_eq(weft_runtime_workers(rt), 1, "one usable CPU, %u workers", weft_runtime_workers(rt));
  ASSERT_RC(weft_run_until_complete(rt, fib_task, IP(10), NULL), 0);
  ASSERT_RC(weft_runtime_destroy(rt), 0);
  cr_assert_eq(sched_setaffinity(0, sizeof all, &all), 0);
}

/* ---- released futures ------------------------------------------------------------------------
 * future.h promises EINVAL (or WEFT_FUTURE_INVALID) for a future that has
 * been released, and DESIGN.md lists "awaiting a released future" among the
 * misuse that gets a clear error. (Found as a bug: the check read freed
 * memory, a heap-use-after-free under ASan; released futures now wait in a
 * quarantine before reuse, e70e960.) */

RT_TEST(misuse, release_of_a_released_future_is_einval) {
  weft_future *f;
  ASSERT_RC(weft_future_create(&f), 0);
  ASSERT_RC(weft_future_release(f), 0);
  ASSERT_RC(weft_future_release(f), EINVAL);
}

RT_TEST(misuse, await_of_a_released_future_is_einval) {
  weft_future *f;
  ASSERT_RC(weft_future_create(&f), 0);
  ASSERT_RC(weft_future_resolve(f, NULL), 0);
  ASSERT_RC(weft_future_release(f), 0);
  ASSERT_RC(weft_await(f, NULL), EINVAL);
  cr_expect_eq(weft_future_status(f), WEFT_FUTURE_INVALID);
}
