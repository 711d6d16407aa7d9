/* The stack layer (src/stack.h), white-box: sizes, the pool's reuse, many
 * live coroutines past the guarded budget, and overflow reports — guard page
 * and canary — including a user's own SIGSEGV handler that must keep
 * working once weft has installed its own.
 *
 * Criterion runs every test in a fresh process, so each starts with an empty
 * pool, weft's SIGSEGV handler not yet installed and the default budget. */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "stack.h"
#include "weft/coro.h"

#include "child.h"

#define IP(x) ((void *)(intptr_t)(x))
#define PI(p) ((intptr_t)(p))

#ifndef __has_feature
#define __has_feature(x) 0
#endif
#if defined(__SANITIZE_ADDRESS__) || __has_feature(address_sanitizer)
#define UNDER_ASAN 1
#else
#define UNDER_ASAN 0
#endif
#if defined(__SANITIZE_THREAD__) || __has_feature(thread_sanitizer)
#define UNDER_TSAN 1
#else
#define UNDER_TSAN 0
#endif

static size_t page_size(void) { return (size_t)sysconf(_SC_PAGESIZE); }
static size_t round_to_page(size_t n) { return (n + page_size() - 1) / page_size() * page_size(); }

static struct weft__stack_stats pool_stats(void) {
  struct weft__stack_stats st;
  weft__stack_stats(&st);
  return st;
}

/* ---- sizes ------------------------------------------------------------------------ */

Test(stack, round_gives_the_default_for_zero) {
  cr_expect_eq(weft__stack_round(0), (size_t)64 * 1024);
}

Test(stack, round_raises_small_sizes_to_16_kib) {
  cr_expect_eq(weft__stack_round(1), (size_t)16 * 1024);
  cr_expect_eq(weft__stack_round(16 * 1024 - 1), (size_t)16 * 1024);
}

Test(stack, round_goes_up_to_whole_pages) {
  const size_t odd[] = {16 * 1024 + 1, 20000, 65537, 100003, 1000 * 1000};
  for (size_t i = 0; i < sizeof odd / sizeof odd[0]; i++)
    cr_expect_eq(weft__stack_round(odd[i]), round_to_page(odd[i]), "size %zu", odd[i]);
  cr_expect_eq(weft__stack_round(64 * 1024), (size_t)64 * 1024);
}

Test(stack, round_accepts_one_gib_and_refuses_more) {
  cr_expect_eq(weft__stack_round((size_t)1 << 30), (size_t)1 << 30);
  cr_expect_eq(weft__stack_round(((size_t)1 << 30) + 1), 0);
  cr_expect_eq(weft__stack_round(SIZE_MAX), 0);
}

Test(stack, an_allocated_stack_has_the_rounded_size) {
  size_t size = weft__stack_round(20000);
  struct weft__stack *s;
  cr_assert_eq(weft__stack_alloc(size, &s), 0);
  /* Usable bytes run from lo up to the descriptor at the top. */
  cr_expect_geq(s->size, size - 64);
  cr_expect_leq(s->size, size);
  cr_expect_eq((char *)s, s->lo + s->size);
  cr_expect_eq(((uintptr_t)s->lo + s->size) % 16, 0, "top not 16-byte aligned");
  memset(s->lo, 0xa5, s->size); /* all of it is writable */
  weft__stack_free(s);
}

/* ---- reuse ---------------------------------------------------------------------------- */

static void *yield_once(void *arg) {
  void *in = NULL;
  weft_coro_yield(arg, &in);
  return IP(PI(arg) * 2 + PI(in));
}

static void run_one(intptr_t i) {
  weft_coro *co;
  cr_assert_eq(weft_coro_create(&co, yield_once, IP(i), NULL), 0);
  void *out;
  cr_assert_eq(weft_coro_send(co, NULL, &out), 0);
  cr_assert_eq(PI(out), i);
  cr_assert_eq(weft_coro_send(co, IP(1), &out), WEFT_DONE);
  cr_assert_eq(PI(out), 2 * i + 1);
  cr_assert_eq(weft_coro_destroy(co), 0);
}

Test(stack, create_and_destroy_in_a_loop_reuses_one_stack) {
  run_one(0);
  struct weft__stack_stats before = pool_stats();
  for (int i = 1; i <= 10000; i++) run_one(i);
  struct weft__stack_stats after = pool_stats();
  cr_expect_eq(after.mmaps, before.mmaps, "%zu mmaps for 10000 sequential coroutines",
               after.mmaps - before.mmaps);
}

