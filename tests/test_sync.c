/* The coroutine-aware mutex, condition variable, semaphore, wait group and
 * event (weft/sync.h), black-box: mutual exclusion under contention from
 * tasks on several workers and plain threads together (the counter is a
 * plain variable: ThreadSanitizer checks the exclusion), FIFO handoff order
 * among waiters, producer/consumer over a condition variable with predicate
 * loops, the semaphore's bound, wait groups, the three kinds of event, and
 * cancellation of blocked waits (ECANCELED, nothing held or taken, the
 * object works afterwards). A lost wake-up hangs: each test's .timeout
 * turns that into a failure. No timing assertions.
 */
#include <errno.h>
#include <limits.h>
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

static unsigned wc3[] = {1, 2, 4};

/* ---- mutex ------------------------------------------------------------------------------- */

RT_TEST(mutex, misuse_and_trylock) {
  weft_mutex *m = NULL;
  ASSERT_RC(weft_mutex_create(NULL), EINVAL);
  ASSERT_RC(weft_mutex_lock(NULL), EINVAL);
  ASSERT_RC(weft_mutex_trylock(NULL), EINVAL);
  ASSERT_RC(weft_mutex_unlock(NULL), EINVAL);
  ASSERT_RC(weft_mutex_destroy(NULL), EINVAL);
  ASSERT_RC(weft_mutex_create(&m), 0);
  ASSERT_RC(weft_mutex_unlock(m), EPERM);
  ASSERT_RC(weft_mutex_trylock(m), 0);
  ASSERT_RC(weft_mutex_trylock(m), EBUSY);
  ASSERT_RC(weft_mutex_destroy(m), EBUSY);
  ASSERT_RC(weft_mutex_unlock(m), 0);
  ASSERT_RC(weft_mutex_lock(m), 0); /* uncontended, from a plain thread */
  ASSERT_RC(weft_mutex_unlock(m), 0);
  ASSERT_RC(weft_mutex_destroy(m), 0);
}

struct counter {
  weft_mutex *m;
  long value; /* plain: only touched under m */
  int iters;
};

static void *count_up(void *arg) {
  struct counter *c = arg;
  for (int i = 0; i < c->iters; i++) {
    CHECK_RC(weft_mutex_lock(c->m), 0);
    long v = c->value;
    if (i % 16 == 0 && weft_task_current()) weft_yield(); /* hold it across a suspension */
    c->value = v + 1;
    CHECK_RC(weft_mutex_unlock(c->m), 0);
  }
  return NULL;
}

#define COUNT_TASKS 8
#define COUNT_THREADS 2

static void *count_root(void *arg) {
  weft_future *t[COUNT_TASKS];
  for (int i = 0; i < COUNT_TASKS; i++) CHECK_RC(weft_spawn(count_up, arg, &t[i]), 0);
  for (int i = 0; i < COUNT_TASKS; i++) {
    CHECK_RC(weft_await(t[i], NULL), 0);
    weft_future_release(t[i]);
  }
  return NULL;
}

ParameterizedTestParameters(mutex, counter_tasks_and_threads) {
  return cr_make_param_array(unsigned, wc3, 3);
}
ParameterizedTest(unsigned *workers, mutex, counter_tasks_and_threads, .timeout = 120) {
  struct counter c = {NULL, 0, SIZED(20000, 4000, 400)};
  ASSERT_RC(weft_mutex_create(&c.m), 0);
  weft_runtime *rt = make_rt(*workers);
  pthread_t th[COUNT_THREADS];
  for (int i = 0; i < COUNT_THREADS; i++) th[i] = start_thread(count_up, &c);
  ASSERT_RC(weft_run_until_complete(rt, count_root, &c, NULL), 0);
  for (int i = 0; i < COUNT_THREADS; i++) pthread_join(th[i], NULL);
  ASSERT_RC(weft_runtime_destroy(rt), 0);
  cr_assert_eq(c.value, (long)(COUNT_TASKS + COUNT_THREADS) * c.iters);
  ASSERT_RC(weft_mutex_trylock(c.m), 0); /* left unlocked, nobody queued */
  ASSERT_RC(weft_mutex_unlock(c.m), 0);
  ASSERT_RC(weft_mutex_destroy(c.m), 0);
  leak_check();
}

/* FIFO handoff. On one worker, a task that takes a ticket and then calls
 * lock cannot be overtaken before it is queued (nothing suspends it in
 * between), so the queue's order is the ticket order, and the order in
 * which the waiters get the mutex must be exactly that. */
#define FIFO_N 24
struct fifo {
  weft_mutex *m;
  atomic_int tickets;
  int order[FIFO_N]; /* written under m */
  int pos;
};

static void *fifo_waiter(void *arg) {
  struct fifo *f = arg;
  int ticket = atomic_fetch_add(&f->tickets, 1);
  CHECK_RC(weft_mutex_lock(f->m), 0);
  f->order[f->pos++] = ticket;
  if (ticket % 3 == 0) weft_yield();
  CHECK_RC(weft_mutex_unlock(f->m), 0);
  return NULL;
}

