/* Deadlines on every blocking operation of the coordination primitives
 * (the `_until` functions of weft/chan.h, weft/sync.h, weft/scope.h),
 * black-box. For each primitive, once from a coroutine and once from a
 * plain thread (the test's main thread):
 *   - nothing happens: ETIMEDOUT, and weft_now() has reached the deadline;
 *   - the event comes before the deadline (a helper thread makes it): the
 *     operation succeeds;
 *   - a past deadline is the try-operation (ETIMEDOUT instead of EAGAIN);
 *   - a timed-out operation leaves no trace: a send delivered nothing, a
 *     lock is not held, a unit or an auto-reset event is not consumed, the
 *     object can be destroyed (no waiter left in it).
 * Then stress: timed sends/receives/selects with random short deadlines
 * (every item exactly once), the mutex, the semaphore, a condition-variable
 * queue and an auto-reset token under random deadlines (exclusion checked,
 * nothing lost or duplicated), seeded (WEFT_TEST_SEED).
 *
 * Timing: a timeout must not come before its deadline (checked against
 * weft_now()); how late it may come is bounded only by LATE_NS, a hang
 * check for a loaded 2-core machine under sanitizers, not a measurement.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "weft.h"
#include "support.h"

#define MS 1000000ull
/* The deadline of a wait that must time out. */
#define SHORT_NS (20 * MS)
/* A deadline that must not come (the test's timeout catches a hang). */
#define FAR_NS (120000 * MS)
/* How late a timeout may return before it counts as a hang. */
#define LATE_NS (20000 * MS)
/* How long a helper thread waits before it makes the awaited event. */
#define HELPER_DELAY_US 10000

static uint64_t in_ns(uint64_t ns) { return weft_now() + ns; }

/* A call that must time out at dl: it returned ETIMEDOUT, not before dl. */
#define CHECK_TIMED_OUT(expr, dl)                                                        \
  do {                                                                                   \
    uint64_t dl_ = (dl);                                                                 \
    CHECK_RC(expr, ETIMEDOUT);                                                           \
    uint64_t now_ = weft_now();                                                          \
    CHECK(now_ >= dl_, "timed out %.3f ms before the deadline", (dl_ - now_) / 1e6);     \
    CHECK(now_ - dl_ < LATE_NS, "timed out %.3f ms after the deadline", (now_ - dl_) / 1e6); \
  } while (0)

/* A call with a past deadline: its answer comes at once (no timer). */
#define CHECK_AT_ONCE(expr, want)                                              \
  do {                                                                         \
    uint64_t t0_ = weft_now();                                                 \
    CHECK_RC(expr, want);                                                      \
    CHECK(weft_now() - t0_ < LATE_NS, "a past deadline waited %.3f ms",        \
          (weft_now() - t0_) / 1e6);                                           \
  } while (0)

/* ---- a helper thread that acts after a delay ------------------------------------ */

struct later {
  pthread_t th;
  long delay_us;
  void (*fn)(void *);
  void *arg;
};

static void *later_main(void *p) {
  struct later *l = p;
  sleep_us(l->delay_us);
  l->fn(l->arg);
  return NULL;
}

/* Callable from coroutines too (no cr_assert). */
static void later_start(struct later *l, long delay_us, void (*fn)(void *), void *arg) {
  l->delay_us = delay_us;
  l->fn = fn;
  l->arg = arg;
  CHECK(pthread_create(&l->th, NULL, later_main, l) == 0, "pthread_create");
}

static void later_join(struct later *l) { CHECK(pthread_join(l->th, NULL) == 0, "pthread_join"); }

/* ---- running a scenario from a coroutine and from a plain thread ------------------ */

typedef void (*scenario_fn)(weft_runtime *rt);

struct call {
  scenario_fn fn;
  weft_runtime *rt;
};

static void *call_task(void *p) {
  struct call *c = p;
  c->fn(c->rt);
  return NULL;
}

static void from_both(scenario_fn fn) {
  weft_runtime *rt = make_rt(2);
  struct call c = {fn, rt};
  weft_future *t;
  ASSERT_RC(weft_runtime_spawn(rt, call_task, &c, &t), 0);
  cr_assert_eq(await_task(t), 0); /* from a coroutine */
  fn(rt);                          /* from a plain thread */
  ASSERT_RC(weft_runtime_destroy(rt), 0);
}

/* ---- channels ---------------------------------------------------------------------- */

static void act_send42(void *ch) { CHECK_RC(weft_chan_send(ch, IP(42)), 0); }
static void act_close(void *ch) { CHECK_RC(weft_chan_close(ch), 0); }

struct recv_slot {
  weft_chan *ch;
  void *v;
};
static void act_recv(void *p) {
  struct recv_slot *r = p;
  CHECK_RC(weft_chan_recv(r->ch, &r->v), 0);
}

