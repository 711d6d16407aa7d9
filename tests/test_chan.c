/* Channels and select (weft/chan.h), black-box: every item received
 * exactly once across producers and consumers on each channel kind (tasks
 * on 1, 2 and 4 workers, plain threads, and the two mixed), FIFO order,
 * closing while senders and receivers are blocked, select (fairness over
 * 10^5 rounds, default, blocking, select against select), and
 * cancellation of blocked operations: ECANCELED, and no trace left.
 *
 * Checks inside coroutines and helper threads use CHECK (print, abort);
 * cr_assert only on the test's main thread. Sizes shrink under sanitizers.
 * Nothing asserts on timings: the short sleeps only make it likely that a
 * task is blocked before the next step, and each test is correct without
 * them. */
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

/* ---- basics ---------------------------------------------------------------------------- */

RT_TEST(chan, misuse_and_try_on_each_kind) {
  weft_chan *ch = NULL;
  ASSERT_RC(weft_chan_create(NULL, 1, 0), EINVAL);
  ASSERT_RC(weft_chan_create(&ch, 1, 7), EINVAL);
  cr_assert_null(ch);
  ASSERT_RC(weft_chan_send(NULL, NULL), EINVAL);
  ASSERT_RC(weft_chan_try_send(NULL, NULL), EINVAL);
  void *v = IP(5);
  ASSERT_RC(weft_chan_recv(NULL, &v), EINVAL);
  cr_expect_null(v);
  ASSERT_RC(weft_chan_try_recv(NULL, NULL), EINVAL);
  ASSERT_RC(weft_chan_close(NULL), EINVAL);
  ASSERT_RC(weft_chan_destroy(NULL), EINVAL);
  cr_expect_eq(weft_chan_len(NULL), 0);

  /* Unbuffered: nothing can go through without a partner. */
  ASSERT_RC(weft_chan_create(&ch, 0, 0), 0);
  ASSERT_RC(weft_chan_try_send(ch, IP(1)), EAGAIN);
  ASSERT_RC(weft_chan_try_recv(ch, &v), EAGAIN);
  cr_expect_eq(weft_chan_len(ch), 0);
  ASSERT_RC(weft_chan_close(ch), 0);
  ASSERT_RC(weft_chan_close(ch), EPIPE);
  ASSERT_RC(weft_chan_try_send(ch, IP(1)), EPIPE);
  ASSERT_RC(weft_chan_send(ch, IP(1)), EPIPE);
  ASSERT_RC(weft_chan_recv(ch, &v), WEFT_CLOSED);
  ASSERT_RC(weft_chan_try_recv(ch, &v), WEFT_CLOSED);
  ASSERT_RC(weft_chan_destroy(ch), 0);

  /* Bounded 3: fills, then EAGAIN; FIFO; close keeps what is buffered. */
  ASSERT_RC(weft_chan_create(&ch, 3, 0), 0);
  for (int i = 1; i <= 3; i++) ASSERT_RC(weft_chan_try_send(ch, IP(i)), 0);
  ASSERT_RC(weft_chan_try_send(ch, IP(4)), EAGAIN);
  cr_expect_eq(weft_chan_len(ch), 3);
  ASSERT_RC(weft_chan_recv(ch, &v), 0);
  cr_expect_eq(PI(v), 1);
  ASSERT_RC(weft_chan_send(ch, IP(4)), 0); /* room again: does not wait */
  ASSERT_RC(weft_chan_close(ch), 0);
  ASSERT_RC(weft_chan_send(ch, IP(5)), EPIPE);
  for (int i = 2; i <= 4; i++) {
    ASSERT_RC(weft_chan_recv(ch, &v), 0);
    cr_expect_eq(PI(v), i);
  }
  ASSERT_RC(weft_chan_recv(ch, &v), WEFT_CLOSED);
  cr_expect_null(v);
  ASSERT_RC(weft_chan_destroy(ch), 0);

  /* Unbounded: never full; grows past its first ring; FIFO throughout. */
  ASSERT_RC(weft_chan_create(&ch, WEFT_CHAN_UNBOUNDED, 0), 0);
  for (int i = 0; i < 1000; i++) {
    ASSERT_RC(weft_chan_send(ch, IP(i)), 0);
    if (i % 3 == 2) { /* interleave receives so that the ring wraps before it grows */
      ASSERT_RC(weft_chan_try_recv(ch, &v), 0);
      cr_assert_eq(PI(v), i / 3 * 1, "order lost at %d", i);
    }
  }
  for (int i = 1000 / 3; i < 1000; i++) {
    ASSERT_RC(weft_chan_try_recv(ch, &v), 0);
    cr_assert_eq(PI(v), i, "order lost at %d", i);
  }
  ASSERT_RC(weft_chan_try_recv(ch, &v), EAGAIN);
  /* Destroying a channel with values in it drops them (they are the caller's). */
  ASSERT_RC(weft_chan_send(ch, IP(1)), 0);
  ASSERT_RC(weft_chan_destroy(ch), 0);

  cr_expect_str_eq(weft_err_name(WEFT_CLOSED), "WEFT_CLOSED");
  cr_expect_str_neq(weft_strerror(WEFT_CLOSED), "unknown status");
  cr_expect_str_eq(weft_err_name(EPIPE), "EPIPE");
}

/* ---- every item exactly once: producers x consumers --------------------------------------- */

struct mpmc {
  weft_chan *ch;
  int per;              /* items per producer */
  atomic_int producers_left;
  atomic_uchar *seen;   /* per item: times received */
  atomic_long received;
  atomic_int next_id;   /* hands out producer numbers */
};