RT_TEST(mutex, handoff_is_fifo_among_waiters, .timeout = 60) {
  weft_runtime *rt = make_rt(1);
  for (int round = 0; round < 3; round++) {
    struct fifo f;
    atomic_init(&f.tickets, 0);
    f.pos = 0;
    ASSERT_RC(weft_mutex_create(&f.m), 0);
    ASSERT_RC(weft_mutex_lock(f.m), 0); /* the main thread holds it */
    weft_future *t[FIFO_N];
    for (int i = 0; i < FIFO_N; i++) ASSERT_RC(weft_runtime_spawn(rt, fifo_waiter, &f, &t[i]), 0);
    wait_at_least(&f.tickets, FIFO_N);
    if (round) sleep_us(5000); /* round 0: unlock while the last may still be on its way */
    ASSERT_RC(weft_mutex_unlock(f.m), 0);
    for (int i = 0; i < FIFO_N; i++) await_task(t[i]);
    cr_assert_eq(f.pos, FIFO_N);
    for (int i = 0; i < FIFO_N; i++)
      cr_assert_eq(f.order[i], i, "round %d: acquisition %d went to ticket %d", round, i, f.order[i]);
    ASSERT_RC(weft_mutex_destroy(f.m), 0);
  }
  ASSERT_RC(weft_runtime_destroy(rt), 0);
}

/* ---- condition variable: producer / consumer with predicate loops ------------------------------- */

#define PC_CAP 4
struct pc {
  weft_mutex *m;
  weft_cond *not_full, *not_empty;
  long buf[PC_CAP];
  int head, count; /* under m */
  int producers_left;
  int per;
  atomic_uchar *seen;
  atomic_int next_id;
};

static void *pc_producer(void *arg) {
  struct pc *p = arg;
  int id = atomic_fetch_add(&p->next_id, 1);
  for (int i = 0; i < p->per; i++) {
    CHECK_RC(weft_mutex_lock(p->m), 0);
    while (p->count == PC_CAP) CHECK_RC(weft_cond_wait(p->not_full, p->m), 0);
    p->buf[(p->head + p->count++) % PC_CAP] = (long)id * p->per + i;
    if (i & 1)
      CHECK_RC(weft_cond_signal(p->not_empty), 0);
    else
      CHECK_RC(weft_cond_broadcast(p->not_empty), 0);
    CHECK_RC(weft_mutex_unlock(p->m), 0);
  }
  CHECK_RC(weft_mutex_lock(p->m), 0);
  if (--p->producers_left == 0) CHECK_RC(weft_cond_broadcast(p->not_empty), 0);
  CHECK_RC(weft_mutex_unlock(p->m), 0);
  return NULL;
}

static void *pc_consumer(void *arg) {
  struct pc *p = arg;
  for (;;) {
    CHECK_RC(weft_mutex_lock(p->m), 0);
    while (p->count == 0 && p->producers_left > 0) CHECK_RC(weft_cond_wait(p->not_empty, p->m), 0);
    if (p->count == 0) { /* no producer left, nothing buffered */
      CHECK_RC(weft_mutex_unlock(p->m), 0);
      return NULL;
    }
    long v = p->buf[p->head];
    p->head = (p->head + 1) % PC_CAP;
    p->count--;
    CHECK_RC(weft_cond_signal(p->not_full), 0);
    CHECK_RC(weft_mutex_unlock(p->m), 0);
    CHECK(atomic_fetch_add(&p->seen[v], 1) == 0, "item %ld consumed twice", v);
  }
}

#define PC_TASKS 3 /* producers and consumers each, as tasks */
#define PC_THREADS 1 /* and as threads */

static void *pc_root(void *arg) {
  weft_future *t[2 * PC_TASKS];
  for (int i = 0; i < PC_TASKS; i++) {
    CHECK_RC(weft_spawn(pc_consumer, arg, &t[2 * i]), 0);
    CHECK_RC(weft_spawn(pc_producer, arg, &t[2 * i + 1]), 0);
  }
  for (int i = 0; i < 2 * PC_TASKS; i++) {
    CHECK_RC(weft_await(t[i], NULL), 0);
    weft_future_release(t[i]);
  }
  return NULL;
}