static void sc_chan(weft_runtime *rt) {
  (void)rt;
  weft_chan *ch, *b;
  CHECK_RC(weft_chan_create(&ch, 0, 0), 0);
  CHECK_RC(weft_chan_create(&b, 1, 0), 0);
  void *v = IP(1);
  uint64_t dl;

  /* Nothing happens. */
  dl = in_ns(SHORT_NS);
  CHECK_TIMED_OUT(weft_chan_recv_until(ch, dl, &v), dl);
  CHECK(v == NULL, "a timed-out receive wrote %p", v);
  dl = in_ns(SHORT_NS);
  CHECK_TIMED_OUT(weft_chan_send_until(ch, IP(7), dl), dl);
  CHECK_RC(weft_chan_try_recv(ch, &v), EAGAIN); /* the timed-out send left nothing */
  CHECK_RC(weft_chan_send(b, IP(1)), 0);
  dl = in_ns(SHORT_NS);
  CHECK_TIMED_OUT(weft_chan_send_until(b, IP(2), dl), dl); /* full */
  CHECK(weft_chan_len(b) == 1, "len %zu", weft_chan_len(b));
  CHECK_RC(weft_chan_recv(b, &v), 0);
  CHECK(v == IP(1), "got %p", v);
  CHECK_RC(weft_chan_try_recv(b, &v), EAGAIN); /* 2 never went in */

  /* The event comes first. */
  struct later l;
  later_start(&l, HELPER_DELAY_US, act_send42, ch);
  CHECK_RC(weft_chan_recv_until(ch, in_ns(FAR_NS), &v), 0);
  CHECK(v == IP(42), "got %p", v);
  later_join(&l);
  struct recv_slot r = {ch, NULL};
  later_start(&l, HELPER_DELAY_US, act_recv, &r);
  CHECK_RC(weft_chan_send_until(ch, IP(43), in_ns(FAR_NS)), 0);
  later_join(&l);
  CHECK(r.v == IP(43), "the receiver got %p", r.v);

  /* A past deadline is a try. */
  CHECK_AT_ONCE(weft_chan_recv_until(b, 0, &v), ETIMEDOUT);
  CHECK_AT_ONCE(weft_chan_recv_until(ch, weft_now(), &v), ETIMEDOUT);
  CHECK_AT_ONCE(weft_chan_send_until(ch, IP(9), 0), ETIMEDOUT);
  CHECK_AT_ONCE(weft_chan_send_until(b, IP(5), 0), 0); /* room */
  CHECK_AT_ONCE(weft_chan_send_until(b, IP(6), 0), ETIMEDOUT);
  CHECK_AT_ONCE(weft_chan_recv_until(b, 0, &v), 0);
  CHECK(v == IP(5), "got %p", v);

  /* Closed: the close's outcomes, whatever the deadline. */
  CHECK_RC(weft_chan_close(b), 0);
  CHECK_AT_ONCE(weft_chan_recv_until(b, 0, &v), WEFT_CLOSED);
  CHECK_RC(weft_chan_send_until(b, IP(1), in_ns(FAR_NS)), EPIPE);
  later_start(&l, HELPER_DELAY_US, act_close, ch);
  CHECK_RC(weft_chan_recv_until(ch, in_ns(FAR_NS), &v), WEFT_CLOSED);
  later_join(&l);

  /* No waiter was left behind by any timeout. */
  CHECK_RC(weft_chan_destroy(ch), 0);
  CHECK_RC(weft_chan_destroy(b), 0);
}

Test(deadline, chan, .timeout = 120) { from_both(sc_chan); leak_check(); }

static void act_send3(void *ch) { CHECK_RC(weft_chan_send(ch, IP(3)), 0); }

static void sc_select(weft_runtime *rt) {
  (void)rt;
  weft_chan *a, *b, *c;
  CHECK_RC(weft_chan_create(&a, 0, 0), 0);
  CHECK_RC(weft_chan_create(&b, 0, 0), 0);
  CHECK_RC(weft_chan_create(&c, 1, 0), 0);
  size_t i;
  uint64_t dl;

  /* Nothing happens: no case happened either. */
  weft_select_op two[] = {{a, WEFT_SELECT_RECV, NULL}, {b, WEFT_SELECT_SEND, IP(9)}};
  dl = in_ns(SHORT_NS);
  CHECK_TIMED_OUT(weft_select_until(two, 2, 0, dl, &i), dl);
  CHECK(i == 2, "index %zu", i);
  CHECK_RC(weft_chan_try_recv(b, NULL), EAGAIN); /* the send case left nothing */

  /* A case comes first. */
  struct later l;
  weft_select_op rr[] = {{a, WEFT_SELECT_RECV, NULL}, {b, WEFT_SELECT_RECV, NULL}};
  later_start(&l, HELPER_DELAY_US, act_send3, b);
  CHECK_RC(weft_select_until(rr, 2, 0, in_ns(FAR_NS), &i), 0);
  later_join(&l);
  CHECK(i == 1 && rr[1].value == IP(3), "index %zu value %p", i, rr[1].value);

  /* A past deadline polls. */
  CHECK_RC(weft_chan_send(c, IP(4)), 0);
  weft_select_op ac[] = {{a, WEFT_SELECT_RECV, NULL}, {c, WEFT_SELECT_RECV, NULL}};
  CHECK_AT_ONCE(weft_select_until(ac, 2, 0, 0, &i), 0);
  CHECK(i == 1 && ac[1].value == IP(4), "index %zu value %p", i, ac[1].value);
  CHECK_AT_ONCE(weft_select_until(ac, 2, 0, 0, &i), ETIMEDOUT);
  CHECK(i == 2, "index %zu", i);

  /* Every case disabled: a sleep until the deadline; without one, EINVAL. */
  weft_select_op none[] = {{NULL, WEFT_SELECT_RECV, NULL}};
  dl = in_ns(SHORT_NS);
  CHECK_TIMED_OUT(weft_select_until(none, 1, 0, dl, &i), dl);
  CHECK(i == 1, "index %zu", i);
  CHECK_RC(weft_select_until(none, 1, 0, WEFT_NO_DEADLINE, &i), EINVAL);
  CHECK_RC(weft_select(none, 1, 0, &i), EINVAL);
  /* Non-blocking: the deadline does not matter. */
  CHECK_AT_ONCE(weft_select_until(rr, 2, WEFT_SELECT_NONBLOCK, in_ns(FAR_NS), &i), EAGAIN);

  CHECK_RC(weft_chan_destroy(a), 0);
  CHECK_RC(weft_chan_destroy(b), 0);
  CHECK_RC(weft_chan_destroy(c), 0);
}

