/* The serial baseline: the same workloads as plain C function calls on one
 * thread, no runtime. What a task system's overhead is measured against:
 * fib/skynet/nqueens as ordinary recursion, spawn as a million calls through
 * a function pointer (the task body) into a results array. yield and chan
 * have no serial form (nothing to switch between). */
#include "../common.h"

#define NOINLINE __attribute__((noinline))

static NOINLINE long fib(int n) {
  if (n < 2) return n;
  return fib(n - 1) + fib(n - 2);
}

static NOINLINE long skynet(long num, long size) {
  if (size == 1) return num;
  long sum = 0, sub = size / SKYNET_DIV;
  for (long i = 0; i < SKYNET_DIV; i++) sum += skynet(num + i * sub, sub);
  return sum;
}

static NOINLINE long trivial(long i) { return i; }

static long spawn_all(void) {
  long *results = malloc(sizeof(long) * SPAWN_N);
  if (!results) return -1;
  long (*volatile body)(long) = trivial; /* a task body is called indirectly */
  for (long i = 0; i < SPAWN_N; i++) results[i] = body(i);
  long sum = 0;
  for (long i = 0; i < SPAWN_N; i++) sum += results[i];
  free(results);
  return sum;
}

static NOINLINE long nqueens(nq_board b, int row) {
  if (row == NQUEENS_N) return 1;
  long sum = 0;
  for (int col = 0; col < NQUEENS_N; col++) {
    if (!nq_safe(&b, row, col)) continue;
    nq_board child = b;
    child.col[row] = (signed char)col;
    sum += nqueens(child, row + 1);
  }
  return sum;
}

int main(int argc, char **argv) {
  const char *w;
  int workers;
  peers_args(argc, argv, &w, &workers);
  long got, want;
  double t0 = peers_now();
  if (!strcmp(w, "fib")) {
    got = fib(FIB_N), want = FIB_ANSWER;
  } else if (!strcmp(w, "skynet")) {
    got = skynet(0, SKYNET_LEAVES), want = SKYNET_ANSWER;
  } else if (!strcmp(w, "spawn")) {
    got = spawn_all(), want = SPAWN_ANSWER;
  } else if (!strcmp(w, "nqueens")) {
    nq_board b = {{0}};
    got = nqueens(b, 0), want = NQUEENS_ANSWER;
  } else if (!strcmp(w, "yield") || !strcmp(w, "chan")) {
    return peers_na("serial", w, workers, "no coroutines to switch between");
  } else {
    fprintf(stderr, "unknown workload %s\n", w);
    return 2;
  }
  double t = peers_now() - t0;
  return peers_report("serial", w, workers, t, got == want);
}
