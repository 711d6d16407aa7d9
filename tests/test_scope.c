/* Scopes (weft/scope.h), black-box: join waits for every child (also those
 * that children spawn), the first failure cancels the siblings wherever
 * they are blocked (channel, mutex, semaphore, event, select), explicit
 * cancel and fail, nested scopes, children that outlive an await of the
 * parent, a parent cancelled while it joins, a child cancelled before it
 * ever ran, scopes used from a plain thread, and misuse. No timing
 * assertions: sleeps only make it likely that children are blocked.
 */
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

static unsigned wc3[] = {1, 2, 4};

/* ---- basics ----------------------------------------------------------------------------- */

struct basic {
  weft_scope *s;
  atomic_int ran;
  atomic_int depth_left_spawns;
};

static int basic_child(void *arg) {
  struct basic *b = arg;
  atomic_fetch_add(&b->ran, 1);
  weft_yield();
  return 0;
}

/* A child that spawns two more children into its own scope, down a tree. */
struct tree {
  weft_scope *s;
  int depth;
  atomic_int *count;
};

static int tree_child(void *arg) {
  struct tree *t = arg;
  atomic_fetch_add(t->count, 1);
  if (t->depth > 0) {
    for (int i = 0; i < 2; i++) {
      struct tree *c = malloc(sizeof *c);
      CHECK(c != NULL, "malloc");
      *c = (struct tree){t->s, t->depth - 1, t->count};
      CHECK_RC(weft_scope_spawn(t->s, tree_child, c, NULL), 0);
    }
  }
  free(t);
  weft_yield();
  return 0;
}

static void *basic_root(void *arg) {
  struct basic *b = arg;
  CHECK_RC(weft_scope_create(&b->s, NULL), 0);
  weft_future *first;
  CHECK_RC(weft_scope_spawn(b->s, basic_child, b, &first), 0);
  for (int i = 1; i < 20; i++) CHECK_RC(weft_scope_spawn(b->s, basic_child, b, NULL), 0);
  CHECK_RC(weft_scope_join(b->s), 0);
  CHECK(atomic_load(&b->ran) == 20, "join returned with %d of 20 children run", atomic_load(&b->ran));
  void *v = IP(1);
  CHECK_RC(weft_future_result(first, &v), 0); /* settled, and its value is the status */
  CHECK(v == NULL, "status %ld", (long)PI(v));
  weft_future_release(first);

  /* Children spawning children, while the join waits. */
  atomic_int count;
  atomic_init(&count, 0);
  weft_scope *s;
  CHECK_RC(weft_scope_create(&s, NULL), 0);
  struct tree *t = malloc(sizeof *t);
  *t = (struct tree){s, 6, &count};
  CHECK_RC(weft_scope_spawn(s, tree_child, t, NULL), 0);
  CHECK_RC(weft_scope_join(s), 0);
  CHECK(atomic_load(&count) == 127, "%d of 127 children ran", atomic_load(&count));
  return NULL;
}

ParameterizedTestParameters(scope, join_waits_for_every_child) { return cr_make_param_array(unsigned, wc3, 3); }
ParameterizedTest(unsigned *workers, scope, join_waits_for_every_child, .timeout = 60) {
  struct basic b;
  memset(&b, 0, sizeof b);
  atomic_init(&b.ran, 0);
  weft_runtime *rt = make_rt(*workers);
  ASSERT_RC(weft_run_until_complete(rt, basic_root, &b, NULL), 0);
  ASSERT_RC(weft_runtime_destroy(rt), 0);
  leak_check();
}

/* From a plain thread: the scope names its runtime; the join blocks the thread. */
RT_TEST(scope, from_a_plain_thread, .timeout = 60) {
  weft_runtime *rt = make_rt(2);
  weft_scope *s = NULL;
  ASSERT_RC(weft_scope_create(&s, NULL), EPERM); /* no runtime to default to */
  cr_assert_null(s);
  struct basic b;
  memset(&b, 0, sizeof b);
  atomic_init(&b.ran, 0);
  ASSERT_RC(weft_scope_create(&s, rt), 0);
  for (int i = 0; i < 10; i++) ASSERT_RC(weft_scope_spawn(s, basic_child, &b, NULL), 0);
  ASSERT_RC(weft_scope_join(s), 0);
  cr_expect_eq(atomic_load(&b.ran), 10);
  ASSERT_RC(weft_runtime_destroy(rt), 0);
}

/* ---- failure cancels the siblings, wherever they are blocked ------------------------------- */