Test(deadline, select, .timeout = 120) { from_both(sc_select); leak_check(); }

/* ---- mutex and condition variable ----------------------------------------------------- */

static void act_unlock(void *m) { CHECK_RC(weft_mutex_unlock(m), 0); }

static void sc_mutex(weft_runtime *rt) {
  (void)rt;
  weft_mutex *m;
  CHECK_RC(weft_mutex_create(&m), 0);
  uint64_t dl;

  /* Held (by us: it is not recursive): times out, and holds nothing more. */
  CHECK_RC(weft_mutex_lock(m), 0);
  dl = in_ns(SHORT_NS);
  CHECK_TIMED_OUT(weft_mutex_lock_until(m, dl), dl);
  CHECK_RC(weft_mutex_unlock(m), 0);
  CHECK_RC(weft_mutex_unlock(m), EPERM); /* the timed-out lock was not handed it */
  CHECK_RC(weft_mutex_trylock(m), 0);

  /* The unlock comes first (any thread may unlock): handed over. */
  struct later l;
  later_start(&l, HELPER_DELAY_US, act_unlock, m);
  CHECK_RC(weft_mutex_lock_until(m, in_ns(FAR_NS)), 0);
  later_join(&l);

  /* A past deadline is a trylock. */
  CHECK_AT_ONCE(weft_mutex_lock_until(m, 0), ETIMEDOUT);
  CHECK_RC(weft_mutex_unlock(m), 0);
  CHECK_AT_ONCE(weft_mutex_lock_until(m, 0), 0);
  CHECK_RC(weft_mutex_unlock(m), 0);
  CHECK_RC(weft_mutex_destroy(m), 0);
}

Test(deadline, mutex, .timeout = 120) { from_both(sc_mutex); leak_check(); }

struct cond_ctx {
  weft_mutex *m;
  weft_cond *c;
  atomic_int flag;
  atomic_int got, released;
  uint64_t hold_until;
};

static void act_signal(void *p) {
  struct cond_ctx *x = p;
  CHECK_RC(weft_mutex_lock(x->m), 0);
  atomic_store(&x->flag, 1);
  CHECK_RC(weft_cond_signal(x->c), 0);
  CHECK_RC(weft_mutex_unlock(x->m), 0);
}

/* Takes the mutex while the waiter waits, and keeps it past its deadline. */
static void act_hold(void *p) {
  struct cond_ctx *x = p;
  CHECK_RC(weft_mutex_lock(x->m), 0);
  atomic_store(&x->got, 1);
  while (weft_now() < x->hold_until) sleep_us(1000);
  atomic_store(&x->released, 1);
  CHECK_RC(weft_mutex_unlock(x->m), 0);
}

static void sc_cond(weft_runtime *rt) {
  (void)rt;
  struct cond_ctx x;
  CHECK_RC(weft_mutex_create(&x.m), 0);
  CHECK_RC(weft_cond_create(&x.c), 0);
  atomic_init(&x.flag, 0);
  atomic_init(&x.got, 0);
  atomic_init(&x.released, 0);
  uint64_t dl;

  /* No signal: ETIMEDOUT with the mutex held again. */
  CHECK_RC(weft_mutex_lock(x.m), 0);
  dl = in_ns(SHORT_NS);
  CHECK_TIMED_OUT(weft_cond_wait_until(x.c, x.m, dl), dl);
  CHECK_RC(weft_mutex_trylock(x.m), EBUSY);
  /* A past deadline: at once, the mutex never let go. */
  CHECK_AT_ONCE(weft_cond_wait_until(x.c, x.m, 0), ETIMEDOUT);
  CHECK_RC(weft_mutex_unlock(x.m), 0);
  CHECK_RC(weft_mutex_unlock(x.m), EPERM);

  /* The signal comes first. */
  struct later l;
  CHECK_RC(weft_mutex_lock(x.m), 0);
  later_start(&l, HELPER_DELAY_US, act_signal, &x);
  while (!atomic_load(&x.flag)) CHECK_RC(weft_cond_wait_until(x.c, x.m, in_ns(FAR_NS)), 0);
  CHECK_RC(weft_mutex_unlock(x.m), 0);
  later_join(&l);

  /* Timed out while another holds the mutex: the re-lock waits for it
   * (no deadline), so the call returns holding the mutex, late. */
  CHECK_RC(weft_mutex_lock(x.m), 0);
  dl = in_ns(SHORT_NS);
  x.hold_until = dl + SHORT_NS;
  later_start(&l, 2000, act_hold, &x);
  CHECK_TIMED_OUT(weft_cond_wait_until(x.c, x.m, dl), dl);
  /* We hold m: if the helper took it meanwhile, it has let it go. */
  if (atomic_load(&x.got)) {
    CHECK(atomic_load(&x.released), "returned while the helper held the mutex");
    CHECK(weft_now() >= x.hold_until, "returned before the helper's unlock");
  }
  CHECK_RC(weft_mutex_unlock(x.m), 0);
  later_join(&l);

  CHECK_RC(weft_cond_destroy(x.c), 0); /* no waiter left behind */
  CHECK_RC(weft_mutex_destroy(x.m), 0);
}