static void *mpmc_producer(void *arg) {
  struct mpmc *m = arg;
  int p = atomic_fetch_add(&m->next_id, 1);
  for (int i = 0; i < m->per; i++) CHECK_RC(weft_chan_send(m->ch, IP((long)p * m->per + i + 1)), 0);
  if (atomic_fetch_sub(&m->producers_left, 1) == 1) CHECK_RC(weft_chan_close(m->ch), 0);
  return NULL;
}

static void *mpmc_consumer(void *arg) {
  struct mpmc *m = arg;
  for (;;) {
    void *v = NULL;
    int rc = weft_chan_recv(m->ch, &v);
    if (rc == WEFT_CLOSED) break;
    CHECK(rc == 0, "recv: %s", weft_err_name(rc));
    long id = PI(v) - 1;
    CHECK(atomic_fetch_add(&m->seen[id], 1) == 0, "item %ld received twice", id);
    atomic_fetch_add(&m->received, 1);
  }
  return NULL;
}

enum { ON_TASKS, ON_THREADS, TASKS_TO_THREADS, THREADS_TO_TASKS };

struct mpmc_param {
  size_t capacity;
  unsigned workers;
  int mode;
};

#define NPROD 4
#define NCONS 4

struct mpmc_root {
  struct mpmc *m;
  int tasks_produce, tasks_consume;
};

static void *mpmc_root(void *arg) {
  struct mpmc_root *r = arg;
  weft_future *t[NPROD + NCONS];
  int n = 0;
  for (int i = 0; r->tasks_consume && i < NCONS; i++)
    CHECK_RC(weft_spawn(mpmc_consumer, r->m, &t[n++]), 0);
  for (int i = 0; r->tasks_produce && i < NPROD; i++)
    CHECK_RC(weft_spawn(mpmc_producer, r->m, &t[n++]), 0);
  for (int i = 0; i < n; i++) {
    CHECK_RC(weft_await(t[i], NULL), 0);
    weft_future_release(t[i]);
  }
  return NULL;
}

static void run_mpmc(const struct mpmc_param *p) {
  struct mpmc m;
  m.per = SIZED(5000, 1000, 150);
  atomic_init(&m.producers_left, NPROD);
  atomic_init(&m.received, 0);
  atomic_init(&m.next_id, 0);
  long total = (long)NPROD * m.per;
  m.seen = calloc((size_t)total, sizeof *m.seen);
  cr_assert_not_null(m.seen);
  ASSERT_RC(weft_chan_create(&m.ch, p->capacity, 0), 0);

  int tasks_produce = p->mode == ON_TASKS || p->mode == TASKS_TO_THREADS;
  int tasks_consume = p->mode == ON_TASKS || p->mode == THREADS_TO_TASKS;
  pthread_t th[NPROD + NCONS];
  int nth = 0;
  if (!tasks_produce)
    for (int i = 0; i < NPROD; i++) th[nth++] = start_thread(mpmc_producer, &m);
  if (!tasks_consume)
    for (int i = 0; i < NCONS; i++) th[nth++] = start_thread(mpmc_consumer, &m);
  if (tasks_produce || tasks_consume) {
    weft_runtime *rt = make_rt(p->workers);
    struct mpmc_root r = {&m, tasks_produce, tasks_consume};
    ASSERT_RC(weft_run_until_complete(rt, mpmc_root, &r, NULL), 0);
    ASSERT_RC(weft_runtime_destroy(rt), 0);
  }
  for (int i = 0; i < nth; i++) pthread_join(th[i], NULL);

  cr_assert_eq(atomic_load(&m.received), total, "received %ld of %ld",
               atomic_load(&m.received), total);
  for (long i = 0; i < total; i++) cr_assert_eq(atomic_load(&m.seen[i]), 1, "item %ld", i);
  ASSERT_RC(weft_chan_destroy(m.ch), 0);
  free(m.seen);
}

static const size_t kinds[] = {0, 1, 64, WEFT_CHAN_UNBOUNDED};
#define NKINDS (sizeof kinds / sizeof kinds[0])

ParameterizedTestParameters(chan, every_item_once_on_tasks) {
  static struct mpmc_param ps[NKINDS * 3];
  static const unsigned wc[] = {1, 2, 4};
  size_t n = 0;
  for (size_t k = 0; k < NKINDS; k++)
    for (size_t w = 0; w < 3; w++) ps[n++] = (struct mpmc_param){kinds[k], wc[w], ON_TASKS};
  return cr_make_param_array(struct mpmc_param, ps, n);
}
ParameterizedTest(struct mpmc_param *p, chan, every_item_once_on_tasks, .timeout = 120) {
  run_mpmc(p);
  leak_check();
}

ParameterizedTestParameters(chan, every_item_once_with_threads) {
  static struct mpmc_param ps[NKINDS * 3];
  size_t n = 0;
  for (size_t k = 0; k < NKINDS; k++) {
    ps[n++] = (struct mpmc_param){kinds[k], 2, ON_THREADS};
    ps[n++] = (struct mpmc_param){kinds[k], 2, TASKS_TO_THREADS};
    ps[n++] = (struct mpmc_param){kinds[k], 2, THREADS_TO_TASKS};
  }
  return cr_make_param_array(struct mpmc_param, ps, n);
}
ParameterizedTest(struct mpmc_param *p, chan, every_item_once_with_threads, .timeout = 120) {
  run_mpmc(p);
  leak_check();
}