enum { B_RECV, B_SEND, B_SELECT, B_LOCK, B_SEM, B_EVENT, B_KINDS };

struct family {
  weft_scope *s;
  weft_chan *rx;     /* unbuffered: nobody sends into it */
  weft_chan *tx;     /* unbuffered: nobody receives from it */
  weft_mutex *m;     /* held by the parent */
  weft_sem *sem;     /* 0 units */
  weft_event *ev;    /* never set */
  atomic_int started;
  int nblocked;
  atomic_int rcs[64]; /* per blocked child: what its blocking call returned (-1: body never ran) */
  int fail_with;
};

struct member {
  struct family *f;
  int i;
};

static int blocked_child(void *arg) {
  struct member *mb = arg;
  struct family *f = mb->f;
  atomic_fetch_add(&f->started, 1);
  int rc;
  switch (mb->i % B_KINDS) {
    case B_RECV:
      rc = weft_chan_recv(f->rx, NULL);
      break;
    case B_SEND:
      rc = weft_chan_send(f->tx, IP(1));
      break;
    case B_SELECT: {
      weft_select_op ops[2] = {{f->rx, WEFT_SELECT_RECV, NULL}, {f->tx, WEFT_SELECT_SEND, IP(2)}};
      size_t idx;
      rc = weft_select(ops, 2, 0, &idx);
      break;
    }
    case B_LOCK:
      rc = weft_mutex_lock(f->m);
      if (rc == 0) weft_mutex_unlock(f->m);
      break;
    case B_SEM:
      rc = weft_sem_acquire(f->sem);
      break;
    default:
      rc = weft_event_wait(f->ev);
      break;
  }
  atomic_store(&f->rcs[mb->i], rc);
  return rc;
}

static int failing_child(void *arg) {
  struct family *f = arg;
  /* Let the others start and block first (not needed for correctness). */
  for (int i = 0; i < 100 && atomic_load(&f->started) < f->nblocked; i++) weft_yield();
  return f->fail_with;
}

static void family_init(struct family *f, int nblocked, int fail_with) {
  memset(f, 0, sizeof *f);
  atomic_init(&f->started, 0);
  f->nblocked = nblocked;
  f->fail_with = fail_with;
  for (int i = 0; i < 64; i++) atomic_init(&f->rcs[i], -1);
  CHECK_RC(weft_chan_create(&f->rx, 0, 0), 0);
  CHECK_RC(weft_chan_create(&f->tx, 0, 0), 0);
  CHECK_RC(weft_mutex_create(&f->m), 0);
  CHECK_RC(weft_mutex_lock(f->m), 0);
  CHECK_RC(weft_sem_create(&f->sem, 0), 0);
  CHECK_RC(weft_event_create(&f->ev, 0), 0);
}

/* Every blocked child was cancelled (or never ran its body). */
static void family_check_and_free(struct family *f) {
  for (int i = 0; i < f->nblocked; i++) {
    int rc = atomic_load(&f->rcs[i]);
    CHECK(rc == ECANCELED || rc == -1, "child %d (kind %d) returned %s", i, i % B_KINDS,
          weft_err_name(rc));
  }
  CHECK_RC(weft_mutex_unlock(f->m), 0);
  CHECK_RC(weft_chan_destroy(f->rx), 0);
  CHECK_RC(weft_chan_destroy(f->tx), 0);
  CHECK_RC(weft_mutex_destroy(f->m), 0);
  CHECK_RC(weft_sem_destroy(f->sem), 0);
  CHECK_RC(weft_event_destroy(f->ev), 0);
}

#define NBLOCKED 18

static void *fail_root(void *arg) {
  (void)arg;
  struct family f;
  struct member mb[NBLOCKED];
  family_init(&f, NBLOCKED, EIO);
  CHECK_RC(weft_scope_create(&f.s, NULL), 0);
  for (int i = 0; i < NBLOCKED; i++) {
    mb[i] = (struct member){&f, i};
    CHECK_RC(weft_scope_spawn(f.s, blocked_child, &mb[i], NULL), 0);
  }
  CHECK_RC(weft_scope_spawn(f.s, failing_child, &f, NULL), 0);
  CHECK_RC(weft_scope_join(f.s), EIO); /* the first error, not the ECANCELEDs after it */
  family_check_and_free(&f);
  return NULL;
}