Test(stack, a_destroyed_suspended_coroutine_gives_its_stack_back) {
  weft_coro *co;
  cr_assert_eq(weft_coro_create(&co, yield_once, NULL, NULL), 0);
  cr_assert_eq(weft_coro_destroy(co), 0);
  struct weft__stack_stats before = pool_stats();
  for (int i = 0; i < 1000; i++) {
    cr_assert_eq(weft_coro_create(&co, yield_once, NULL, NULL), 0);
    cr_assert_eq(weft_coro_send(co, NULL, NULL), 0);
    cr_assert_eq(weft_coro_destroy(co), 0);
  }
  cr_expect_eq(pool_stats().mmaps, before.mmaps);
}

/* More live at once than a thread's cache holds: the rest goes through the
 * shared pool, and comes back from it. */
Test(stack, batches_larger_than_the_cache_are_reused_through_the_pool) {
  enum { BATCH = 200, ROUNDS = 20 };
  static weft_coro *co[BATCH];
  size_t mmaps_after_first = 0;
  for (int round = 0; round < ROUNDS; round++) {
    for (int i = 0; i < BATCH; i++) {
      cr_assert_eq(weft_coro_create(&co[i], yield_once, IP(i), NULL), 0);
      cr_assert_eq(weft_coro_send(co[i], NULL, NULL), 0);
    }
    for (int i = 0; i < BATCH; i++) {
      void *out;
      cr_assert_eq(weft_coro_send(co[i], IP(round), &out), WEFT_DONE);
      cr_assert_eq(PI(out), 2 * i + round);
      cr_assert_eq(weft_coro_destroy(co[i]), 0);
    }
    if (round == 0) mmaps_after_first = pool_stats().mmaps;
  }
  cr_expect_eq(pool_stats().mmaps, mmaps_after_first, "the pool did not reuse the first batch's stacks");
  cr_expect_leq(pool_stats().guarded_live, (size_t)BATCH);
}

/* A thread's cache has a few size classes; stacks of more sizes than that
 * go straight through the shared pool, and are still reused. */
Test(stack, stacks_of_more_sizes_than_the_cache_has_classes_are_reused) {
  enum { PER_SIZE = 20, ROUNDS = 5 };
  const size_t sizes[] = {16 * 1024, 20 * 1024, 24 * 1024, 32 * 1024, 48 * 1024, 64 * 1024};
  enum { NSIZES = sizeof sizes / sizeof sizes[0] };
  static weft_coro *co[NSIZES][PER_SIZE];
  size_t mmaps_after_first = 0;
  for (int round = 0; round < ROUNDS; round++) {
    for (int z = 0; z < NSIZES; z++)
      for (int i = 0; i < PER_SIZE; i++) {
        weft_coro_config cfg = {.stack_size = sizes[z]};
        cr_assert_eq(weft_coro_create(&co[z][i], yield_once, IP(i), &cfg), 0);
        cr_assert_eq(weft_coro_send(co[z][i], NULL, NULL), 0);
      }
    for (int z = 0; z < NSIZES; z++)
      for (int i = 0; i < PER_SIZE; i++) {
        void *out;
        cr_assert_eq(weft_coro_send(co[z][i], IP(z), &out), WEFT_DONE);
        cr_assert_eq(PI(out), 2 * i + z);
        cr_assert_eq(weft_coro_destroy(co[z][i]), 0);
      }
    if (round == 0) mmaps_after_first = pool_stats().mmaps;
  }
  cr_expect_eq(pool_stats().mmaps, mmaps_after_first);
}

/* More idle stacks than the pool keeps warm: guarded ones are unmapped. */
Test(stack, idle_guarded_stacks_past_the_warm_limit_are_unmapped) {
  enum { N = 1000 };
  static weft_coro *co[N];
  for (int i = 0; i < N; i++) cr_assert_eq(weft_coro_create(&co[i], yield_once, NULL, NULL), 0);
  cr_assert_geq(pool_stats().guarded_live, (size_t)N);
  for (int i = 0; i < N; i++) cr_assert_eq(weft_coro_destroy(co[i]), 0);
  size_t live = pool_stats().guarded_live;
  cr_expect_lt(live, (size_t)N, "all %zu idle guarded stacks are still mapped", live);
}

/* Slab stacks past the warm limit give their pages back to the kernel,
 * canary included. They must come back with a fresh canary: otherwise the
 * first switch out of their next coroutine reports an overflow. */