/* One producer, one consumer: the order is the order sent, on every kind. */
struct order {
  weft_chan *ch;
  int n;
};

static void *order_producer(void *arg) {
  struct order *o = arg;
  for (int i = 0; i < o->n; i++) CHECK_RC(weft_chan_send(o->ch, IP(i + 1)), 0);
  CHECK_RC(weft_chan_close(o->ch), 0);
  return NULL;
}

static void *order_root(void *arg) {
  struct order *o = arg;
  weft_future *p;
  CHECK_RC(weft_spawn(order_producer, o, &p), 0);
  for (int i = 0; i < o->n; i++) {
    void *v;
    CHECK_RC(weft_chan_recv(o->ch, &v), 0);
    CHECK(PI(v) == i + 1, "got %ld, expected %d", (long)PI(v), i + 1);
  }
  CHECK_RC(weft_chan_recv(o->ch, NULL), WEFT_CLOSED);
  CHECK_RC(weft_await(p, NULL), 0);
  weft_future_release(p);
  return NULL;
}

RT_TEST(chan, fifo_order_one_producer_one_consumer, .timeout = 60) {
  weft_runtime *rt = make_rt(2);
  for (size_t k = 0; k < NKINDS; k++) {
    struct order o = {NULL, SIZED(20000, 4000, 500)};
    ASSERT_RC(weft_chan_create(&o.ch, kinds[k], 0), 0);
    ASSERT_RC(weft_run_until_complete(rt, order_root, &o, NULL), 0);
    ASSERT_RC(weft_chan_destroy(o.ch), 0);
  }
  ASSERT_RC(weft_runtime_destroy(rt), 0);
}

/* ---- ping-pong between a task and a thread ------------------------------------------------- */

struct pingpong {
  weft_chan *ping, *pong;
  int rounds;
};

static void *pong_side(void *arg) {
  struct pingpong *pp = arg;
  for (int i = 0; i < pp->rounds; i++) {
    void *v;
    CHECK_RC(weft_chan_recv(pp->ping, &v), 0);
    CHECK(PI(v) == i, "ping %ld, expected %d", (long)PI(v), i);
    CHECK_RC(weft_chan_send(pp->pong, IP(PI(v) + 1)), 0);
  }
  return NULL;
}

static void *ping_side(void *arg) {
  struct pingpong *pp = arg;
  for (int i = 0; i < pp->rounds; i++) {
    void *v;
    CHECK_RC(weft_chan_send(pp->ping, IP(i)), 0);
    CHECK_RC(weft_chan_recv(pp->pong, &v), 0);
    CHECK(PI(v) == i + 1, "pong %ld", (long)PI(v));
  }
  return NULL;
}

RT_TEST(chan, ping_pong_task_and_thread_unbuffered, .timeout = 60) {
  weft_runtime *rt = make_rt(2);
  /* Each round trip wakes a thread through the kernel: keep it short. */
  struct pingpong pp = {NULL, NULL, SIZED(2000, 1000, 200)};
  ASSERT_RC(weft_chan_create(&pp.ping, 0, 0), 0);
  ASSERT_RC(weft_chan_create(&pp.pong, 0, 0), 0);
  /* The pong side on a plain thread, the ping side a task; then the other way round. */
  pthread_t th = start_thread(pong_side, &pp);
  ASSERT_RC(weft_run_until_complete(rt, ping_side, &pp, NULL), 0);
  pthread_join(th, NULL);
  weft_future *t;
  ASSERT_RC(weft_runtime_spawn(rt, pong_side, &pp, &t), 0);
  ping_side(&pp);
  await_task(t);
  ASSERT_RC(weft_chan_destroy(pp.ping), 0);
  ASSERT_RC(weft_chan_destroy(pp.pong), 0);
  ASSERT_RC(weft_runtime_destroy(rt), 0);
}

/* ---- close while blocked ------------------------------------------------------------------- */

struct blocked {
  weft_chan *ch;
  atomic_int started;
  int send; /* 1: send, 0: receive */
};

static void *blocked_op(void *arg) {
  struct blocked *b = arg;
  atomic_fetch_add(&b->started, 1);
  int rc;
  if (b->send) {
    rc = weft_chan_send(b->ch, IP(99));
  } else {
    void *v = IP(1);
    rc = weft_chan_recv(b->ch, &v);
    CHECK(v == NULL, "a failed receive must leave NULL");
  }
  return IP(rc);
}