ParameterizedTestParameters(scope, first_failure_cancels_blocked_siblings) {
  return cr_make_param_array(unsigned, wc3, 3);
}
ParameterizedTest(unsigned *workers, scope, first_failure_cancels_blocked_siblings, .timeout = 60) {
  weft_runtime *rt = make_rt(*workers);
  for (int r = 0; r < SIZED(20, 10, 3); r++) ASSERT_RC(weft_run_until_complete(rt, fail_root, NULL, NULL), 0);
  ASSERT_RC(weft_runtime_destroy(rt), 0);
  leak_check();
}

/* The parent cancels (or fails) the scope itself. */
static void *cancel_root(void *arg) {
  int how = (int)PI(arg);
  struct family f;
  struct member mb[NBLOCKED];
  family_init(&f, NBLOCKED, 0);
  CHECK_RC(weft_scope_create(&f.s, NULL), 0);
  for (int i = 0; i < NBLOCKED; i++) {
    mb[i] = (struct member){&f, i};
    CHECK_RC(weft_scope_spawn(f.s, blocked_child, &mb[i], NULL), 0);
  }
  for (int i = 0; i < 200 && atomic_load(&f.started) < NBLOCKED; i++) weft_yield();
  if (how == 0) {
    CHECK_RC(weft_scope_cancel(f.s), 0);
    CHECK_RC(weft_scope_cancel(f.s), EALREADY);
  } else {
    CHECK_RC(weft_scope_fail(f.s, EPROTO), 0);
    CHECK_RC(weft_scope_fail(f.s, EIO), EALREADY);
  }
  CHECK_RC(weft_scope_spawn(f.s, blocked_child, &mb[0], NULL), ECANCELED); /* refused */
  CHECK_RC(weft_scope_join(f.s), how == 0 ? ECANCELED : EPROTO);
  family_check_and_free(&f);
  return NULL;
}

RT_TEST(scope, explicit_cancel_and_fail, .timeout = 60) {
  weft_runtime *rt = make_rt(2);
  ASSERT_RC(weft_run_until_complete(rt, cancel_root, IP(0), NULL), 0);
  ASSERT_RC(weft_run_until_complete(rt, cancel_root, IP(1), NULL), 0);
  ASSERT_RC(weft_runtime_destroy(rt), 0);
}

/* ---- nested scopes ------------------------------------------------------------------------------ */

struct nest {
  struct family inner;
  struct member mb[NBLOCKED];
  atomic_int inner_join_rc;
};

static int middle_child(void *arg) {
  struct nest *n = arg;
  struct family *f = &n->inner;
  CHECK_RC(weft_scope_create(&f->s, NULL), 0);
  for (int i = 0; i < NBLOCKED; i++) {
    n->mb[i] = (struct member){f, i};
    CHECK_RC(weft_scope_spawn(f->s, blocked_child, &n->mb[i], NULL), 0);
  }
  int rc = weft_scope_join(f->s); /* cancelled from outside while it waits */
  atomic_store(&n->inner_join_rc, rc);
  return rc;
}

/* Fails once every grandchild has started (so that the cancel must travel
 * through the middle child's join to reach them). */
static int failing_after_grandchildren(void *arg) {
  struct family *inner = arg;
  while (atomic_load(&inner->started) < inner->nblocked) weft_yield();
  return EPROTO;
}

static void *nest_root(void *arg) {
  (void)arg;
  struct nest n;
  family_init(&n.inner, NBLOCKED, 0);
  atomic_init(&n.inner_join_rc, -1);
  weft_scope *s;
  CHECK_RC(weft_scope_create(&s, NULL), 0);
  CHECK_RC(weft_scope_spawn(s, middle_child, &n, NULL), 0);
  CHECK_RC(weft_scope_spawn(s, failing_after_grandchildren, &n.inner, NULL), 0);
  CHECK_RC(weft_scope_join(s), EPROTO);
  CHECK(atomic_load(&n.inner_join_rc) == ECANCELED, "the inner join returned %s",
        weft_err_name(atomic_load(&n.inner_join_rc)));
  family_check_and_free(&n.inner);
  return NULL;
}

ParameterizedTestParameters(scope, nested_scope_cancelled_through_its_parent) {
  return cr_make_param_array(unsigned, wc3, 3);
}
ParameterizedTest(unsigned *workers, scope, nested_scope_cancelled_through_its_parent, .timeout = 60) {
  weft_runtime *rt = make_rt(*workers);
  for (int r = 0; r < SIZED(10, 5, 2); r++) ASSERT_RC(weft_run_until_complete(rt, nest_root, NULL, NULL), 0);
  ASSERT_RC(weft_runtime_destroy(rt), 0);
  leak_check();
}