Test(deadline, cond, .timeout = 120) { from_both(sc_cond); leak_check(); }

/* ---- semaphore, wait group, event ------------------------------------------------------- */

static void act_release(void *s) { CHECK_RC(weft_sem_release(s), 0); }

static void sc_sem(weft_runtime *rt) {
  (void)rt;
  weft_sem *s;
  CHECK_RC(weft_sem_create(&s, 0), 0);
  uint64_t dl = in_ns(SHORT_NS);
  CHECK_TIMED_OUT(weft_sem_acquire_until(s, dl), dl);
  CHECK(weft_sem_value(s) == 0, "value %u", weft_sem_value(s));
  CHECK_RC(weft_sem_release(s), 0);
  CHECK(weft_sem_value(s) == 1, "the unit went to a timed-out waiter (value %u)",
        weft_sem_value(s));
  CHECK_AT_ONCE(weft_sem_acquire_until(s, 0), 0);
  CHECK_AT_ONCE(weft_sem_acquire_until(s, 0), ETIMEDOUT);
  CHECK(weft_sem_value(s) == 0, "value %u", weft_sem_value(s));

  struct later l;
  later_start(&l, HELPER_DELAY_US, act_release, s);
  CHECK_RC(weft_sem_acquire_until(s, in_ns(FAR_NS)), 0);
  later_join(&l);
  CHECK(weft_sem_value(s) == 0, "value %u", weft_sem_value(s));
  CHECK_RC(weft_sem_destroy(s), 0);
}

Test(deadline, sem, .timeout = 120) { from_both(sc_sem); leak_check(); }

static void act_done(void *wg) { CHECK_RC(weft_waitgroup_done(wg), 0); }

static void sc_waitgroup(weft_runtime *rt) {
  (void)rt;
  weft_waitgroup *wg;
  CHECK_RC(weft_waitgroup_create(&wg), 0);
  CHECK_AT_ONCE(weft_waitgroup_wait_until(wg, 0), 0); /* zero: no waiting */
  CHECK_RC(weft_waitgroup_add(wg, 1), 0);
  uint64_t dl = in_ns(SHORT_NS);
  CHECK_TIMED_OUT(weft_waitgroup_wait_until(wg, dl), dl);
  CHECK_AT_ONCE(weft_waitgroup_wait_until(wg, 0), ETIMEDOUT);
  struct later l;
  later_start(&l, HELPER_DELAY_US, act_done, wg);
  CHECK_RC(weft_waitgroup_wait_until(wg, in_ns(FAR_NS)), 0);
  later_join(&l);
  CHECK_AT_ONCE(weft_waitgroup_wait_until(wg, 0), 0);
  CHECK_RC(weft_waitgroup_destroy(wg), 0);
}

Test(deadline, waitgroup, .timeout = 120) { from_both(sc_waitgroup); leak_check(); }

static void act_set(void *e) { CHECK_RC(weft_event_set(e), 0); }

static void sc_event(weft_runtime *rt) {
  (void)rt;
  const int kinds[] = {0, WEFT_EVENT_ONESHOT, WEFT_EVENT_AUTO_RESET};
  for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
    weft_event *e;
    CHECK_RC(weft_event_create(&e, kinds[k]), 0);
    uint64_t dl = in_ns(SHORT_NS);
    CHECK_TIMED_OUT(weft_event_wait_until(e, dl), dl);
    CHECK_AT_ONCE(weft_event_wait_until(e, 0), ETIMEDOUT);
    CHECK_RC(weft_event_set(e), 0);
    if (kinds[k] == WEFT_EVENT_AUTO_RESET) {
      /* The timed-out waits consumed nothing: the set is still there, once. */
      CHECK_AT_ONCE(weft_event_wait_until(e, 0), 0);
      CHECK_AT_ONCE(weft_event_wait_until(e, 0), ETIMEDOUT);
    } else {
      CHECK_AT_ONCE(weft_event_wait_until(e, 0), 0);
      CHECK_AT_ONCE(weft_event_wait_until(e, 0), 0);
    }
    CHECK_RC(weft_event_destroy(e), 0);

    CHECK_RC(weft_event_create(&e, kinds[k]), 0);
    struct later l;
    later_start(&l, HELPER_DELAY_US, act_set, e);
    CHECK_RC(weft_event_wait_until(e, in_ns(FAR_NS)), 0);
    later_join(&l);
    CHECK_RC(weft_event_destroy(e), 0);
  }
}