RT_TEST(chan, close_wakes_blocked_senders_and_receivers, .timeout = 60) {
  weft_runtime *rt = make_rt(2);
  enum { NT = 6, NTH = 3 };
  /* Receivers block on an unbuffered channel; senders on a full bounded one. */
  struct blocked r = {NULL, 0, 0}, s = {NULL, 0, 1};
  ASSERT_RC(weft_chan_create(&r.ch, 0, 0), 0);
  ASSERT_RC(weft_chan_create(&s.ch, 1, 0), 0);
  ASSERT_RC(weft_chan_send(s.ch, IP(7)), 0);
  weft_future *rt_t[NT], *st_t[NT];
  pthread_t rth[NTH], sth[NTH];
  for (int i = 0; i < NT; i++) {
    ASSERT_RC(weft_runtime_spawn(rt, blocked_op, &r, &rt_t[i]), 0);
    ASSERT_RC(weft_runtime_spawn(rt, blocked_op, &s, &st_t[i]), 0);
  }
  for (int i = 0; i < NTH; i++) {
    rth[i] = start_thread(blocked_op, &r);
    sth[i] = start_thread(blocked_op, &s);
  }
  wait_at_least(&r.started, NT + NTH);
  wait_at_least(&s.started, NT + NTH);
  sleep_us(20000); /* most likely all blocked by now; correct either way */
  ASSERT_RC(weft_chan_close(r.ch), 0);
  ASSERT_RC(weft_chan_close(s.ch), 0);
  for (int i = 0; i < NT; i++) {
    cr_expect_eq(await_task(rt_t[i]), WEFT_CLOSED);
    cr_expect_eq(await_task(st_t[i]), EPIPE);
  }
  for (int i = 0; i < NTH; i++) {
    void *v;
    pthread_join(rth[i], &v);
    cr_expect_eq(PI(v), WEFT_CLOSED);
    pthread_join(sth[i], &v);
    cr_expect_eq(PI(v), EPIPE);
  }
  /* The value buffered before the close is still there, then the end. */
  void *v;
  ASSERT_RC(weft_chan_recv(s.ch, &v), 0);
  cr_expect_eq(PI(v), 7);
  ASSERT_RC(weft_chan_recv(s.ch, &v), WEFT_CLOSED);
  ASSERT_RC(weft_chan_destroy(r.ch), 0);
  ASSERT_RC(weft_chan_destroy(s.ch), 0);
  ASSERT_RC(weft_runtime_destroy(rt), 0);
}

/* ---- select ------------------------------------------------------------------------------------ */

RT_TEST(select, misuse) {
  weft_chan *a;
  ASSERT_RC(weft_chan_create(&a, 1, 0), 0);
  weft_select_op ops[2] = {{a, WEFT_SELECT_RECV, NULL}, {NULL, WEFT_SELECT_SEND, NULL}};
  size_t idx = 77;
  ASSERT_RC(weft_select(NULL, 1, 0, &idx), EINVAL);
  ASSERT_RC(weft_select(ops, 2, 0, NULL), EINVAL);
  ASSERT_RC(weft_select(ops, 0, 0, &idx), EINVAL);
  ASSERT_RC(weft_select(ops, 2, 99, &idx), EINVAL);
  cr_expect_eq(idx, 2);
  weft_select_op bad = {a, (weft_select_kind)7, NULL};
  ASSERT_RC(weft_select(&bad, 1, 0, &idx), EINVAL);
  /* Every case disabled: it would wait for ever. */
  weft_select_op none[2] = {{NULL, WEFT_SELECT_RECV, NULL}, {NULL, WEFT_SELECT_SEND, NULL}};
  ASSERT_RC(weft_select(none, 2, 0, &idx), EINVAL);
  ASSERT_RC(weft_select(none, 2, WEFT_SELECT_NONBLOCK, &idx), EAGAIN);
  cr_expect_eq(idx, 2);
  ASSERT_RC(weft_chan_destroy(a), 0);
}

RT_TEST(select, default_when_nothing_is_ready) {
  weft_chan *a, *b, *c;
  ASSERT_RC(weft_chan_create(&a, 0, 0), 0);
  ASSERT_RC(weft_chan_create(&b, 1, 0), 0);
  ASSERT_RC(weft_chan_create(&c, 1, 0), 0);
  ASSERT_RC(weft_chan_send(c, IP(1)), 0); /* c is full */
  weft_select_op ops[3] = {
      {a, WEFT_SELECT_RECV, NULL}, {b, WEFT_SELECT_RECV, NULL}, {c, WEFT_SELECT_SEND, IP(2)}};
  size_t idx = 0;
  ASSERT_RC(weft_select(ops, 3, WEFT_SELECT_NONBLOCK, &idx), EAGAIN);
  cr_expect_eq(idx, 3);
  /* Make one ready: exactly that one is chosen. */
  ASSERT_RC(weft_chan_send(b, IP(5)), 0);
  ASSERT_RC(weft_select(ops, 3, WEFT_SELECT_NONBLOCK, &idx), 0);
  cr_expect_eq(idx, 1);
  cr_expect_eq(PI(ops[1].value), 5);
  ASSERT_RC(weft_select(ops, 3, WEFT_SELECT_NONBLOCK, &idx), EAGAIN);
  /* A closed channel is ready: receive says WEFT_CLOSED, send says EPIPE. */
  ASSERT_RC(weft_chan_close(a), 0);
  ASSERT_RC(weft_select(ops, 3, WEFT_SELECT_NONBLOCK, &idx), WEFT_CLOSED);
  cr_expect_eq(idx, 0);
  ASSERT_RC(weft_chan_close(c), 0);
  weft_select_op snd = {c, WEFT_SELECT_SEND, IP(3)};
  ASSERT_RC(weft_select(&snd, 1, WEFT_SELECT_NONBLOCK, &idx), EPIPE);
  cr_expect_eq(idx, 0);
  ASSERT_RC(weft_chan_destroy(a), 0);
  ASSERT_RC(weft_chan_destroy(b), 0);
  ASSERT_RC(weft_chan_destroy(c), 0);
}