Test(stack, slab_stacks_whose_pages_were_given_back_are_reused_with_a_fresh_canary) {
  enum { N = 2000, ROUNDS = 3 };
  static weft_coro *co[N];
  weft__stack_set_guarded_budget(0);
  size_t mmaps_after_first = 0;
  for (int round = 0; round < ROUNDS; round++) {
    for (int i = 0; i < N; i++) {
      cr_assert_eq(weft_coro_create(&co[i], yield_once, IP(i), NULL), 0);
      cr_assert_eq(weft_coro_send(co[i], NULL, NULL), 0); /* switches out: canary checked */
    }
    for (int i = 0; i < N; i++) {
      void *out;
      cr_assert_eq(weft_coro_send(co[i], IP(round), &out), WEFT_DONE);
      cr_assert_eq(PI(out), 2 * i + round);
      cr_assert_eq(weft_coro_destroy(co[i]), 0);
    }
    if (round == 0) mmaps_after_first = pool_stats().mmaps;
  }
  cr_expect_eq(pool_stats().guarded_live, 0);
  cr_expect_eq(pool_stats().mmaps, mmaps_after_first, "slab stacks were not reused");
}

/* ---- many at once -------------------------------------------------------------------------- */

struct many_arg {
  intptr_t index;
};

static void *many_body(void *arg) {
  const struct many_arg *a = arg;
  void *in = NULL;
  weft_coro_yield(IP(a->index), &in);
  return IP(a->index * 3 + PI(in));
}

/* Past the guarded budget (a quarter of vm.max_map_count: 16382 by
 * default), stacks come from slabs with a canary instead of a guard page.
 * ThreadSanitizer gives every live fiber a thread state with its own
 * mappings and runs out of them (ENOMEM from its trace allocator) between
 * 20,000 and 30,000 live coroutines: under it the test runs 20,000, with the
 * budget lowered to 4,000 so that the slab path is still taken. */
#if UNDER_TSAN
#define MANY 20000
#define MANY_BUDGET 4000
#else
#define MANY 100000
#define MANY_BUDGET 0 /* keep the default */
#endif

Test(stack, a_hundred_thousand_coroutines_alive_at_once) {
  if (MANY_BUDGET) weft__stack_set_guarded_budget(MANY_BUDGET);
  struct weft__stack_stats before = pool_stats();
  weft_coro **co = calloc(MANY, sizeof *co);
  struct many_arg *args = calloc(MANY, sizeof *args);
  cr_assert(co && args);
  weft_coro_config cfg = {.stack_size = 16 * 1024};

  for (intptr_t i = 0; i < MANY; i++) {
    args[i].index = i;
    int rc = weft_coro_create(&co[i], many_body, &args[i], &cfg);
    cr_assert_eq(rc, 0, "create #%jd: %s", (intmax_t)i, weft_err_name(rc));
    void *out;
    cr_assert_eq(weft_coro_send(co[i], NULL, &out), 0);
    cr_assert_eq(PI(out), i);
  }
  struct weft__stack_stats mid = pool_stats();
  cr_expect_gt(mid.slab_stacks, before.slab_stacks, "no slab stacks past the guarded budget");
  cr_expect_leq(mid.guarded_live, mid.guarded_budget, "guarded stacks past the budget");
  cr_expect_geq(mid.guarded_live + mid.slab_stacks, (size_t)MANY);

  /* Resume them in a scrambled order (7919 is prime to MANY): each must
   * still hold its own state. */
  for (intptr_t k = 0; k < MANY; k++) {
    intptr_t i = (k * 7919) % MANY;
    void *out;
    int rc = weft_coro_send(co[i], IP(k), &out);
    cr_assert_eq(rc, WEFT_DONE, "resume #%jd: %s", (intmax_t)i, weft_err_name(rc));
    cr_assert_eq(PI(out), i * 3 + k, "coroutine %jd returned %jd", (intmax_t)i, (intmax_t)PI(out));
    cr_assert_eq(weft_coro_destroy(co[i]), 0);
  }
  free(co);
  free(args);
}

/* ---- overflow: guard page --------------------------------------------------------------------- */

static volatile int keep_recursing = 1;

/* About 1 KiB of stack per level, forever; not a tail call. */
static intptr_t recurse_forever(intptr_t depth) {
  volatile char frame[1024];
  for (size_t i = 0; i < sizeof frame; i += 64) frame[i] = (char)depth;
  if (!keep_recursing) return frame[0];
  return recurse_forever(depth + 1) + frame[64];
}