/* ---- children that outlive an await of the parent ------------------------------------------------ */

struct outlive {
  weft_future *ready;  /* resolved by the first child */
  weft_event *go;      /* set by the parent after its await */
  atomic_int parent_awaited;
  atomic_int finished_after;
  atomic_int finished;
};

static int outliving_child(void *arg) {
  struct outlive *o = arg;
  weft_future_resolve(o->ready, IP(7)); /* only the first one settles it */
  CHECK_RC(weft_event_wait(o->go), 0);
  for (int i = 0; i < 10; i++) weft_yield();
  if (atomic_load(&o->parent_awaited)) atomic_fetch_add(&o->finished_after, 1);
  atomic_fetch_add(&o->finished, 1);
  return 0;
}

static void *outlive_root(void *arg) {
  (void)arg;
  struct outlive o;
  CHECK_RC(weft_future_create(&o.ready), 0);
  CHECK_RC(weft_event_create(&o.go, WEFT_EVENT_ONESHOT), 0);
  atomic_init(&o.parent_awaited, 0);
  atomic_init(&o.finished_after, 0);
  atomic_init(&o.finished, 0);
  weft_scope *s;
  CHECK_RC(weft_scope_create(&s, NULL), 0);
  for (int i = 0; i < 8; i++) CHECK_RC(weft_scope_spawn(s, outliving_child, &o, NULL), 0);
  void *v;
  CHECK_RC(weft_await(o.ready, &v), 0); /* the parent suspends; the children go on */
  CHECK(PI(v) == 7, "value %ld", (long)PI(v));
  atomic_store(&o.parent_awaited, 1);
  CHECK(atomic_load(&o.finished) == 0, "a child finished before the go");
  CHECK_RC(weft_event_set(o.go), 0);
  CHECK_RC(weft_scope_join(s), 0);
  CHECK(atomic_load(&o.finished_after) == 8, "%d of 8 children finished after the parent's await",
        atomic_load(&o.finished_after));
  weft_future_release(o.ready);
  CHECK_RC(weft_event_destroy(o.go), 0);
  return NULL;
}

ParameterizedTestParameters(scope, children_outlive_an_await_of_the_parent) {
  return cr_make_param_array(unsigned, wc3, 3);
}
ParameterizedTest(unsigned *workers, scope, children_outlive_an_await_of_the_parent, .timeout = 60) {
  weft_runtime *rt = make_rt(*workers);
  ASSERT_RC(weft_run_until_complete(rt, outlive_root, NULL, NULL), 0);
  ASSERT_RC(weft_runtime_destroy(rt), 0);
  leak_check();
}

/* ---- the parent is cancelled while it joins -------------------------------------------------------- */

struct pcancel {
  struct family f;
  struct member mb[NBLOCKED];
  atomic_int joining;
};

static void *cancelled_parent(void *arg) {
  struct pcancel *p = arg;
  CHECK_RC(weft_scope_create(&p->f.s, NULL), 0);
  for (int i = 0; i < NBLOCKED; i++) {
    p->mb[i] = (struct member){&p->f, i};
    CHECK_RC(weft_scope_spawn(p->f.s, blocked_child, &p->mb[i], NULL), 0);
  }
  atomic_store(&p->joining, 1);
  int rc = weft_scope_join(p->f.s);
  /* Nothing outlives the scope: every child has returned. */
  for (int i = 0; i < NBLOCKED; i++) {
    int crc = atomic_load(&p->f.rcs[i]);
    CHECK(crc == ECANCELED || crc == -1, "child %d: %s after the join", i, weft_err_name(crc));
  }
  return IP(rc);
}

RT_TEST(scope, parent_cancelled_while_joining, .timeout = 60) {
  for (unsigned w = 1; w <= 2; w++) {
    weft_runtime *rt = make_rt(w);
    struct pcancel p;
    family_init(&p.f, NBLOCKED, 0);
    atomic_init(&p.joining, 0);
    weft_future *t;
    ASSERT_RC(weft_runtime_spawn(rt, cancelled_parent, &p, &t), 0);
    wait_at_least(&p.joining, 1);
    sleep_us(10000);
    ASSERT_RC(weft_cancel(t), 0);
    cr_expect_eq(await_task(t), ECANCELED);
    family_check_and_free(&p.f);
    ASSERT_RC(weft_runtime_destroy(rt), 0);
  }
}