ParameterizedTestParameters(cond, producer_consumer_with_predicate_loops) {
  return cr_make_param_array(unsigned, wc3, 3);
}
ParameterizedTest(unsigned *workers, cond, producer_consumer_with_predicate_loops, .timeout = 120) {
  struct pc p;
  memset(&p, 0, sizeof p);
  p.per = SIZED(4000, 1000, 150);
  p.producers_left = PC_TASKS + PC_THREADS;
  int total = (PC_TASKS + PC_THREADS) * p.per;
  p.seen = calloc((size_t)total, 1);
  atomic_init(&p.next_id, 0);
  ASSERT_RC(weft_mutex_create(&p.m), 0);
  ASSERT_RC(weft_cond_create(&p.not_full), 0);
  ASSERT_RC(weft_cond_create(&p.not_empty), 0);
  weft_runtime *rt = make_rt(*workers);
  pthread_t th[2 * PC_THREADS];
  for (int i = 0; i < PC_THREADS; i++) {
    th[2 * i] = start_thread(pc_producer, &p);
    th[2 * i + 1] = start_thread(pc_consumer, &p);
  }
  ASSERT_RC(weft_run_until_complete(rt, pc_root, &p, NULL), 0);
  for (int i = 0; i < 2 * PC_THREADS; i++) pthread_join(th[i], NULL);
  ASSERT_RC(weft_runtime_destroy(rt), 0);
  for (int i = 0; i < total; i++) cr_assert_eq(atomic_load(&p.seen[i]), 1, "item %d", i);
  ASSERT_RC(weft_cond_destroy(p.not_full), 0);
  ASSERT_RC(weft_cond_destroy(p.not_empty), 0);
  ASSERT_RC(weft_mutex_destroy(p.m), 0);
  free(p.seen);
  leak_check();
}

RT_TEST(cond, misuse) {
  weft_cond *c;
  weft_mutex *m;
  ASSERT_RC(weft_cond_create(NULL), EINVAL);
  ASSERT_RC(weft_cond_create(&c), 0);
  ASSERT_RC(weft_mutex_create(&m), 0);
  ASSERT_RC(weft_cond_wait(NULL, m), EINVAL);
  ASSERT_RC(weft_cond_wait(c, NULL), EINVAL);
  ASSERT_RC(weft_cond_wait(c, m), EPERM); /* m is not locked */
  ASSERT_RC(weft_cond_signal(NULL), EINVAL);
  ASSERT_RC(weft_cond_broadcast(NULL), EINVAL);
  ASSERT_RC(weft_cond_signal(c), 0); /* nobody waits: nothing happens */
  ASSERT_RC(weft_cond_broadcast(c), 0);
  ASSERT_RC(weft_cond_destroy(NULL), EINVAL);
  ASSERT_RC(weft_cond_destroy(c), 0);
  ASSERT_RC(weft_mutex_destroy(m), 0);
}

/* ---- semaphore ------------------------------------------------------------------------------- */

struct sembound {
  weft_sem *s;
  atomic_int inside, max_inside;
  int iters;
};

static void *sem_user(void *arg) {
  struct sembound *b = arg;
  for (int i = 0; i < b->iters; i++) {
    CHECK_RC(weft_sem_acquire(b->s), 0);
    int in = atomic_fetch_add(&b->inside, 1) + 1;
    int mx = atomic_load(&b->max_inside);
    while (in > mx && !atomic_compare_exchange_weak(&b->max_inside, &mx, in)) {
    }
    if (weft_task_current()) weft_yield();
    atomic_fetch_sub(&b->inside, 1);
    CHECK_RC(weft_sem_release(b->s), 0);
  }
  return NULL;
}

static void *sem_root(void *arg) {
  weft_future *t[8];
  for (int i = 0; i < 8; i++) CHECK_RC(weft_spawn(sem_user, arg, &t[i]), 0);
  for (int i = 0; i < 8; i++) {
    CHECK_RC(weft_await(t[i], NULL), 0);
    weft_future_release(t[i]);
  }
  return NULL;
}

ParameterizedTestParameters(sem, bounds_concurrency) { return cr_make_param_array(unsigned, wc3, 3); }
ParameterizedTest(unsigned *workers, sem, bounds_concurrency, .timeout = 120) {
  struct sembound b;
  atomic_init(&b.inside, 0);
  atomic_init(&b.max_inside, 0);
  b.iters = SIZED(3000, 600, 100);
  ASSERT_RC(weft_sem_create(&b.s, 3), 0);
  weft_runtime *rt = make_rt(*workers);
  pthread_t th = start_thread(sem_user, &b);
  ASSERT_RC(weft_run_until_complete(rt, sem_root, &b, NULL), 0);
  pthread_join(th, NULL);
  ASSERT_RC(weft_runtime_destroy(rt), 0);
  cr_expect_leq(atomic_load(&b.max_inside), 3);
  cr_expect_eq(weft_sem_value(b.s), 3);
  ASSERT_RC(weft_sem_destroy(b.s), 0);
  leak_check();
}