Test(deadline, event, .timeout = 120) { from_both(sc_event); leak_check(); }

/* ---- scopes ---------------------------------------------------------------------------- */

static int child_wait(void *e) { return weft_event_wait(e); }
static int child_fail(void *arg) {
  (void)arg;
  return EBADMSG;
}
static int child_ok(void *arg) {
  (void)arg;
  return 0;
}

static void sc_scope(weft_runtime *rt) {
  weft_event *e;
  weft_scope *s;
  uint64_t dl;
  CHECK_RC(weft_event_create(&e, 0), 0);

  /* A child still running: ETIMEDOUT, and the scope is still joinable. */
  CHECK_RC(weft_scope_create(&s, rt), 0);
  CHECK_RC(weft_scope_spawn(s, child_wait, e, NULL), 0);
  dl = in_ns(SHORT_NS);
  CHECK_TIMED_OUT(weft_scope_join_until(s, dl), dl);
  CHECK_AT_ONCE(weft_scope_join_until(s, 0), ETIMEDOUT);
  CHECK_RC(weft_scope_spawn(s, child_ok, NULL, NULL), 0); /* it still takes children */
  CHECK_RC(weft_event_set(e), 0);
  CHECK_RC(weft_scope_join_until(s, in_ns(FAR_NS)), 0); /* frees s */
  CHECK_RC(weft_event_reset(e), 0);

  /* Timed out, then cancelled and joined: the child's wait is cancelled. */
  CHECK_RC(weft_scope_create(&s, rt), 0);
  CHECK_RC(weft_scope_spawn(s, child_wait, e, NULL), 0);
  CHECK_AT_ONCE(weft_scope_join_until(s, 0), ETIMEDOUT);
  CHECK_RC(weft_scope_cancel(s), 0);
  CHECK_RC(weft_scope_join(s), ECANCELED);

  /* The children finish first: the join's result, the scope freed. */
  struct later l;
  CHECK_RC(weft_scope_create(&s, rt), 0);
  CHECK_RC(weft_scope_spawn(s, child_wait, e, NULL), 0);
  later_start(&l, HELPER_DELAY_US, act_set, e);
  CHECK_RC(weft_scope_join_until(s, in_ns(FAR_NS)), 0);
  later_join(&l);
  CHECK_RC(weft_scope_create(&s, rt), 0);
  CHECK_RC(weft_scope_spawn(s, child_fail, NULL, NULL), 0);
  CHECK_RC(weft_scope_join_until(s, in_ns(FAR_NS)), EBADMSG);

  /* A past deadline joins a scope whose children have all finished. */
  weft_future *t;
  CHECK_RC(weft_scope_create(&s, rt), 0);
  CHECK_RC(weft_scope_spawn(s, child_ok, NULL, &t), 0);
  CHECK_RC(weft_await(t, NULL), 0);
  CHECK_RC(weft_future_release(t), 0);
  CHECK_AT_ONCE(weft_scope_join_until(s, 0), 0);

  CHECK_RC(weft_event_destroy(e), 0);
}

Test(deadline, scope, .timeout = 120) { from_both(sc_scope); leak_check(); }

/* ---- stress: random short deadlines against firing ------------------------------------
 *
 * Each party is a task (2 workers) or a plain thread; its deadlines are
 * weft_now() + [0, MAX_WAIT_NS), so some are already past, many expire
 * while a firer is at work. What must hold: nothing is done twice, nothing
 * is lost, and every object ends as if no call had timed out. */

#define MAX_WAIT_NS 300000ull

static uint64_t rand_deadline(uint64_t *rng) {
  return weft_now() + rng_next(rng) % MAX_WAIT_NS;
}

/* Runs fn(ctx, id) for ids 0..ntasks-1 as tasks of rt and ids
 * ntasks..ntasks+nthreads-1 on plain threads, and waits for all. */
typedef void (*party_fn)(void *ctx, int id);
struct party {
  party_fn fn;
  void *ctx;
  int id;
};
static void *party_main(void *p) {
  struct party *x = p;
  x->fn(x->ctx, x->id);
  return NULL;
}
static void run_parties(weft_runtime *rt, party_fn fn, void *ctx, int ntasks, int nthreads) {
  int n = ntasks + nthreads;
  struct party *ps = calloc((size_t)n, sizeof *ps);
  weft_future **ts = calloc((size_t)ntasks + 1, sizeof *ts);
  pthread_t *ths = calloc((size_t)nthreads + 1, sizeof *ths);
  cr_assert(ps && ts && ths);
  for (int i = 0; i < n; i++) ps[i] = (struct party){fn, ctx, i};
  for (int i = 0; i < ntasks; i++) ASSERT_RC(weft_runtime_spawn(rt, party_main, &ps[i], &ts[i]), 0);
  for (int i = 0; i < nthreads; i++) ths[i] = start_thread(party_main, &ps[ntasks + i]);
  for (int i = 0; i < ntasks; i++) await_task(ts[i]);
  for (int i = 0; i < nthreads; i++) cr_assert_eq(pthread_join(ths[i], NULL), 0);
  free(ps);
  free(ts);
  free(ths);
}

