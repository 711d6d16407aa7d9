/* What an inline run leaves in a one-worker runtime's deque, white-box
 * (src/worker.c, "running an awaited task inline"). With one worker no
 * thief can reach an entry, so an awaiter that finds its task's spawn
 * entry in the middle of the deque takes it out, moving the newest entry
 * into its slot — but only when that newest entry is a spawn entry too:
 * spawned tasks keep no order among themselves, woken tasks do. These
 * tests look at the deque itself, since both ways give the same results
 * and only the deque shows which was taken. */
#include <stdatomic.h>
#include <stdint.h>

#include <criterion/criterion.h>

#include "deque.h"
#include "task.h"
#include "weft.h"
#include "worker.h"
#include "support.h"

static void *return_arg(void *arg) { return arg; }

static struct weft__deque *my_deque(void) {
  struct weft__worker *w = weft__worker_current();
  CHECK(w != NULL, "not on a worker");
  return &w->dq;
}

static long long dq_size(struct weft__deque *d) {
  return atomic_load_explicit(&d->bottom, memory_order_relaxed) -
         atomic_load_explicit(&d->top, memory_order_relaxed);
}


#define N 5

/* Spawns c0..c4 and awaits c1: c4 moves into c1's slot (and learns its new
 * index), the deque is one shorter, and every later await still finds its
 * task where it now is. */
static void *middle_root(void *unused) {
  (void)unused;
  struct weft__deque *d = my_deque();
  weft_future *c[N];
  long long base = atomic_load_explicit(&d->bottom, memory_order_relaxed);
  for (int i = 0; i < N; i++) CHECK_RC(weft_spawn(return_arg, IP(i + 1), &c[i]), 0);
  CHECK(dq_size(d) == N, "%lld entries after %d spawns", dq_size(d), N);
  void *v = NULL;
  CHECK_RC(weft_join(c[1], &v), 0);
  CHECK(PI(v) == 2, "c1 gave %ld", (long)PI(v));
  CHECK(dq_size(d) == N - 1, "%lld entries: c1's was left behind", dq_size(d));
  CHECK(weft__deque_peek(d, base + 1) == (void *)c[4], "c4 did not move into c1's slot");
  CHECK(weft__as_task(c[4])->qidx == base + 1, "c4's index hint is %lld, not %lld",
        weft__as_task(c[4])->qidx, base + 1);
  /* c4, now in the middle: c3 (the newest) takes its slot. */
  CHECK_RC(weft_join(c[4], &v), 0);
  CHECK(PI(v) == 5, "c4 gave %ld", (long)PI(v));
  CHECK(dq_size(d) == N - 2, "%lld entries after c4", dq_size(d));
  CHECK(weft__deque_peek(d, base + 1) == (void *)c[3], "c3 did not move into c4's slot");
  int rest[] = {0, 2, 3};
  for (int k = 0; k < 3; k++) {
    CHECK_RC(weft_join(c[rest[k]], &v), 0);
    CHECK(PI(v) == rest[k] + 1, "c%d gave %ld", rest[k], (long)PI(v));
  }
  CHECK(dq_size(d) == 0, "%lld entries left", dq_size(d));
  return IP(1);
}

RT_TEST(solo, an_entry_claimed_in_the_middle_is_taken_out, .timeout = 60) {
  weft_runtime *rt = make_rt(1);
  void *v = NULL;
  ASSERT_RC(weft_run_until_complete(rt, middle_root, NULL, &v), 0);
  cr_expect_eq(PI(v), 1);
  ASSERT_RC(weft_runtime_destroy(rt), 0);
}

/* Two tasks W1, W2 wait on a future; the root spawns c0 and c1, then
 * resolves the future: the one woken last takes the LIFO slot and pushes
 * the other's resume entry to the deque's bottom, above c0 and c1.
 * Awaiting c0 then must not move that resume entry into c0's slot (it
 * would run after c1, out of wake order): c0's entry stays behind, stale,
 * and the deque keeps its three entries in order. */
struct woken {
  weft_future *gate;
  atomic_int waiting;
  atomic_int ran; /* waiters past the gate */
};

static void *waiter(void *arg) {
  struct woken *wk = arg;
  atomic_fetch_add(&wk->waiting, 1);
  CHECK_RC(weft_await(wk->gate, NULL), 0);
  atomic_fetch_add(&wk->ran, 1);
  return NULL;
}

static void *woken_root(void *arg) {
  struct woken *wk = arg;
  struct weft__deque *d = my_deque();
  weft_future *w1, *w2, *c0, *c1;
  CHECK_RC(weft_spawn(waiter, wk, &w1), 0);
  CHECK_RC(weft_spawn(waiter, wk, &w2), 0);
  while (atomic_load(&wk->waiting) < 2) CHECK_RC(weft_yield(), 0);
  CHECK(dq_size(d) == 0, "%lld entries before the spawns", dq_size(d));
  CHECK_RC(weft_spawn(return_arg, IP(10), &c0), 0);
  CHECK_RC(weft_spawn(return_arg, IP(11), &c1), 0);
  long long base = atomic_load_explicit(&d->bottom, memory_order_relaxed) - 2;
  CHECK_RC(weft_future_resolve(wk->gate, NULL), 0);
  CHECK(dq_size(d) == 3, "%lld entries after the wake, not c0, c1 and a waiter", dq_size(d));
  void *resumed = weft__deque_peek(d, base + 2);
  CHECK(resumed == (void *)w1 || resumed == (void *)w2, "no waiter's resume entry at the bottom");
  void *v = NULL;
  CHECK_RC(weft_join(c0, &v), 0);
  CHECK(PI(v) == 10, "c0 gave %ld", (long)PI(v));
  CHECK(dq_size(d) == 3, "%lld entries: the resume entry was moved", dq_size(d));
  CHECK(weft__deque_peek(d, base + 2) == resumed, "the resume entry left the bottom");
  CHECK(weft__deque_peek(d, base + 1) == (void *)c1, "c1 left its slot");
  CHECK_RC(weft_join(c1, &v), 0);
  CHECK(PI(v) == 11, "c1 gave %ld", (long)PI(v));
  CHECK_RC(weft_join(w1, NULL), 0);
  CHECK_RC(weft_join(w2, NULL), 0);
  return IP(1);
}

RT_TEST(solo, a_woken_entry_is_not_moved_out_of_order, .timeout = 60) {
  weft_runtime *rt = make_rt(1);
  struct woken wk = {0};
  ASSERT_RC(weft_future_create(&wk.gate), 0);
  void *v = NULL;
  ASSERT_RC(weft_run_until_complete(rt, woken_root, &wk, &v), 0);
  cr_expect_eq(PI(v), 1);
  cr_expect_eq(atomic_load(&wk.ran), 2);
  ASSERT_RC(weft_future_release(wk.gate), 0);
  ASSERT_RC(weft_runtime_destroy(rt), 0);
}