RT_TEST(sem, try_acquire_and_overflow) {
  weft_sem *s;
  ASSERT_RC(weft_sem_create(NULL, 1), EINVAL);
  ASSERT_RC(weft_sem_create(&s, 2), 0);
  ASSERT_RC(weft_sem_try_acquire(s), 0);
  ASSERT_RC(weft_sem_acquire(s), 0);
  ASSERT_RC(weft_sem_try_acquire(s), EAGAIN);
  cr_expect_eq(weft_sem_value(s), 0);
  ASSERT_RC(weft_sem_release(s), 0);
  cr_expect_eq(weft_sem_value(s), 1);
  ASSERT_RC(weft_sem_destroy(s), 0);
  ASSERT_RC(weft_sem_create(&s, UINT_MAX), 0);
  ASSERT_RC(weft_sem_release(s), EOVERFLOW);
  cr_expect_eq(weft_sem_value(s), UINT_MAX);
  ASSERT_RC(weft_sem_destroy(s), 0);
  ASSERT_RC(weft_sem_acquire(NULL), EINVAL);
  ASSERT_RC(weft_sem_release(NULL), EINVAL);
  cr_expect_eq(weft_sem_value(NULL), 0);
}

/* ---- wait group ------------------------------------------------------------------------------- */

struct wgtest {
  weft_waitgroup *wg;
  atomic_int finished;
};

static void *wg_worker(void *arg) {
  struct wgtest *w = arg;
  weft_yield();
  atomic_fetch_add(&w->finished, 1);
  CHECK_RC(weft_waitgroup_done(w->wg), 0);
  return NULL;
}

static void *wg_waiter(void *arg) {
  struct wgtest *w = arg;
  CHECK_RC(weft_waitgroup_wait(w->wg), 0);
  return IP(atomic_load(&w->finished));
}

static void *wg_root(void *arg) {
  struct wgtest *w = arg;
  enum { N = 50 };
  for (int round = 0; round < 3; round++) {
    atomic_store(&w->finished, 0);
    CHECK_RC(weft_waitgroup_add(w->wg, N), 0);
    weft_future *waiter;
    CHECK_RC(weft_spawn(wg_waiter, w, &waiter), 0); /* a second waiter, as a task */
    for (int i = 0; i < N; i++) CHECK_RC(weft_spawn(wg_worker, w, NULL), 0);
    CHECK_RC(weft_waitgroup_wait(w->wg), 0);
    CHECK(atomic_load(&w->finished) == N, "wait returned with %d of %d done", atomic_load(&w->finished), N);
    void *seen;
    CHECK_RC(weft_await(waiter, &seen), 0);
    CHECK(PI(seen) == N, "the other waiter saw %ld done", (long)PI(seen));
    weft_future_release(waiter);
  }
  return NULL;
}

ParameterizedTestParameters(waitgroup, add_done_wait_in_rounds) { return cr_make_param_array(unsigned, wc3, 3); }
ParameterizedTest(unsigned *workers, waitgroup, add_done_wait_in_rounds, .timeout = 60) {
  struct wgtest w;
  atomic_init(&w.finished, 0);
  ASSERT_RC(weft_waitgroup_create(&w.wg), 0);
  ASSERT_RC(weft_waitgroup_wait(w.wg), 0); /* zero: returns at once */
  weft_runtime *rt = make_rt(*workers);
  ASSERT_RC(weft_run_until_complete(rt, wg_root, &w, NULL), 0);
  /* A plain thread waits while tasks finish the work. */
  ASSERT_RC(weft_waitgroup_add(w.wg, 10), 0);
  atomic_store(&w.finished, 0);
  for (int i = 0; i < 10; i++) ASSERT_RC(weft_runtime_spawn(rt, wg_worker, &w, NULL), 0);
  ASSERT_RC(weft_waitgroup_wait(w.wg), 0);
  cr_expect_eq(atomic_load(&w.finished), 10);
  ASSERT_RC(weft_runtime_destroy(rt), 0);
  ASSERT_RC(weft_waitgroup_destroy(w.wg), 0);
  leak_check();
}

/* A waiter that sees the count reach zero may destroy the group at once,
 * while the last done() is still returning (sync.h). It was freed under
 * that done() while the change to zero came before the done() took the
 * lock (found in review: ASan's heap-use-after-free in weft__wake_all).
 * Plain threads: one calls done; main polls, then destroys. */
static void *wg_done_thread(void *arg) {
  CHECK_RC(weft_waitgroup_done(arg), 0);
  return NULL;
}

RT_TEST(waitgroup, destroyed_by_a_waiter_while_done_returns, .timeout = 120) {
  int rounds = SIZED(20000, 20000, 3000);
  for (int r = 0; r < rounds; r++) {
    weft_waitgroup *wg;
    ASSERT_RC(weft_waitgroup_create(&wg), 0);
    ASSERT_RC(weft_waitgroup_add(wg, 1), 0);
    pthread_t t = start_thread(wg_done_thread, wg);
    while (weft_waitgroup_wait_until(wg, 0) != 0) {
    }
    ASSERT_RC(weft_waitgroup_destroy(wg), 0);
    pthread_join(t, NULL);
  }
}

