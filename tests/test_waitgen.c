/* A task's wait generations (src/task.h: the wait word), white-box: a task
 * that has waited 2^29 or 2^32 times goes on being woken by every kind of
 * waker — a channel partner, a mutex unlock, a timer, a future settled
 * from a plain thread, a cancel. The generation once had 29 bits in a
 * 32-bit word: at the 2^29-th wait every waker took the wait for a stale
 * one and the task hung (after about a minute of channel ping-pong).
 * Rather than wait that long, the test starts each task's count just
 * below a boundary (the count is the task's own, read by nobody else
 * while it runs).
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include <criterion/criterion.h>
#include <criterion/parameterized.h>

#include "task.h"
#include "weft.h"
#include "support.h"

#define ROUNDS 64 /* waits per task: every boundary is crossed well inside */

/* Puts the calling task's wait count `below` waits short of `boundary`. */
static void near(uint64_t boundary, uint64_t below) {
  struct weft__task *self = weft__as_task(weft_task_current());
  CHECK(self != NULL, "not in a task");
  self->wait_gen = boundary - below;
}

struct pp {
  weft_chan *ping, *pong;
  weft_mutex *m;
  uint64_t boundary;
  long counter;
  atomic_int started; /* blocked_for_ever is about to block */
};

static void *ponger(void *arg) {
  struct pp *p = arg;
  near(p->boundary, 3);
  void *v;
  for (int i = 0; i < ROUNDS; i++) {
    CHECK_RC(weft_chan_recv(p->ping, &v), 0);
    CHECK_RC(weft_chan_send(p->pong, v), 0);
  }
  return NULL;
}

/* Takes the mutex ROUNDS times, yielding while holding it so that the
 * other locker has to wait. */
static void *locker(void *arg) {
  struct pp *p = arg;
  near(p->boundary, 5);
  for (int i = 0; i < ROUNDS; i++) {
    CHECK_RC(weft_mutex_lock(p->m), 0);
    p->counter++;
    (void)weft_yield();
    CHECK_RC(weft_mutex_unlock(p->m), 0);
  }
  return NULL;
}

static void *resolve_later(void *arg) {
  sleep_us(2000);
  CHECK_RC(weft_future_resolve(arg, IP(7)), 0);
  return NULL;
}

static void *pinger(void *arg) {
  struct pp *p = arg;
  near(p->boundary, 2);
  weft_future *t;
  CHECK_RC(weft_spawn(ponger, p, &t), 0);
  for (int i = 0; i < ROUNDS; i++) {
    void *v;
    CHECK_RC(weft_chan_send(p->ping, IP(i)), 0);
    CHECK_RC(weft_chan_recv(p->pong, &v), 0);
    CHECK(PI(v) == i, "round %d came back as %ld", i, (long)PI(v));
  }
  CHECK_RC(weft_await(t, NULL), 0);
  weft_future_release(t);

  /* A mutex: lock waits woken by unlocks. */
  weft_future *l[2];
  for (int k = 0; k < 2; k++) CHECK_RC(weft_spawn(locker, p, &l[k]), 0);
  for (int k = 0; k < 2; k++) {
    CHECK_RC(weft_await(l[k], NULL), 0);
    weft_future_release(l[k]);
  }
  CHECK(p->counter == 2 * ROUNDS, "counter %ld", p->counter);

  /* Timers: a receive that times out, a sleep. */
  near(p->boundary, 1);
  void *v;
  CHECK_RC(weft_chan_recv_until(p->ping, weft_now() + 1000000, &v), ETIMEDOUT);
  CHECK_RC(weft_sleep(1000000), 0);

  /* A future settled from a plain thread. */
  near(p->boundary, 1);
  weft_future *f;
  CHECK_RC(weft_future_create(&f), 0);
  pthread_t th;
  CHECK(pthread_create(&th, NULL, resolve_later, f) == 0, "pthread_create");
  CHECK_RC(weft_await(f, &v), 0);
  CHECK(PI(v) == 7, "the future gave %ld", (long)PI(v));
  pthread_join(th, NULL);
  weft_future_release(f);
  return NULL;
}

static void *blocked_for_ever(void *arg) {
  struct pp *p = arg;
  near(p->boundary, 1);
  atomic_store(&p->started, 1);
  void *v;
  return IP(weft_chan_recv(p->ping, &v));
}

struct param {
  unsigned workers;
  uint64_t boundary;
};

ParameterizedTestParameters(waitgen, every_waker_across_a_boundary) {
  static struct param ps[] = {
      {1, (uint64_t)1 << 29}, {2, (uint64_t)1 << 29}, {1, (uint64_t)1 << 32}, {2, (uint64_t)1 << 32}};
  return cr_make_param_array(struct param, ps, sizeof ps / sizeof ps[0]);
}

ParameterizedTest(struct param *ps, waitgen, every_waker_across_a_boundary, .timeout = 60) {
  struct pp p = {0};
  p.boundary = ps->boundary;
  atomic_init(&p.started, 0);
  ASSERT_RC(weft_chan_create(&p.ping, 0, 0), 0);
  ASSERT_RC(weft_chan_create(&p.pong, 0, 0), 0);
  ASSERT_RC(weft_mutex_create(&p.m), 0);
  weft_runtime *rt = make_rt(ps->workers);
  ASSERT_RC(weft_run_until_complete(rt, pinger, &p, NULL), 0);

  /* A cancel wakes a task whose count crossed the boundary. */
  weft_future *t;
  ASSERT_RC(weft_runtime_spawn(rt, blocked_for_ever, &p, &t), 0);
  wait_at_least(&p.started, 1); /* started: the cancel must wake it, not skip it */
  sleep_us(5000);               /* likely blocked by now; correct either way */
  ASSERT_RC(weft_cancel(t), 0);
  cr_expect_eq(await_task(t), ECANCELED);

  ASSERT_RC(weft_runtime_destroy(rt), 0);
  ASSERT_RC(weft_mutex_destroy(p.m), 0);
  ASSERT_RC(weft_chan_destroy(p.ping), 0);
  ASSERT_RC(weft_chan_destroy(p.pong), 0);
  leak_check();
}