static void *overflow_body(void *arg) { return IP(recurse_forever(PI(arg))); }

#define OVERFLOW_LINE "weft: stack overflow in coroutine "
#define CORO_NAME "overflowing-one"
#define ODD_SIZE 20000

Test(stack, overflowing_a_guarded_stack_aborts, .signal = SIGABRT) {
  weft_coro_config cfg = {.name = CORO_NAME};
  weft_coro *co;
  cr_assert_eq(weft_coro_create(&co, overflow_body, NULL, &cfg), 0);
  cr_assert_eq(pool_stats().guarded_live, 1);
  weft_coro_send(co, NULL, NULL);
  cr_assert_fail("the overflow did not abort");
}

static void overflow_guarded(void *unused) {
  (void)unused;
  weft_coro_config cfg = {.name = CORO_NAME, .stack_size = ODD_SIZE};
  weft_coro *co;
  if (weft_coro_create(&co, overflow_body, NULL, &cfg) != 0) _exit(3);
  weft_coro_send(co, NULL, NULL);
  _exit(4);
}

/* Checks that the child aborted after printing exactly one line, the
 * report of an overflow of coroutine `name` with a stack of `size` bytes
 * (asked for; rounded to pages in the report), saying `how`. */
static void check_report(const struct child_result *r, const char *name, size_t size,
                         const char *how) {
  cr_assert(WIFSIGNALED(r->status) && WTERMSIG(r->status) == SIGABRT,
            "child status %#x, stderr:\n%s", r->status, r->err);
  cr_assert_eq(strncmp(r->err, OVERFLOW_LINE "\"", strlen(OVERFLOW_LINE "\"")), 0,
               "stderr does not start with the report:\n%s", r->err);
  const char *nl = strchr(r->err, '\n');
  cr_assert_not_null(nl, "report not ended by a newline:\n%s", r->err);
  cr_expect_eq(nl[1], '\0', "more than one line on stderr:\n%s", r->err);
  char want[128];
  snprintf(want, sizeof want, OVERFLOW_LINE "\"%s\" (0x", name);
  cr_expect_eq(strncmp(r->err, want, strlen(want)), 0, "no '%s' in:\n%s", want, r->err);
  snprintf(want, sizeof want, ") with a %zu-byte stack: ", round_to_page(size));
  cr_expect_not_null(strstr(r->err, want), "no '%s' in:\n%s", want, r->err);
  cr_expect_not_null(strstr(r->err, how), "no '%s' in:\n%s", how, r->err);
  cr_expect_not_null(strstr(r->err, "; aborting\n"), "no '; aborting' in:\n%s", r->err);
}

Test(stack, a_guarded_overflow_prints_one_line_naming_the_coroutine_and_size) {
  struct child_result r;
  run_in_child(overflow_guarded, NULL, &r);
  check_report(&r, CORO_NAME, ODD_SIZE, "guard page");
}

/* The report names the coroutine that overflowed, not the one driving it. */
static void *drive_overflowing(void *unused) {
  (void)unused;
  weft_coro_config cfg = {.name = "inner", .stack_size = ODD_SIZE};
  weft_coro *inner;
  if (weft_coro_create(&inner, overflow_body, NULL, &cfg) != 0) _exit(3);
  weft_coro_send(inner, NULL, NULL);
  return NULL;
}

static void overflow_nested(void *unused) {
  (void)unused;
  weft_coro_config cfg = {.name = "outer"};
  weft_coro *outer;
  if (weft_coro_create(&outer, drive_overflowing, NULL, &cfg) != 0) _exit(3);
  weft_coro_send(outer, NULL, NULL);
  _exit(4);
}

Test(stack, an_overflow_in_a_nested_coroutine_names_the_inner_one) {
  struct child_result r;
  run_in_child(overflow_nested, NULL, &r);
  check_report(&r, "inner", ODD_SIZE, "guard page");
}

/* Each thread that drives a coroutine needs its own alternate signal stack
 * for the report: here the coroutine is created on one thread and overflows
 * on another that never made one. Without that stack the handler could not
 * run and the process would die of SIGSEGV instead. (A death test, not a
 * forked child: ThreadSanitizer refuses new threads in the child of a
 * multi-threaded process, which a Criterion worker is.) */
static void *send_on_thread(void *co) {
  weft_coro_send(co, NULL, NULL);
  return NULL;
}