RT_TEST(waitgroup, misuse) {
  weft_waitgroup *wg;
  ASSERT_RC(weft_waitgroup_create(NULL), EINVAL);
  ASSERT_RC(weft_waitgroup_create(&wg), 0);
  ASSERT_RC(weft_waitgroup_done(wg), EINVAL); /* below zero: nothing changes */
  ASSERT_RC(weft_waitgroup_add(wg, 2), 0);
  ASSERT_RC(weft_waitgroup_add(wg, -3), EINVAL);
  ASSERT_RC(weft_waitgroup_add(wg, LONG_MAX), EOVERFLOW);
  ASSERT_RC(weft_waitgroup_add(wg, -2), 0);
  ASSERT_RC(weft_waitgroup_wait(wg), 0);
  ASSERT_RC(weft_waitgroup_add(NULL, 1), EINVAL);
  ASSERT_RC(weft_waitgroup_wait(NULL), EINVAL);
  ASSERT_RC(weft_waitgroup_destroy(wg), 0);
}

/* ---- event ------------------------------------------------------------------------------------ */

struct evtest {
  weft_event *e;
  atomic_int started, woken;
};

static void *ev_waiter(void *arg) {
  struct evtest *t = arg;
  atomic_fetch_add(&t->started, 1);
  int rc = weft_event_wait(t->e);
  atomic_fetch_add(&t->woken, 1);
  return IP(rc);
}

RT_TEST(event, manual_and_oneshot_wake_everyone, .timeout = 60) {
  weft_runtime *rt = make_rt(2);
  for (int oneshot = 0; oneshot < 2; oneshot++) {
    struct evtest t;
    atomic_init(&t.started, 0);
    atomic_init(&t.woken, 0);
    ASSERT_RC(weft_event_create(&t.e, oneshot ? WEFT_EVENT_ONESHOT : 0), 0);
    ASSERT_RC(weft_event_try_wait(t.e), EAGAIN);
    /* More waiters than one wake batch (WEFT__WAKE_BATCH, 32): a set
     * wakes them in three batches, re-locking between them. */
    enum { NT = 70, NTH = 2 };
    weft_future *tk[NT];
    pthread_t th[NTH];
    for (int i = 0; i < NT; i++) ASSERT_RC(weft_runtime_spawn(rt, ev_waiter, &t, &tk[i]), 0);
    for (int i = 0; i < NTH; i++) th[i] = start_thread(ev_waiter, &t);
    wait_at_least(&t.started, NT + NTH);
    sleep_us(5000);
    cr_expect_eq(atomic_load(&t.woken), 0, "woken before the set");
    ASSERT_RC(weft_event_set(t.e), 0);
    for (int i = 0; i < NT; i++) cr_expect_eq(await_task(tk[i]), 0);
    for (int i = 0; i < NTH; i++) pthread_join(th[i], NULL);
    cr_expect_eq(atomic_load(&t.woken), NT + NTH);
    /* Set: waits return at once, and keep doing so. */
    ASSERT_RC(weft_event_wait(t.e), 0);
    ASSERT_RC(weft_event_try_wait(t.e), 0);
    ASSERT_RC(weft_event_set(t.e), 0);
    if (oneshot) {
      ASSERT_RC(weft_event_reset(t.e), EPERM);
      ASSERT_RC(weft_event_try_wait(t.e), 0);
    } else {
      ASSERT_RC(weft_event_reset(t.e), 0);
      ASSERT_RC(weft_event_try_wait(t.e), EAGAIN);
    }
    ASSERT_RC(weft_event_destroy(t.e), 0);
  }
  ASSERT_RC(weft_runtime_destroy(rt), 0);
}

RT_TEST(event, auto_reset_releases_one_per_set, .timeout = 60) {
  weft_runtime *rt = make_rt(2);
  struct evtest t;
  atomic_init(&t.started, 0);
  atomic_init(&t.woken, 0);
  ASSERT_RC(weft_event_create(&t.e, WEFT_EVENT_AUTO_RESET), 0);
  /* No waiter: the set is kept for the next wait, once. */
  ASSERT_RC(weft_event_set(t.e), 0);
  ASSERT_RC(weft_event_set(t.e), 0); /* already set: no change */
  ASSERT_RC(weft_event_try_wait(t.e), 0);
  ASSERT_RC(weft_event_try_wait(t.e), EAGAIN);
  enum { NT = 6 };
  weft_future *tk[NT];
  for (int i = 0; i < NT; i++) ASSERT_RC(weft_runtime_spawn(rt, ev_waiter, &t, &tk[i]), 0);
  wait_at_least(&t.started, NT);
  for (int i = 1; i <= NT; i++) {
    ASSERT_RC(weft_event_set(t.e), 0);
    wait_at_least(&t.woken, i); /* each set lets exactly one through... */
    sleep_us(1000);
    cr_assert_eq(atomic_load(&t.woken), i, "set %d woke %d", i, atomic_load(&t.woken));
  }
  for (int i = 0; i < NT; i++) cr_expect_eq(await_task(tk[i]), 0);
  ASSERT_RC(weft_event_try_wait(t.e), EAGAIN); /* ... and consumed itself */
  ASSERT_RC(weft_event_destroy(t.e), 0);
  ASSERT_RC(weft_runtime_destroy(rt), 0);
}