/* Ready cases of every sort, chosen at random: none starved over many rounds. */
static void select_fairness(long rounds) {
  weft_chan *closed, *items, *room, *never;
  ASSERT_RC(weft_chan_create(&closed, 0, 0), 0);
  ASSERT_RC(weft_chan_close(closed), 0);
  ASSERT_RC(weft_chan_create(&items, 4, 0), 0);
  ASSERT_RC(weft_chan_create(&room, WEFT_CHAN_UNBOUNDED, 0), 0);
  ASSERT_RC(weft_chan_create(&never, 0, 0), 0);
  ASSERT_RC(weft_chan_send(items, IP(1)), 0);
  weft_select_op ops[5] = {
      {closed, WEFT_SELECT_RECV, NULL}, /* always ready: WEFT_CLOSED */
      {items, WEFT_SELECT_RECV, NULL},  /* ready: refilled every round */
      {room, WEFT_SELECT_SEND, IP(1)},  /* always ready: unbounded */
      {never, WEFT_SELECT_RECV, NULL},  /* never ready */
      {NULL, WEFT_SELECT_RECV, NULL},   /* disabled */
  };
  long count[5] = {0};
  for (long r = 0; r < rounds; r++) {
    size_t idx;
    int rc = weft_select(ops, 5, 0, &idx);
    cr_assert(idx < 3, "case %zu chosen", idx);
    cr_assert_eq(rc, idx == 0 ? WEFT_CLOSED : 0);
    count[idx]++;
    if (idx == 1) ASSERT_RC(weft_chan_send(items, IP(1)), 0);
    if (idx == 2) ASSERT_RC(weft_chan_try_recv(room, NULL), 0);
  }
  for (int i = 0; i < 3; i++)
    cr_expect_geq(count[i], rounds / 6, "case %d chosen %ld times of %ld: starved", i, count[i],
                  rounds);
  cr_expect_eq(count[3] + count[4], 0);
  ASSERT_RC(weft_chan_destroy(closed), 0);
  ASSERT_RC(weft_chan_destroy(items), 0);
  ASSERT_RC(weft_chan_destroy(room), 0);
  ASSERT_RC(weft_chan_destroy(never), 0);
}

RT_TEST(select, fair_among_ready_cases, .timeout = 120) { select_fairness(SIZED(100000, 100000, 10000)); }

/* A blocked select is completed by exactly one case, and leaves nothing in the others. */
struct sel_wait {
  weft_chan *a, *b, *c;
  atomic_int started;
};

static void *select_three(void *arg) {
  struct sel_wait *s = arg;
  weft_select_op ops[3] = {
      {s->a, WEFT_SELECT_RECV, NULL}, {s->b, WEFT_SELECT_RECV, NULL}, {s->c, WEFT_SELECT_SEND, IP(3)}};
  atomic_fetch_add(&s->started, 1);
  size_t idx = 99;
  int rc = weft_select(ops, 3, 0, &idx);
  if (rc) return IP(-1000 - rc);
  if (idx == 1) CHECK(PI(ops[1].value) == 42, "value %ld", (long)PI(ops[1].value));
  return IP(idx);
}

RT_TEST(select, blocking_select_completes_one_case, .timeout = 60) {
  weft_runtime *rt = make_rt(2);
  for (int round = 0; round < 3; round++) {
    struct sel_wait s;
    atomic_init(&s.started, 0);
    ASSERT_RC(weft_chan_create(&s.a, 0, 0), 0);
    ASSERT_RC(weft_chan_create(&s.b, 0, 0), 0);
    ASSERT_RC(weft_chan_create(&s.c, 0, 0), 0);
    weft_future *t = NULL;
    pthread_t th = 0;
    if (round < 2)
      ASSERT_RC(weft_runtime_spawn(rt, select_three, &s, &t), 0);
    else
      th = start_thread(select_three, &s); /* a plain thread selects */
    wait_at_least(&s.started, 1);
    sleep_us(10000);
    void *v = NULL;
    if (round == 1) {
      ASSERT_RC(weft_chan_recv(s.c, &v), 0); /* completes the send case */
      cr_expect_eq(PI(v), 3);
    } else {
      ASSERT_RC(weft_chan_send(s.b, IP(42)), 0);
    }
    intptr_t idx;
    if (t) {
      idx = await_task(t);
    } else {
      pthread_join(th, &v);
      idx = PI(v);
    }
    cr_expect_eq(idx, round == 1 ? 2 : 1);
    /* No trace in the other channels: nobody waits there any more. */
    ASSERT_RC(weft_chan_try_send(s.a, IP(1)), EAGAIN);
    ASSERT_RC(weft_chan_try_recv(s.c, NULL), EAGAIN);
    ASSERT_RC(weft_chan_destroy(s.a), 0);
    ASSERT_RC(weft_chan_destroy(s.b), 0);
    ASSERT_RC(weft_chan_destroy(s.c), 0);
  }
  ASSERT_RC(weft_runtime_destroy(rt), 0);
}

/* Select against select, and against plain operations, on unbuffered
 * channels: every value delivered exactly once. */
struct selsel {
  weft_chan *ch[2];
  int per;
  atomic_uchar *seen;
  atomic_long received;
  atomic_int senders_left;
};

static void *selsel_sender(void *arg) {
  struct selsel *s = arg;
  static atomic_int ids;
  int id = atomic_fetch_add(&ids, 1) % 4;
  for (int i = 0; i < s->per; i++) {
    long v = (long)id * s->per + i + 1;
    if (i % 3 == 0) {
      CHECK_RC(weft_chan_send(s->ch[i & 1], IP(v)), 0);
    } else {
      weft_select_op ops[2] = {{s->ch[0], WEFT_SELECT_SEND, IP(v)}, {s->ch[1], WEFT_SELECT_SEND, IP(v)}};
      size_t idx;
      CHECK_RC(weft_select(ops, 2, 0, &idx), 0);
      CHECK(idx < 2, "idx %zu", idx);
    }
  }
  if (atomic_fetch_sub(&s->senders_left, 1) == 1) {
    CHECK_RC(weft_chan_close(s->ch[0]), 0);
    CHECK_RC(weft_chan_close(s->ch[1]), 0);
  }
  return NULL;
}