/* Channels and select: producers send items 1..n, each until it went in
 * (a timed-out send is retried: it must not have been delivered);
 * consumers receive until the channel is closed and drained. */
struct xfer {
  weft_chan *ch[2];
  int use_select;
  int nproducers;
  long nitems;
  uint64_t seed;
  atomic_int *seen;
  atomic_long received, timeouts;
  atomic_int producers_left;
};

static void xfer_produce(struct xfer *x, int id) {
  uint64_t rng = x->seed ^ (0x1000u + (unsigned)id);
  for (long i = id + 1; i <= x->nitems; i += x->nproducers) {
    for (;;) {
      int rc;
      if (x->use_select) {
        weft_select_op ops[] = {{x->ch[0], WEFT_SELECT_SEND, IP(i)},
                                {x->ch[1], WEFT_SELECT_SEND, IP(i)}};
        size_t k;
        rc = weft_select_until(ops, 2, 0, rand_deadline(&rng), &k);
        CHECK(rc == 0 ? k < 2 : k == 2, "rc %s index %zu", weft_err_name(rc), k);
      } else {
        rc = weft_chan_send_until(x->ch[0], IP(i), rand_deadline(&rng));
      }
      if (rc == 0) break;
      CHECK(rc == ETIMEDOUT, "send: %s (seed %llu)", weft_err_name(rc),
            (unsigned long long)x->seed);
      atomic_fetch_add(&x->timeouts, 1);
    }
  }
  if (atomic_fetch_sub(&x->producers_left, 1) == 1) {
    CHECK_RC(weft_chan_close(x->ch[0]), 0);
    if (x->use_select) CHECK_RC(weft_chan_close(x->ch[1]), 0);
  }
}

static void xfer_consume(struct xfer *x, int id) {
  uint64_t rng = x->seed ^ (0x2000u + (unsigned)id);
  int open[2] = {1, x->use_select};
  while (open[0] || open[1]) {
    void *v = NULL;
    int rc;
    size_t k = 0;
    if (x->use_select) {
      weft_select_op ops[] = {{open[0] ? x->ch[0] : NULL, WEFT_SELECT_RECV, NULL},
                              {open[1] ? x->ch[1] : NULL, WEFT_SELECT_RECV, NULL}};
      rc = weft_select_until(ops, 2, 0, rand_deadline(&rng), &k);
      if (k < 2) v = ops[k].value;
    } else {
      rc = weft_chan_recv_until(x->ch[0], rand_deadline(&rng), &v);
    }
    if (rc == ETIMEDOUT) {
      CHECK(v == NULL, "a timed-out receive got %p", v);
      atomic_fetch_add(&x->timeouts, 1);
      continue;
    }
    if (rc == WEFT_CLOSED) {
      open[k] = 0;
      continue;
    }
    CHECK(rc == 0, "receive: %s (seed %llu)", weft_err_name(rc), (unsigned long long)x->seed);
    long i = PI(v);
    CHECK(i >= 1 && i <= x->nitems, "item %ld", i);
    CHECK(atomic_fetch_add(&x->seen[i], 1) == 0, "item %ld received twice (seed %llu)", i,
          (unsigned long long)x->seed);
    atomic_fetch_add(&x->received, 1);
  }
}

/* Even ids produce, odd ids consume: with ids 0-3 tasks and 4, 5 threads,
 * each side is two tasks and a thread. */
static void xfer_party(void *ctx, int id) {
  struct xfer *x = ctx;
  if (id % 2 == 0)
    xfer_produce(x, id / 2);
  else
    xfer_consume(x, id / 2);
}

static void xfer_run(size_t cap, int use_select) {
  weft_runtime *rt = make_rt(2);
  struct xfer x;
  memset(&x, 0, sizeof x);
  x.use_select = use_select;
  x.nproducers = 3;
  x.nitems = SIZED(20000, 5000, 1500);
  x.seed = test_seed();
  x.seen = calloc((size_t)x.nitems + 1, sizeof *x.seen);
  cr_assert_not_null(x.seen);
  atomic_init(&x.received, 0);
  atomic_init(&x.timeouts, 0);
  atomic_init(&x.producers_left, 3);
  for (int c = 0; c < 1 + use_select; c++) ASSERT_RC(weft_chan_create(&x.ch[c], cap, 0), 0);
  run_parties(rt, xfer_party, &x, 4, 2);
  cr_assert_eq(atomic_load(&x.received), x.nitems, "received %ld of %ld (seed %llu)",
               atomic_load(&x.received), x.nitems, (unsigned long long)x.seed);
  for (long i = 1; i <= x.nitems; i++)
    cr_assert_eq(atomic_load(&x.seen[i]), 1, "item %ld seen %d times (seed %llu)", i,
                 atomic_load(&x.seen[i]), (unsigned long long)x.seed);
  cr_log_info("cap %zu select %d: %ld items, %ld timeouts (seed %llu)", cap, use_select, x.nitems,
              atomic_load(&x.timeouts), (unsigned long long)x.seed);
  for (int c = 0; c < 1 + use_select; c++) ASSERT_RC(weft_chan_destroy(x.ch[c]), 0);
  free(x.seen);
  ASSERT_RC(weft_runtime_destroy(rt), 0);
}