RT_TEST(event, misuse) {
  weft_event *e;
  ASSERT_RC(weft_event_create(NULL, 0), EINVAL);
  ASSERT_RC(weft_event_create(&e, WEFT_EVENT_ONESHOT | WEFT_EVENT_AUTO_RESET), EINVAL);
  ASSERT_RC(weft_event_create(&e, 8), EINVAL);
  ASSERT_RC(weft_event_set(NULL), EINVAL);
  ASSERT_RC(weft_event_reset(NULL), EINVAL);
  ASSERT_RC(weft_event_wait(NULL), EINVAL);
  ASSERT_RC(weft_event_try_wait(NULL), EINVAL);
  ASSERT_RC(weft_event_destroy(NULL), EINVAL);
}

/* A set whose second batch leaves (cancelled) while the setter wakes its
 * first: the last waiter out destroys the event, and its destroy must
 * return 0 — after waiting, if need be, for the setter to take the lock
 * back and finish (waitq.h, weft__wq_batch_pause). 40 waiters: a batch of
 * 32 and 8 left queued; a thread cancels every waiter as soon as the first
 * woken one returns. Here about one round in ten finds the second batch
 * with nobody to wake (all 8 cancelled before the setter's re-lock). A setter
 * that does not end its pause hangs the destroy (the test's timeout). A
 * destroy that does not wait for the pause frees the event under the
 * setter's re-lock only if the setter stalls between its last wake-up
 * and that re-lock: no round here has been seen to hit that window. */
#define EVD_N 40

struct evdestroy {
  weft_event *e;
  weft_future *tk[EVD_N];
  atomic_int started, returned, first, destroy_rc, bad;
};

static void *evd_waiter(void *arg) {
  struct evdestroy *d = arg;
  atomic_fetch_add(&d->started, 1);
  int rc = weft_event_wait(d->e);
  if (rc != 0 && rc != ECANCELED) atomic_store(&d->bad, rc);
  if (rc == 0) atomic_store(&d->first, 1);
  if (atomic_fetch_add(&d->returned, 1) == EVD_N - 1)
    atomic_store(&d->destroy_rc, weft_event_destroy(d->e));
  return NULL;
}

static void *evd_canceller(void *arg) {
  struct evdestroy *d = arg;
  while (!atomic_load(&d->first)) {
  }
  for (int i = EVD_N; i-- > 0;) weft_cancel(d->tk[i]); /* the last queued first */
  return NULL;
}

RT_TEST(event, last_waiter_out_destroys_while_a_set_is_cancelled, .timeout = 120) {
  weft_runtime *rt = make_rt(2);
  int rounds = SIZED(300, 100, 40);
  for (int r = 0; r < rounds; r++) {
    struct evdestroy d;
    memset(&d, 0, sizeof d);
    atomic_store(&d.destroy_rc, -1);
    ASSERT_RC(weft_event_create(&d.e, 0), 0);
    for (int i = 0; i < EVD_N; i++) ASSERT_RC(weft_runtime_spawn(rt, evd_waiter, &d, &d.tk[i]), 0);
    wait_at_least(&d.started, EVD_N);
    sleep_us(500); /* all queued, most likely */
    pthread_t c = start_thread(evd_canceller, &d);
    ASSERT_RC(weft_event_set(d.e), 0);
    for (int i = 0; i < EVD_N; i++) ASSERT_RC(weft_await(d.tk[i], NULL), 0);
    pthread_join(c, NULL); /* done cancelling: the handles can go */
    for (int i = 0; i < EVD_N; i++) ASSERT_RC(weft_future_release(d.tk[i]), 0);
    cr_assert_eq(atomic_load(&d.bad), 0, "a wait returned %d", atomic_load(&d.bad));
    cr_assert_eq(atomic_load(&d.destroy_rc), 0, "the last waiter's destroy: %d",
                 atomic_load(&d.destroy_rc));
  }
  ASSERT_RC(weft_runtime_destroy(rt), 0);
}

/* ---- cancellation ----------------------------------------------------------------------------- */

enum { W_LOCK, W_COND, W_SEM, W_WG, W_EVENT, W_AUTO_EVENT, W_KINDS };

struct blocked {
  int kind;
  weft_mutex *m;
  weft_cond *c;
  weft_sem *s;
  weft_waitgroup *wg;
  weft_event *e;
  atomic_int started;
};