static void *selsel_receiver(void *arg) {
  struct selsel *s = arg;
  static atomic_int ids;
  /* Receiver 0 always selects over both channels: it can serve any
   * blocked sender, so the plain operations of the others cannot all end
   * up waiting on the wrong channel (a deadlock of the test, not of weft). */
  int always_select = atomic_fetch_add(&ids, 1) == 0;
  int open = 3, k = 0;
  while (open) {
    void *v = NULL;
    int rc;
    if (!always_select && k++ % 4 == 0 && (open & 1)) {
      rc = weft_chan_recv(s->ch[0], &v);
      if (rc == WEFT_CLOSED) {
        open &= ~1;
        continue;
      }
    } else {
      weft_select_op ops[2] = {{(open & 1) ? s->ch[0] : NULL, WEFT_SELECT_RECV, NULL},
                               {(open & 2) ? s->ch[1] : NULL, WEFT_SELECT_RECV, NULL}};
      size_t idx;
      rc = weft_select(ops, 2, 0, &idx);
      if (rc == WEFT_CLOSED) {
        open &= ~(1 << idx);
        continue;
      }
      v = ops[idx].value;
    }
    CHECK(rc == 0, "receive: %s", weft_err_name(rc));
    long id = PI(v) - 1;
    CHECK(atomic_fetch_add(&s->seen[id], 1) == 0, "value %ld received twice", id);
    atomic_fetch_add(&s->received, 1);
  }
  return NULL;
}

static void *selsel_root(void *arg) {
  weft_future *t[8];
  for (int i = 0; i < 4; i++) CHECK_RC(weft_spawn(selsel_receiver, arg, &t[i]), 0);
  for (int i = 4; i < 8; i++) CHECK_RC(weft_spawn(selsel_sender, arg, &t[i]), 0);
  for (int i = 0; i < 8; i++) {
    CHECK_RC(weft_await(t[i], NULL), 0);
    weft_future_release(t[i]);
  }
  return NULL;
}

ParameterizedTestParameters(select, against_select_every_value_once) {
  static unsigned wc[] = {1, 2, 4};
  return cr_make_param_array(unsigned, wc, 3);
}
ParameterizedTest(unsigned *workers, select, against_select_every_value_once, .timeout = 120) {
  struct selsel s;
  s.per = SIZED(5000, 1000, 150);
  atomic_init(&s.received, 0);
  atomic_init(&s.senders_left, 4);
  s.seen = calloc((size_t)4 * s.per, 1);
  ASSERT_RC(weft_chan_create(&s.ch[0], 0, 0), 0);
  ASSERT_RC(weft_chan_create(&s.ch[1], 0, 0), 0);
  weft_runtime *rt = make_rt(*workers);
  ASSERT_RC(weft_run_until_complete(rt, selsel_root, &s, NULL), 0);
  ASSERT_RC(weft_runtime_destroy(rt), 0);
  cr_assert_eq(atomic_load(&s.received), 4L * s.per);
  for (long i = 0; i < 4L * s.per; i++) cr_assert_eq(atomic_load(&s.seen[i]), 1, "value %ld", i);
  ASSERT_RC(weft_chan_destroy(s.ch[0]), 0);
  ASSERT_RC(weft_chan_destroy(s.ch[1]), 0);
  free(s.seen);
  leak_check();
}

/* ---- cancellation --------------------------------------------------------------------------- */

enum { OP_RECV, OP_SEND, OP_SELECT };

struct cancel_one {
  weft_chan *ch;
  weft_chan *other; /* select: an unbuffered channel nobody uses */
  int op;
  atomic_int started;
};

static void *cancel_one_body(void *arg) {
  struct cancel_one *c = arg;
  atomic_fetch_add(&c->started, 1);
  int rc;
  if (c->op == OP_RECV) {
    void *v = IP(1);
    rc = weft_chan_recv(c->ch, &v);
    CHECK(rc == 0 || v == NULL, "a failed receive left a value");
  } else if (c->op == OP_SEND) {
    rc = weft_chan_send(c->ch, IP(5));
  } else {
    weft_select_op ops[2] = {{c->ch, WEFT_SELECT_RECV, NULL}, {c->other, WEFT_SELECT_SEND, IP(6)}};
    size_t idx = 0;
    rc = weft_select(ops, 2, 0, &idx);
    CHECK(rc != ECANCELED || idx == 2, "cancelled select chose %zu", idx);
  }
  return IP(rc);
}

/* A task blocked in recv, send or select is cancelled: ECANCELED, and the
 * channel works afterwards as if it had never waited. */