Test(deadline_stress, chan_unbuffered, .timeout = 300) { xfer_run(0, 0); leak_check(); }
Test(deadline_stress, chan_bounded, .timeout = 300) { xfer_run(4, 0); leak_check(); }
Test(deadline_stress, select_unbuffered, .timeout = 300) { xfer_run(0, 1); leak_check(); }
Test(deadline_stress, select_bounded, .timeout = 300) { xfer_run(2, 1); leak_check(); }

/* Mutex and semaphore: timed acquisitions racing hand-offs. Each party
 * needs `rounds` successful acquisitions; inside, a plain counter (TSan
 * checks the exclusion) and an occupancy count that must stay within the
 * bound. At the end the object is as new: unlocked, all units back. */
struct excl {
  weft_mutex *m;
  weft_sem *s;
  unsigned units;
  int rounds;
  uint64_t seed;
  long plain; /* under m (units == 1) */
  atomic_int inside;
  atomic_long timeouts;
};

static void excl_party(void *ctx, int id) {
  struct excl *x = ctx;
  uint64_t rng = x->seed ^ (0x3000u + (unsigned)id);
  for (int r = 0; r < x->rounds;) {
    int rc = x->m ? weft_mutex_lock_until(x->m, rand_deadline(&rng))
                  : weft_sem_acquire_until(x->s, rand_deadline(&rng));
    if (rc == ETIMEDOUT) {
      atomic_fetch_add(&x->timeouts, 1);
      continue;
    }
    CHECK(rc == 0, "acquire: %s (seed %llu)", weft_err_name(rc), (unsigned long long)x->seed);
    int in = atomic_fetch_add(&x->inside, 1) + 1;
    CHECK(in <= (int)x->units, "%d inside, bound %u (seed %llu)", in, x->units,
          (unsigned long long)x->seed);
    if (x->m) x->plain++;
    if (rng_next(&rng) % 4 == 0) weft_yield(); /* EPERM on a thread: fine */
    atomic_fetch_sub(&x->inside, 1);
    CHECK_RC(x->m ? weft_mutex_unlock(x->m) : weft_sem_release(x->s), 0);
    r++;
  }
}

static void excl_run(unsigned units) {
  weft_runtime *rt = make_rt(2);
  struct excl x;
  memset(&x, 0, sizeof x);
  x.units = units;
  x.rounds = SIZED(3000, 1000, 300);
  x.seed = test_seed();
  atomic_init(&x.inside, 0);
  atomic_init(&x.timeouts, 0);
  if (units == 1)
    ASSERT_RC(weft_mutex_create(&x.m), 0);
  else
    ASSERT_RC(weft_sem_create(&x.s, units), 0);
  run_parties(rt, excl_party, &x, 4, 2);
  if (x.m) {
    cr_assert_eq(x.plain, 6L * x.rounds, "counter %ld (seed %llu)", x.plain,
                 (unsigned long long)x.seed);
    ASSERT_RC(weft_mutex_trylock(x.m), 0); /* no timed-out waiter holds it */
    ASSERT_RC(weft_mutex_unlock(x.m), 0);
    ASSERT_RC(weft_mutex_destroy(x.m), 0);
  } else {
    cr_assert_eq(weft_sem_value(x.s), units, "%u units of %u back (seed %llu)",
                 weft_sem_value(x.s), units, (unsigned long long)x.seed);
    ASSERT_RC(weft_sem_destroy(x.s), 0);
  }
  cr_log_info("units %u: %ld timeouts (seed %llu)", units, atomic_load(&x.timeouts),
              (unsigned long long)x.seed);
  ASSERT_RC(weft_runtime_destroy(rt), 0);
}

Test(deadline_stress, mutex, .timeout = 300) { excl_run(1); leak_check(); }
Test(deadline_stress, sem, .timeout = 300) { excl_run(2); leak_check(); }

/* Condition variable: a queue under a mutex; consumers wait with random
 * deadlines (each timed-out wait must come back holding the mutex: the
 * queue is plain memory, TSan checks), producers signal. Every item is
 * taken exactly once. */
#define CQ_CAP 64
struct cq {
  weft_mutex *m;
  weft_cond *c;
  long buf[CQ_CAP];
  int head, count, producers_left;
  long nitems;
  int nproducers;
  uint64_t seed;
  atomic_int *seen;
  atomic_long timeouts;
};