static void *blocked_wait(void *arg) {
  struct blocked *b = arg;
  int rc = -1;
  switch (b->kind) {
    case W_LOCK:
      atomic_fetch_add(&b->started, 1);
      rc = weft_mutex_lock(b->m);
      if (rc == 0) weft_mutex_unlock(b->m);
      break;
    case W_COND:
      CHECK_RC(weft_mutex_lock(b->m), 0);
      atomic_fetch_add(&b->started, 1);
      rc = weft_cond_wait(b->c, b->m);
      /* Whatever it returned, the mutex is ours again. */
      CHECK_RC(weft_mutex_trylock(b->m), EBUSY);
      CHECK_RC(weft_mutex_unlock(b->m), 0);
      break;
    case W_SEM:
      atomic_fetch_add(&b->started, 1);
      rc = weft_sem_acquire(b->s);
      break;
    case W_WG:
      atomic_fetch_add(&b->started, 1);
      rc = weft_waitgroup_wait(b->wg);
      break;
    default:
      atomic_fetch_add(&b->started, 1);
      rc = weft_event_wait(b->e);
      break;
  }
  return IP(rc);
}

/* A task blocked in each kind of wait is cancelled: ECANCELED, and the
 * object behaves afterwards as if it had never waited. */
RT_TEST(cancel, blocked_waits_return_ecanceled, .timeout = 60) {
  weft_runtime *rt = make_rt(2);
  for (int kind = 0; kind < W_KINDS; kind++) {
    struct blocked b;
    memset(&b, 0, sizeof b);
    b.kind = kind;
    atomic_init(&b.started, 0);
    ASSERT_RC(weft_mutex_create(&b.m), 0);
    ASSERT_RC(weft_cond_create(&b.c), 0);
    ASSERT_RC(weft_sem_create(&b.s, 0), 0);
    ASSERT_RC(weft_waitgroup_create(&b.wg), 0);
    ASSERT_RC(weft_waitgroup_add(b.wg, 1), 0);
    ASSERT_RC(weft_event_create(&b.e, kind == W_AUTO_EVENT ? WEFT_EVENT_AUTO_RESET : 0), 0);
    if (kind == W_LOCK) ASSERT_RC(weft_mutex_lock(b.m), 0); /* held by the main thread */
    weft_future *t;
    ASSERT_RC(weft_runtime_spawn(rt, blocked_wait, &b, &t), 0);
    wait_at_least(&b.started, 1);
    sleep_us(5000);
    ASSERT_RC(weft_cancel(t), 0);
    cr_expect_eq(await_task(t), ECANCELED, "kind %d", kind);
    switch (kind) {
      case W_LOCK: /* not handed to the cancelled waiter: unlocking frees it */
        ASSERT_RC(weft_mutex_unlock(b.m), 0);
        ASSERT_RC(weft_mutex_trylock(b.m), 0);
        ASSERT_RC(weft_mutex_unlock(b.m), 0);
        break;
      case W_SEM: /* the unit goes into the semaphore, not to the cancelled waiter */
        ASSERT_RC(weft_sem_release(b.s), 0);
        cr_expect_eq(weft_sem_value(b.s), 1);
        break;
      case W_AUTO_EVENT: /* the set is kept for the next waiter */
        ASSERT_RC(weft_event_set(b.e), 0);
        ASSERT_RC(weft_event_try_wait(b.e), 0);
        break;
      default:
        break;
    }
    /* Nobody is left waiting in any of them. */
    ASSERT_RC(weft_waitgroup_done(b.wg), 0);
    ASSERT_RC(weft_mutex_destroy(b.m), 0);
    ASSERT_RC(weft_cond_destroy(b.c), 0);
    ASSERT_RC(weft_sem_destroy(b.s), 0);
    ASSERT_RC(weft_waitgroup_destroy(b.wg), 0);
    ASSERT_RC(weft_event_destroy(b.e), 0);
  }
  ASSERT_RC(weft_runtime_destroy(rt), 0);
}

/* Lockers and semaphore users cancelled at random: every successful lock
 * was counted once, the mutex ends free, and no semaphore unit is lost. */
struct cstress {
  weft_mutex *m;
  weft_sem *s;
  long counter;     /* under m */
  atomic_long locks; /* successful locks */
  int iters;
  weft_future *tasks[16];
  atomic_int started;
  uint64_t seed;
};

static void *cs_locker(void *arg) {
  struct cstress *c = arg;
  atomic_fetch_add(&c->started, 1);
  for (int i = 0; i < c->iters; i++) {
    int rc = weft_mutex_lock(c->m);
    if (rc == ECANCELED) break;
    CHECK_RC(rc, 0);
    atomic_fetch_add(&c->locks, 1);
    c->counter++;
    if (i % 4 == 0) weft_yield();
    CHECK_RC(weft_mutex_unlock(c->m), 0);
    rc = weft_sem_acquire(c->s);
    if (rc == ECANCELED) break;
    CHECK_RC(rc, 0);
    weft_yield();
    CHECK_RC(weft_sem_release(c->s), 0);
  }
  return NULL;
}