RT_TEST(cancel, blocked_recv_send_select_return_ecanceled, .timeout = 60) {
  weft_runtime *rt = make_rt(2);
  for (size_t k = 0; k < 2; k++) { /* unbuffered, and bounded 1 (full for the send) */
    for (int op = OP_RECV; op <= OP_SELECT; op++) {
      struct cancel_one c;
      atomic_init(&c.started, 0);
      c.op = op;
      ASSERT_RC(weft_chan_create(&c.ch, k, 0), 0);
      ASSERT_RC(weft_chan_create(&c.other, 0, 0), 0);
      if (k == 1 && op == OP_SEND) ASSERT_RC(weft_chan_send(c.ch, IP(1)), 0);
      weft_future *t;
      ASSERT_RC(weft_runtime_spawn(rt, cancel_one_body, &c, &t), 0);
      wait_at_least(&c.started, 1);
      sleep_us(5000);
      ASSERT_RC(weft_cancel(t), 0);
      cr_expect_eq(await_task(t), ECANCELED, "kind %zu op %d", k, op);
      void *v = NULL;
      if (k == 0) {
        /* Nobody waits in it any more: nothing to rendezvous with. */
        ASSERT_RC(weft_chan_try_send(c.ch, IP(9)), EAGAIN);
        ASSERT_RC(weft_chan_try_recv(c.ch, &v), EAGAIN); /* the cancelled send delivered nothing */
      } else if (op == OP_SEND) {
        ASSERT_RC(weft_chan_try_recv(c.ch, &v), 0);
        cr_expect_eq(PI(v), 1);
        ASSERT_RC(weft_chan_try_recv(c.ch, &v), EAGAIN); /* the cancelled 5 never went in */
      } else {
        ASSERT_RC(weft_chan_try_send(c.ch, IP(9)), 0);
        ASSERT_RC(weft_chan_try_recv(c.ch, &v), 0); /* the cancelled receive took nothing */
        cr_expect_eq(PI(v), 9);
      }
      /* And it still works for a new pair. */
      weft_future *t2;
      c.op = OP_RECV;
      ASSERT_RC(weft_runtime_spawn(rt, cancel_one_body, &c, &t2), 0);
      ASSERT_RC(weft_chan_send(c.ch, IP(11)), 0);
      cr_expect_eq(await_task(t2), 0);
      ASSERT_RC(weft_chan_try_recv(c.other, NULL), EAGAIN); /* the select's send case is gone */
      ASSERT_RC(weft_chan_destroy(c.ch), 0);
      ASSERT_RC(weft_chan_destroy(c.other), 0);
    }
  }
  ASSERT_RC(weft_runtime_destroy(rt), 0);
}

/* Senders cancelled at random moments: a send that returned 0 was received
 * exactly once; one that returned ECANCELED was never received. */
struct cancel_stress {
  weft_chan *ch;
  int per;
  atomic_schar *sent;   /* per value: 1 sent (rc 0), -1 cancelled */
  atomic_uchar *got;    /* per value: times received */
  atomic_int started;
  weft_future **tasks;
  int ntasks;
  uint64_t seed;
};

static void *cs_sender(void *arg) {
  struct cancel_stress *c = arg;
  int id = atomic_fetch_add(&c->started, 1);
  for (int i = 0; i < c->per; i++) {
    long v = (long)id * c->per + i;
    int rc;
    if (i & 1) {
      rc = weft_chan_send(c->ch, IP(v + 1));
    } else {
      weft_select_op op = {c->ch, WEFT_SELECT_SEND, IP(v + 1)};
      size_t idx;
      rc = weft_select(&op, 1, 0, &idx);
    }
    CHECK(rc == 0 || rc == ECANCELED, "send: %s", weft_err_name(rc));
    atomic_store(&c->sent[v], rc == 0 ? 1 : -1);
  }
  return NULL;
}

static void *cs_receiver(void *arg) {
  struct cancel_stress *c = arg;
  void *v;
  int rc;
  unsigned k = 0;
  while ((rc = weft_chan_recv(c->ch, &v)) == 0) {
    atomic_fetch_add(&c->got[PI(v) - 1], 1);
    if (++k % 8 == 0) weft_yield(); /* let the canceller in while senders wait */
  }
  CHECK(rc == WEFT_CLOSED, "recv: %s", weft_err_name(rc));
  return NULL;
}

static void *cs_canceller(void *arg) {
  struct cancel_stress *c = arg;
  uint64_t seed = c->seed;
  while (atomic_load(&c->started) < c->ntasks) weft_yield(); /* cancel while they send */
  for (int i = 0; i < c->ntasks; i++) {
    for (int k = (int)(rng_next(&seed) % 50); k > 0; k--) weft_yield();
    weft_cancel(c->tasks[rng_next(&seed) % (uint64_t)c->ntasks]);
  }
  return NULL;
}

static void *cs_root(void *arg) {
  struct cancel_stress *c = arg;
  weft_future *recv[2], *canc;
  for (int i = 0; i < 2; i++) CHECK_RC(weft_spawn(cs_receiver, c, &recv[i]), 0);
  for (int i = 0; i < c->ntasks; i++) CHECK_RC(weft_spawn(cs_sender, c, &c->tasks[i]), 0);
  CHECK_RC(weft_spawn(cs_canceller, c, &canc), 0);
  CHECK_RC(weft_await(canc, NULL), 0);
  weft_future_release(canc);
  for (int i = 0; i < c->ntasks; i++) {
    (void)weft_await(c->tasks[i], NULL); /* ECANCELED if it never started */
    weft_future_release(c->tasks[i]);
  }
  CHECK_RC(weft_chan_close(c->ch), 0);
  for (int i = 0; i < 2; i++) {
    CHECK_RC(weft_await(recv[i], NULL), 0);
    weft_future_release(recv[i]);
  }
  return NULL;
}

