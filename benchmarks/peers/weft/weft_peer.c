/* weft's side of the peer comparison, written as a weft user would: the
 * runtime is created with `workers` workers before the clock starts; the
 * workload runs as the root task under weft_run_until_complete(); children
 * are weft_spawn()ed and joined with weft_join(); weft_yield() and
 * unbuffered weft_chan for the one-worker workloads. Arguments that do not fit
 * in a pointer live on the parent's stack, which outlives the children
 * because the parent awaits them all. */
#include "../common.h" /* first: it sets _POSIX_C_SOURCE */

#include <stdint.h>

#include "weft.h"

static _Atomic int failed; /* set on any weft error; the answer is then wrong */

static void *fail(void) {
  failed = 1;
  return NULL;
}

static void *join(weft_future *t) {
  void *v = NULL;
  if (weft_join(t, &v) != 0) failed = 1; /* waits, reads and releases the handle */
  return v;
}

/* fib: spawn one child, compute the other half inline, join. */
static void *fib(void *arg) {
  intptr_t n = (intptr_t)arg;
  if (n < 2) return (void *)n;
  weft_future *child;
  if (weft_spawn(fib, (void *)(n - 1), &child) != 0) return fail();
  intptr_t b = (intptr_t)fib((void *)(n - 2));
  intptr_t a = (intptr_t)join(child);
  return (void *)(a + b);
}

/* skynet: 10 children per node, then join them in order. */
typedef struct skynet_arg {
  long num, size;
} skynet_arg;

static void *skynet(void *p) {
  const skynet_arg *a = p;
  if (a->size == 1) return (void *)(intptr_t)a->num;
  long sub = a->size / SKYNET_DIV;
  skynet_arg args[SKYNET_DIV];
  weft_future *kids[SKYNET_DIV];
  for (int i = 0; i < SKYNET_DIV; i++) {
    args[i] = (skynet_arg){a->num + i * sub, sub};
    if (weft_spawn(skynet, &args[i], &kids[i]) != 0) return fail();
  }
  intptr_t sum = 0;
  for (int i = 0; i < SKYNET_DIV; i++) sum += (intptr_t)join(kids[i]);
  return (void *)sum;
}

static void *skynet_root(void *unused) {
  (void)unused;
  skynet_arg a = {0, SKYNET_LEAVES};
  return skynet(&a);
}

/* spawn: a million trivial tasks spawned before the first join. */
static void *trivial(void *i) { return i; }

static void *spawn_root(void *unused) {
  (void)unused;
  weft_future **tasks = malloc(sizeof *tasks * SPAWN_N);
  if (!tasks) return fail();
  for (long i = 0; i < SPAWN_N; i++)
    if (weft_spawn(trivial, (void *)(intptr_t)i, &tasks[i]) != 0) return fail();
  intptr_t sum = 0;
  for (long i = 0; i < SPAWN_N; i++) sum += (intptr_t)join(tasks[i]);
  free(tasks);
  return (void *)sum;
}

/* yield: two tasks on one worker, each yielding half the switches. */
static void *yielder(void *unused) {
  (void)unused;
  intptr_t n = 0;
  for (long i = 0; i < YIELD_SWITCHES / 2; i++)
    if (weft_yield() == 0) n++;
  return (void *)n;
}

static void *yield_root(void *unused) {
  (void)unused;
  weft_future *a, *b;
  if (weft_spawn(yielder, NULL, &a) != 0 || weft_spawn(yielder, NULL, &b) != 0)
    return fail();
  intptr_t n = (intptr_t)join(a);
  n += (intptr_t)join(b);
  return (void *)n;
}

/* chan: ping-pong over two unbuffered channels (Go's `make(chan int)`). */
static weft_chan *ping, *pong;

static void *ponger(void *unused) {
  (void)unused;
  void *v;
  while (weft_chan_recv(ping, &v) == 0)
    if (weft_chan_send(pong, (void *)((intptr_t)v + 1)) != 0) return fail();
  return NULL;
}

static void *chan_root(void *unused) {
  (void)unused;
  weft_future *other;
  if (weft_chan_create(&ping, 0, 0) != 0 || weft_chan_create(&pong, 0, 0) != 0 ||
      weft_spawn(ponger, NULL, &other) != 0)
    return fail();
  void *v = NULL;
  for (long i = 0; i < CHAN_ROUNDS; i++)
    if (weft_chan_send(ping, v) != 0 || weft_chan_recv(pong, &v) != 0) return fail();
  weft_chan_close(ping);
  join(other);
  weft_chan_destroy(ping);
  weft_chan_destroy(pong);
  return v;
}

/* nqueens: a task per safe placement on each row, then join them all. */
typedef struct nq_arg {
  nq_board b;
  int row;
} nq_arg;

static void *nqueens(void *p) {
  const nq_arg *a = p;
  if (a->row == NQUEENS_N) return (void *)1;
  nq_arg args[NQUEENS_N];
  weft_future *kids[NQUEENS_N];
  int k = 0;
  for (int col = 0; col < NQUEENS_N; col++) {
    if (!nq_safe(&a->b, a->row, col)) continue;
    args[k].b = a->b;
    args[k].b.col[a->row] = (signed char)col;
    args[k].row = a->row + 1;
    if (weft_spawn(nqueens, &args[k], &kids[k]) != 0) return fail();
    k++;
  }
  intptr_t sum = 0;
  for (int i = 0; i < k; i++) sum += (intptr_t)join(kids[i]);
  return (void *)sum;
}

static void *nqueens_root(void *unused) {
  (void)unused;
  nq_arg a = {{{0}}, 0};
  return nqueens(&a);
}

int main(int argc, char **argv) {
  const char *w;
  int workers;
  peers_args(argc, argv, &w, &workers);
  weft_fn root;
  void *arg = NULL;
  long want;
  if (!strcmp(w, "fib")) {
    root = fib, arg = (void *)(intptr_t)FIB_N, want = FIB_ANSWER;
  } else if (!strcmp(w, "skynet")) {
    root = skynet_root, want = SKYNET_ANSWER;
  } else if (!strcmp(w, "spawn")) {
    root = spawn_root, want = SPAWN_ANSWER;
  } else if (!strcmp(w, "yield")) {
    root = yield_root, want = YIELD_SWITCHES;
  } else if (!strcmp(w, "nqueens")) {
    root = nqueens_root, want = NQUEENS_ANSWER;
  } else if (!strcmp(w, "chan")) {
    root = chan_root, want = CHAN_ROUNDS;
  } else {
    fprintf(stderr, "unknown workload %s\n", w);
    return 2;
  }

  weft_runtime_config cfg;
  weft_runtime_config_init(&cfg);
  cfg.workers = (unsigned)workers;
  weft_runtime *rt;
  int rc = weft_runtime_create(&rt, &cfg);
  if (rc != 0) {
    fprintf(stderr, "weft_runtime_create: %s\n", weft_strerror(rc));
    return 1;
  }

  void *result = NULL;
  double t0 = peers_now();
  rc = weft_run_until_complete(rt, root, arg, &result);
  double t = peers_now() - t0;
  if (rc != 0) fprintf(stderr, "weft_run_until_complete: %s\n", weft_strerror(rc));
  int ok = rc == 0 && !failed && (long)(intptr_t)result == want;
  if (!ok && rc == 0) fprintf(stderr, "weft %s: got %ld, want %ld\n", w, (long)(intptr_t)result, want);
  weft_runtime_destroy(rt);
  return peers_report("weft", w, workers, t, ok);
}