static void *cs_canceller(void *arg) {
  struct cstress *c = arg;
  uint64_t seed = c->seed;
  while (atomic_load(&c->started) < 16) weft_yield();
  for (int i = 0; i < 12; i++) {
    for (int k = (int)(rng_next(&seed) % 30); k > 0; k--) weft_yield();
    weft_cancel(c->tasks[rng_next(&seed) % 16]);
  }
  return NULL;
}

static void *cs_root(void *arg) {
  struct cstress *c = arg;
  for (int i = 0; i < 16; i++) CHECK_RC(weft_spawn(cs_locker, c, &c->tasks[i]), 0);
  weft_future *k;
  CHECK_RC(weft_spawn(cs_canceller, c, &k), 0);
  CHECK_RC(weft_await(k, NULL), 0);
  weft_future_release(k);
  for (int i = 0; i < 16; i++) {
    (void)weft_await(c->tasks[i], NULL);
    weft_future_release(c->tasks[i]);
  }
  return NULL;
}

ParameterizedTestParameters(cancel, lockers_cancelled_at_random) { return cr_make_param_array(unsigned, wc3, 3); }
ParameterizedTest(unsigned *workers, cancel, lockers_cancelled_at_random, .timeout = 120) {
  struct cstress c;
  memset(&c, 0, sizeof c);
  c.iters = SIZED(2000, 400, 60);
  c.seed = test_seed();
  cr_log_info("seed %llu (WEFT_TEST_SEED)", (unsigned long long)c.seed);
  atomic_init(&c.locks, 0);
  atomic_init(&c.started, 0);
  ASSERT_RC(weft_mutex_create(&c.m), 0);
  ASSERT_RC(weft_sem_create(&c.s, 2), 0);
  weft_runtime *rt = make_rt(*workers);
  ASSERT_RC(weft_run_until_complete(rt, cs_root, &c, NULL), 0);
  ASSERT_RC(weft_runtime_destroy(rt), 0);
  cr_expect_eq(c.counter, atomic_load(&c.locks));
  ASSERT_RC(weft_mutex_trylock(c.m), 0);
  ASSERT_RC(weft_mutex_unlock(c.m), 0);
  cr_expect_eq(weft_sem_value(c.s), 2, "semaphore units lost or made");
  ASSERT_RC(weft_mutex_destroy(c.m), 0);
  ASSERT_RC(weft_sem_destroy(c.s), 0);
  leak_check();
}

/* A condition wait cancelled at random while others signal: every wait
 * returns with the mutex held (checked inside), nothing hangs. */
struct ccancel {
  weft_mutex *m;
  weft_cond *c;
  int stop; /* under m */
  weft_future *tasks[8];
};

static void *cc_waiter(void *arg) {
  struct ccancel *c = arg;
  CHECK_RC(weft_mutex_lock(c->m), 0);
  while (!c->stop) {
    int rc = weft_cond_wait(c->c, c->m);
    CHECK(rc == 0 || rc == ECANCELED, "cond wait: %s", weft_err_name(rc));
    CHECK_RC(weft_mutex_trylock(c->m), EBUSY);
    if (rc == ECANCELED) break;
  }
  CHECK_RC(weft_mutex_unlock(c->m), 0);
  return NULL;
}

static void *cc_root(void *arg) {
  struct ccancel *c = arg;
  for (int i = 0; i < 8; i++) CHECK_RC(weft_spawn(cc_waiter, c, &c->tasks[i]), 0);
  for (int r = 0; r < SIZED(2000, 500, 100); r++) {
    if (r % 97 == 5) weft_cancel(c->tasks[(r / 97) % 8]);
    CHECK_RC(weft_mutex_lock(c->m), 0);
    if (r & 1)
      CHECK_RC(weft_cond_signal(c->c), 0);
    else
      CHECK_RC(weft_cond_broadcast(c->c), 0);
    CHECK_RC(weft_mutex_unlock(c->m), 0);
    weft_yield();
  }
  CHECK_RC(weft_mutex_lock(c->m), 0);
  c->stop = 1;
  CHECK_RC(weft_cond_broadcast(c->c), 0);
  CHECK_RC(weft_mutex_unlock(c->m), 0);
  for (int i = 0; i < 8; i++) {
    (void)weft_await(c->tasks[i], NULL);
    weft_future_release(c->tasks[i]);
  }
  return NULL;
}

RT_TEST(cancel, cond_waiters_cancelled_while_signalled, .timeout = 120) {
  for (unsigned w = 1; w <= 2; w++) {
    struct ccancel c;
    memset(&c, 0, sizeof c);
    ASSERT_RC(weft_mutex_create(&c.m), 0);
    ASSERT_RC(weft_cond_create(&c.c), 0);
    weft_runtime *rt = make_rt(w);
    ASSERT_RC(weft_run_until_complete(rt, cc_root, &c, NULL), 0);
    ASSERT_RC(weft_runtime_destroy(rt), 0);
    ASSERT_RC(weft_cond_destroy(c.c), 0);
    ASSERT_RC(weft_mutex_destroy(c.m), 0);
  }
}