ParameterizedTestParameters(cancel, senders_cancelled_at_random_exactly_once_or_never) {
  static unsigned wc[] = {1, 2, 4};
  return cr_make_param_array(unsigned, wc, 3);
}
ParameterizedTest(unsigned *workers, cancel, senders_cancelled_at_random_exactly_once_or_never,
                  .timeout = 120) {
  uint64_t seed = test_seed();
  cr_log_info("seed %llu (WEFT_TEST_SEED)", (unsigned long long)seed);
  for (size_t k = 0; k < 2; k++) { /* unbuffered and bounded 2 */
    struct cancel_stress c;
    c.ntasks = 16;
    c.per = SIZED(1000, 300, 60);
    long total = (long)c.ntasks * c.per;
    c.sent = calloc((size_t)total, sizeof *c.sent);
    c.got = calloc((size_t)total, sizeof *c.got);
    c.tasks = calloc((size_t)c.ntasks, sizeof *c.tasks);
    atomic_init(&c.started, 0);
    c.seed = seed + k;
    ASSERT_RC(weft_chan_create(&c.ch, k * 2, 0), 0);
    weft_runtime *rt = make_rt(*workers);
    ASSERT_RC(weft_run_until_complete(rt, cs_root, &c, NULL), 0);
    ASSERT_RC(weft_runtime_destroy(rt), 0);
    long delivered = 0, cancelled = 0;
    for (long i = 0; i < total; i++) {
      int s = atomic_load(&c.sent[i]), g = atomic_load(&c.got[i]);
      if (s == 0) { /* its sender never got that far */
        cr_assert_eq(g, 0, "value %ld received but never sent", i);
        continue;
      }
      cr_assert_eq(g, s == 1 ? 1 : 0, "value %ld: send said %s, received %d times", i,
                   s == 1 ? "0" : "ECANCELED", g);
      if (s == 1)
        delivered++;
      else
        cancelled++;
    }
    cr_log_info("kind %zu, %u workers: %ld delivered, %ld cancelled", k, *workers, delivered,
                cancelled);
    ASSERT_RC(weft_chan_destroy(c.ch), 0);
    free(c.sent);
    free(c.got);
    free(c.tasks);
  }
  leak_check();
}

/* Receivers cancelled at random: no value is lost to a cancelled receiver. */
struct rcancel {
  weft_chan *ch;
  int n;
  atomic_uchar *got;
  weft_future *rx[8];
};

static void *rc_receiver(void *arg) {
  struct rcancel *r = arg;
  void *v;
  int rc;
  while ((rc = weft_chan_recv(r->ch, &v)) == 0) CHECK(atomic_fetch_add(&r->got[PI(v) - 1], 1) == 0, "twice");
  CHECK(rc == WEFT_CLOSED || rc == ECANCELED, "recv: %s", weft_err_name(rc));
  return NULL;
}

static void *rc_producer(void *arg) {
  struct rcancel *r = arg;
  uint64_t seed = 99;
  int next_cancel = 0;
  for (int i = 0; i < r->n; i++) {
    CHECK_RC(weft_chan_send(r->ch, IP(i + 1)), 0);
    if (next_cancel < 7 && rng_next(&seed) % (uint64_t)(r->n / 8 + 1) == 0)
      weft_cancel(r->rx[next_cancel++]); /* rx[7] is never cancelled: it drains */
  }
  CHECK_RC(weft_chan_close(r->ch), 0);
  return NULL;
}

static void *rc_root(void *arg) {
  struct rcancel *r = arg;
  for (int i = 0; i < 8; i++) CHECK_RC(weft_spawn(rc_receiver, r, &r->rx[i]), 0);
  weft_future *p;
  CHECK_RC(weft_spawn(rc_producer, r, &p), 0);
  CHECK_RC(weft_await(p, NULL), 0);
  weft_future_release(p);
  for (int i = 0; i < 8; i++) {
    (void)weft_await(r->rx[i], NULL);
    weft_future_release(r->rx[i]);
  }
  return NULL;
}

RT_TEST(cancel, receivers_cancelled_at_random_lose_nothing, .timeout = 120) {
  for (unsigned w = 1; w <= 2; w++) {
    struct rcancel r;
    r.n = SIZED(20000, 4000, 500);
    r.got = calloc((size_t)r.n, 1);
    ASSERT_RC(weft_chan_create(&r.ch, 0, 0), 0);
    weft_runtime *rt = make_rt(w);
    ASSERT_RC(weft_run_until_complete(rt, rc_root, &r, NULL), 0);
    ASSERT_RC(weft_runtime_destroy(rt), 0);
    for (int i = 0; i < r.n; i++) cr_assert_eq(atomic_load(&r.got[i]), 1, "value %d lost", i + 1);
    ASSERT_RC(weft_chan_destroy(r.ch), 0);
    free(r.got);
  }
}

/* Destroying a runtime cancels a task blocked on a channel: it returns, and
 * the channel has no waiter left. */
RT_TEST(cancel, runtime_destroy_unblocks_a_channel_waiter, .timeout = 60) {
  weft_runtime *rt = make_rt(1);
  struct cancel_one c;
  atomic_init(&c.started, 0);
  c.op = OP_RECV;
  ASSERT_RC(weft_chan_create(&c.ch, 0, 0), 0);
  c.other = NULL;
  weft_future *t;
  ASSERT_RC(weft_runtime_spawn(rt, cancel_one_body, &c, &t), 0);
  wait_at_least(&c.started, 1);
  ASSERT_RC(weft_runtime_destroy(rt), 0);
  cr_expect_eq(await_task(t), ECANCELED);
  ASSERT_RC(weft_chan_destroy(c.ch), 0);
}