Test(stack, an_overflow_on_another_thread_aborts, .signal = SIGABRT) {
  weft_coro_config cfg = {.name = CORO_NAME, .stack_size = ODD_SIZE};
  weft_coro *co;
  cr_assert_eq(weft_coro_create(&co, overflow_body, NULL, &cfg), 0);
  pthread_t t;
  cr_assert_eq(pthread_create(&t, NULL, send_on_thread, co), 0);
  pthread_join(t, NULL);
  cr_assert_fail("the overflow did not abort");
}

/* A SIGSEGV handler the program had before weft does not swallow an
 * overflow: weft reports it and aborts without calling that handler. */
static void segv_exit_7(int sig) {
  (void)sig;
  _exit(7);
}

static void overflow_with_user_handler(void *unused) {
  (void)unused;
  struct sigaction sa = {.sa_handler = segv_exit_7};
  sigemptyset(&sa.sa_mask);
  if (sigaction(SIGSEGV, &sa, NULL) != 0) _exit(3);
  overflow_guarded(NULL);
}

Test(stack, a_user_segv_handler_does_not_hide_an_overflow) {
  struct child_result r;
  run_in_child(overflow_with_user_handler, NULL, &r);
  cr_assert_not(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 7,
                "the user's handler got the overflow");
  check_report(&r, CORO_NAME, ODD_SIZE, "guard page");
}

/* ---- overflow: canary (no guard page) ---------------------------------------------------------- */

/* Recurses until its frames are below `floor`, then unwinds: an overflow
 * of bounded depth, as a real one that happens not to fault would be. */
static intptr_t recurse_below(const char *floor) {
  volatile char frame[512];
  for (size_t i = 0; i < sizeof frame; i++) frame[i] = (char)i;
  if ((const char *)frame > floor) return recurse_below(floor) + frame[1];
  return frame[2];
}

struct canary_arg {
  size_t size;
  int how; /* 0: yield after the overflow; 1: return */
};

/* Runs below the bottom of its stack by a frame or two (at most ~3 KiB). */
static void *overflow_then_switch(void *arg) {
  const struct canary_arg *a = arg;
  volatile char here = 0;
  recurse_below((const char *)&here - a->size - 1024);
  if (a->how == 0) weft_coro_yield(NULL, NULL);
  return NULL;
}

/* With no guarded budget every stack is a slab stack. The decoy takes the
 * first (lowest) stack of the slab, so the victim has a neighbour below it
 * to overflow into, not an unmapped page. */
static void overflow_unguarded(void *arg) {
  struct canary_arg *a = arg;
  weft__stack_set_guarded_budget(0);
  weft_coro_config cfg = {.name = CORO_NAME, .stack_size = a->size};
  weft_coro *decoy, *co;
  if (weft_coro_create(&decoy, overflow_then_switch, a, &cfg) != 0) _exit(3);
  if (weft_coro_create(&co, overflow_then_switch, a, &cfg) != 0) _exit(3);
  if (pool_stats().guarded_live != 0) _exit(5);
  weft_coro_send(co, NULL, NULL);
  _exit(4);
}

Test(stack, overflowing_an_unguarded_stack_aborts_at_the_next_yield, .signal = SIGABRT) {
  struct canary_arg a = {.size = round_to_page(ODD_SIZE), .how = 0};
  overflow_unguarded(&a);
}

Test(stack, overflowing_an_unguarded_stack_aborts_when_the_body_returns, .signal = SIGABRT) {
  struct canary_arg a = {.size = round_to_page(ODD_SIZE), .how = 1};
  overflow_unguarded(&a);
}

Test(stack, an_unguarded_overflow_prints_one_line_naming_the_coroutine_and_size) {
  struct canary_arg a = {.size = round_to_page(ODD_SIZE), .how = 0};
  struct child_result r;
  run_in_child(overflow_unguarded, &a, &r);
  check_report(&r, CORO_NAME, ODD_SIZE, "canary");
}

/* ---- the user's own SIGSEGV handler --------------------------------------------------------------- */

static sigjmp_buf *volatile fault_return; /* where the user's handler goes back to */
static void *volatile fault_addr;
static volatile sig_atomic_t faults_seen;

static void user_segv_action(int sig, siginfo_t *si, void *uc) {
  (void)sig;
  (void)uc;
  faults_seen++;
  fault_addr = si->si_addr;
  siglongjmp(*fault_return, 1);
}