/* ---- a child that never ran -------------------------------------------------------------------------- */

static int never_child(void *arg) {
  atomic_store((atomic_int *)arg, 1);
  return 0;
}

static void *never_root(void *arg) {
  weft_scope *s;
  CHECK_RC(weft_scope_create(&s, NULL), 0);
  weft_future *t;
  /* One worker: the child sits in this worker's queue until we suspend. */
  CHECK_RC(weft_scope_spawn(s, never_child, arg, &t), 0);
  CHECK_RC(weft_cancel(t), 0);
  CHECK_RC(weft_scope_join(s), ECANCELED);
  CHECK_RC(weft_future_result(t, NULL), ECANCELED);
  weft_future_release(t);
  return NULL;
}

RT_TEST(scope, child_cancelled_before_it_ran_is_a_failure, .timeout = 60) {
  weft_runtime *rt = make_rt(1);
  atomic_int ran;
  atomic_init(&ran, 0);
  ASSERT_RC(weft_run_until_complete(rt, never_root, &ran, NULL), 0);
  cr_expect_eq(atomic_load(&ran), 0);
  ASSERT_RC(weft_runtime_destroy(rt), 0);
}

/* ---- misuse -------------------------------------------------------------------------------------------- */

static int joins_own_scope(void *arg) {
  return weft_scope_join(*(weft_scope **)arg) == EDEADLK ? 0 : EINVAL;
}

static void *misuse_root(void *arg) {
  (void)arg;
  weft_scope *s;
  CHECK_RC(weft_scope_create(NULL, NULL), EINVAL);
  CHECK_RC(weft_scope_create(&s, NULL), 0);
  CHECK_RC(weft_scope_spawn(NULL, basic_child, NULL, NULL), EINVAL);
  CHECK_RC(weft_scope_spawn(s, NULL, NULL, NULL), EINVAL);
  CHECK_RC(weft_scope_fail(s, 0), EINVAL);
  CHECK_RC(weft_scope_fail(NULL, EIO), EINVAL);
  CHECK_RC(weft_scope_cancel(NULL), EINVAL);
  CHECK_RC(weft_scope_join(NULL), EINVAL);
  CHECK_RC(weft_scope_spawn(s, joins_own_scope, &s, NULL), 0);
  CHECK_RC(weft_scope_join(s), 0); /* the child's join was refused with EDEADLK */
  /* An empty scope joins at once. */
  CHECK_RC(weft_scope_create(&s, NULL), 0);
  CHECK_RC(weft_scope_join(s), 0);
  return NULL;
}

RT_TEST(scope, misuse, .timeout = 60) {
  weft_runtime *rt = make_rt(2);
  ASSERT_RC(weft_run_until_complete(rt, misuse_root, NULL, NULL), 0);
  ASSERT_RC(weft_runtime_destroy(rt), 0);
}

/* ---- a child fails the scope and goes on ----------------------------------------------------- */

struct selffail {
  weft_scope *s;
  struct family f;
  struct member mb[NBLOCKED];
};

static int fails_and_goes_on(void *arg) {
  struct selffail *x = arg;
  while (atomic_load(&x->f.started) < NBLOCKED) weft_yield();
  CHECK_RC(weft_scope_fail(x->s, EIO), 0);
  CHECK_RC(weft_yield(), 0); /* not cancelled itself */
  CHECK_RC(weft_yield(), 0);
  return 0;
}

static void *selffail_root(void *arg) {
  (void)arg;
  struct selffail x;
  family_init(&x.f, NBLOCKED, 0);
  CHECK_RC(weft_scope_create(&x.s, NULL), 0);
  for (int i = 0; i < NBLOCKED; i++) {
    x.mb[i] = (struct member){&x.f, i};
    CHECK_RC(weft_scope_spawn(x.s, blocked_child, &x.mb[i], NULL), 0);
  }
  CHECK_RC(weft_scope_spawn(x.s, fails_and_goes_on, &x, NULL), 0);
  CHECK_RC(weft_scope_join(x.s), EIO);
  family_check_and_free(&x.f);
  return NULL;
}

RT_TEST(scope, a_child_failing_the_scope_is_not_cancelled_itself, .timeout = 60) {
  weft_runtime *rt = make_rt(2);
  ASSERT_RC(weft_run_until_complete(rt, selffail_root, NULL, NULL), 0);
  ASSERT_RC(weft_runtime_destroy(rt), 0);
}