/* Even ids produce, odd ids consume (as xfer_party). */
static void cq_party(void *ctx, int id) {
  struct cq *q = ctx;
  uint64_t rng = q->seed ^ (0x4000u + (unsigned)id);
  if (id % 2 == 0) {
    for (long i = id / 2 + 1; i <= q->nitems; i += q->nproducers) {
      CHECK_RC(weft_mutex_lock(q->m), 0);
      while (q->count == CQ_CAP) { /* full: wait for room, timed too */
        int rc = weft_cond_wait_until(q->c, q->m, rand_deadline(&rng));
        CHECK(rc == 0 || rc == ETIMEDOUT, "wait: %s", weft_err_name(rc));
      }
      q->buf[(q->head + q->count++) % CQ_CAP] = i;
      CHECK_RC(weft_cond_broadcast(q->c), 0);
      CHECK_RC(weft_mutex_unlock(q->m), 0);
    }
    CHECK_RC(weft_mutex_lock(q->m), 0);
    q->producers_left--;
    CHECK_RC(weft_cond_broadcast(q->c), 0);
    CHECK_RC(weft_mutex_unlock(q->m), 0);
    return;
  }
  CHECK_RC(weft_mutex_lock(q->m), 0);
  for (;;) {
    while (q->count == 0 && q->producers_left > 0) {
      int rc = weft_cond_wait_until(q->c, q->m, rand_deadline(&rng));
      if (rc == ETIMEDOUT) atomic_fetch_add(&q->timeouts, 1);
      else CHECK(rc == 0, "wait: %s", weft_err_name(rc));
    }
    if (q->count == 0) break; /* no producers left, drained */
    long i = q->buf[q->head];
    q->head = (q->head + 1) % CQ_CAP;
    q->count--;
    CHECK(atomic_fetch_add(&q->seen[i], 1) == 0, "item %ld twice (seed %llu)", i,
          (unsigned long long)q->seed);
    CHECK_RC(weft_cond_broadcast(q->c), 0); /* room for a producer */
  }
  CHECK_RC(weft_mutex_unlock(q->m), 0);
}

Test(deadline_stress, cond, .timeout = 300) {
  weft_runtime *rt = make_rt(2);
  struct cq q;
  memset(&q, 0, sizeof q);
  q.nproducers = 3;
  q.producers_left = 3;
  q.nitems = SIZED(20000, 5000, 1500);
  q.seed = test_seed();
  q.seen = calloc((size_t)q.nitems + 1, sizeof *q.seen);
  cr_assert_not_null(q.seen);
  atomic_init(&q.timeouts, 0);
  ASSERT_RC(weft_mutex_create(&q.m), 0);
  ASSERT_RC(weft_cond_create(&q.c), 0);
  run_parties(rt, cq_party, &q, 4, 2);
  for (long i = 1; i <= q.nitems; i++)
    cr_assert_eq(atomic_load(&q.seen[i]), 1, "item %ld seen %d times (seed %llu)", i,
                 atomic_load(&q.seen[i]), (unsigned long long)q.seed);
  cr_log_info("cond: %ld timeouts (seed %llu)", atomic_load(&q.timeouts),
              (unsigned long long)q.seed);
  ASSERT_RC(weft_cond_destroy(q.c), 0);
  ASSERT_RC(weft_mutex_destroy(q.m), 0);
  free(q.seen);
  ASSERT_RC(weft_runtime_destroy(rt), 0);
  leak_check();
}

/* Auto-reset event as a token: whoever's wait succeeds holds it and sets
 * the event to pass it on. A timed-out wait that swallowed a set would
 * lose the token (every party then times out for ever: the test's timeout
 * fails it); one that took a set without owning it would put two parties
 * inside at once. At the end exactly one set is left. */
struct token {
  weft_event *e;
  int rounds;
  uint64_t seed;
  atomic_int inside;
};

static void token_party(void *ctx, int id) {
  struct token *t = ctx;
  uint64_t rng = t->seed ^ (0x5000u + (unsigned)id);
  for (int r = 0; r < t->rounds;) {
    int rc = weft_event_wait_until(t->e, rand_deadline(&rng));
    if (rc == ETIMEDOUT) continue;
    CHECK(rc == 0, "wait: %s", weft_err_name(rc));
    CHECK(atomic_fetch_add(&t->inside, 1) == 0, "two token holders (seed %llu)",
          (unsigned long long)t->seed);
    atomic_fetch_sub(&t->inside, 1);
    CHECK_RC(weft_event_set(t->e), 0);
    r++;
  }
}

Test(deadline_stress, event_token, .timeout = 300) {
  weft_runtime *rt = make_rt(2);
  struct token t;
  t.rounds = SIZED(2000, 700, 200);
  t.seed = test_seed();
  atomic_init(&t.inside, 0);
  ASSERT_RC(weft_event_create(&t.e, WEFT_EVENT_AUTO_RESET), 0);
  ASSERT_RC(weft_event_set(t.e), 0);
  run_parties(rt, token_party, &t, 4, 2);
  ASSERT_RC(weft_event_try_wait(t.e), 0);
  ASSERT_RC(weft_event_try_wait(t.e), EAGAIN);
  ASSERT_RC(weft_event_destroy(t.e), 0);
  ASSERT_RC(weft_runtime_destroy(rt), 0);
  leak_check();
}