static void user_segv_handler(int sig) {
  (void)sig;
  faults_seen++;
  siglongjmp(*fault_return, 1);
}

/* Writes to `p`; returns 1 if the user's handler caught a fault there. */
static int faults_on(char *p) {
  sigjmp_buf env;
  sigjmp_buf *volatile saved = fault_return;
  fault_return = &env;
  int caught = 0;
  if (sigsetjmp(env, 1) == 0)
    *(volatile char *)p = 1;
  else
    caught = 1;
  fault_return = saved;
  return caught;
}

static void *fault_inside(void *page) { return IP(faults_on(page)); }

static char *protected_page(void) {
  char *p = mmap(NULL, page_size(), PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  cr_assert_neq(p, MAP_FAILED);
  return p;
}

static void install(struct sigaction *sa) {
  sigemptyset(&sa->sa_mask);
  cr_assert_eq(sigaction(SIGSEGV, sa, NULL), 0);
}

/* weft's handler is now the one the kernel calls: the user's is reached
 * only through weft's chaining. */
static void expect_weft_in_front(void *user_fn) {
  struct sigaction cur;
  cr_assert_eq(sigaction(SIGSEGV, NULL, &cur), 0);
  cr_assert_neq((void *)cur.sa_sigaction, user_fn, "weft did not install its SIGSEGV handler");
}

/* Faults outside, then inside, a coroutine; the user's handler sees both. */
static void check_user_handler_sees_faults(void *user_fn, int siginfo) {
  char *page = protected_page();
  weft_coro *co;
  cr_assert_eq(weft_coro_create(&co, fault_inside, page, NULL), 0);
  expect_weft_in_front(user_fn);

  cr_expect(faults_on(page), "fault outside a coroutine not seen");
  cr_expect_eq(faults_seen, 1);
  if (siginfo) cr_expect_eq(fault_addr, page);

  fault_addr = NULL;
  void *out;
  cr_assert_eq(weft_coro_send(co, NULL, &out), WEFT_DONE);
  cr_expect_eq(PI(out), 1, "fault inside a coroutine not seen");
  cr_expect_eq(faults_seen, 2);
  if (siginfo) cr_expect_eq(fault_addr, page);
  cr_assert_eq(weft_coro_destroy(co), 0);
  munmap(page, page_size());
}

Test(stack, a_siginfo_segv_handler_installed_first_still_sees_other_faults) {
  struct sigaction sa = {.sa_sigaction = user_segv_action, .sa_flags = SA_SIGINFO};
  install(&sa);
  check_user_handler_sees_faults((void *)user_segv_action, 1);
}

Test(stack, a_plain_segv_handler_installed_first_still_sees_other_faults) {
  struct sigaction sa = {.sa_handler = user_segv_handler};
  install(&sa);
  check_user_handler_sees_faults((void *)user_segv_handler, 0);
}

static void fault_in_coroutine(void *unused) {
  (void)unused;
  char *page = mmap(NULL, page_size(), PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  weft_coro *co;
  if (page == MAP_FAILED || weft_coro_create(&co, fault_inside, page, NULL) != 0) _exit(3);
  fault_return = NULL; /* no user handler: nothing may jump */
  weft_coro_send(co, NULL, NULL);
  _exit(4);
}

/* A fault that is not an overflow is not reported as one: with no handler
 * before weft's, the process dies of it as if weft were not there. (Under a
 * sanitizer, "as if weft were not there" is the sanitizer's own report of
 * the fault and an exit with an error status.) */
Test(stack, another_fault_in_a_coroutine_is_not_reported_as_an_overflow) {
  struct child_result r;
  run_in_child(fault_in_coroutine, NULL, &r);
  cr_expect_null(strstr(r.err, OVERFLOW_LINE), "reported as an overflow:\n%s", r.err);
  if (UNDER_ASAN || UNDER_TSAN) /* an error exit, or abort() with abort_on_error=1 */
    cr_expect((WIFEXITED(r.status) && WEXITSTATUS(r.status) != 0 && WEXITSTATUS(r.status) != 4) ||
                  (WIFSIGNALED(r.status) &&
                   (WTERMSIG(r.status) == SIGABRT || WTERMSIG(r.status) == SIGSEGV)),
              "status %#x:\n%s", r.status, r.err);
  else
    cr_expect(WIFSIGNALED(r.status) && WTERMSIG(r.status) == SIGSEGV, "status %#x:\n%s",
              r.status, r.err);
}
