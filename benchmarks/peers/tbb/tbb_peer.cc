// oneTBB's side of the peer comparison, written as TBB users write it:
// tbb::task_group run()/wait() for fork-join, parallelism capped with
// tbb::global_control. TBB tasks are run-to-completion (no stacks of their
// own), so `yield` and `chan` have no TBB form and print "n/a".
#include <tbb/global_control.h>
#include <tbb/task_group.h>

#include <vector>

#include "../common.h"

static long fib(int n) {
  if (n < 2) return n;
  long a, b;
  tbb::task_group g;
  g.run([&] { a = fib(n - 1); });
  b = fib(n - 2);
  g.wait();
  return a + b;
}

static long skynet(long num, long size) {
  if (size == 1) return num;
  long sub = size / SKYNET_DIV, results[SKYNET_DIV];
  tbb::task_group g;
  for (int i = 0; i < SKYNET_DIV; i++)
    g.run([&results, i, num, sub] { results[i] = skynet(num + i * sub, sub); });
  g.wait();
  long sum = 0;
  for (long r : results) sum += r;
  return sum;
}

static long spawn_all() {
  std::vector<long> results(SPAWN_N);
  tbb::task_group g;
  for (long i = 0; i < SPAWN_N; i++) g.run([&results, i] { results[i] = i; });
  g.wait();
  long sum = 0;
  for (long r : results) sum += r;
  return sum;
}

static long nqueens(const nq_board &b, int row) {
  if (row == NQUEENS_N) return 1;
  long counts[NQUEENS_N] = {0};
  tbb::task_group g;
  for (int col = 0; col < NQUEENS_N; col++) {
    if (!nq_safe(&b, row, col)) continue;
    nq_board child = b;
    child.col[row] = (signed char)col;
    g.run([&counts, child, row, col] { counts[col] = nqueens(child, row + 1); });
  }
  g.wait();
  long sum = 0;
  for (long c : counts) sum += c;
  return sum;
}

int main(int argc, char **argv) {
  const char *w;
  int workers;
  peers_args(argc, argv, &w, &workers);
  if (!strcmp(w, "yield") || !strcmp(w, "chan"))
    return peers_na("tbb", w, workers, "TBB tasks cannot suspend");

  tbb::global_control limit(tbb::global_control::max_allowed_parallelism, workers);
  {  // Start the worker threads before the clock.
    tbb::task_group g;
    for (int i = 0; i < 4 * workers; i++) g.run([] {});
    g.wait();
  }

  long got, want;
  double t0 = peers_now();
  if (!strcmp(w, "fib")) {
    got = fib(FIB_N), want = FIB_ANSWER;
  } else if (!strcmp(w, "skynet")) {
    got = skynet(0, SKYNET_LEAVES), want = SKYNET_ANSWER;
  } else if (!strcmp(w, "spawn")) {
    got = spawn_all(), want = SPAWN_ANSWER;
  } else if (!strcmp(w, "nqueens")) {
    got = nqueens(nq_board{}, 0), want = NQUEENS_ANSWER;
  } else {
    fprintf(stderr, "unknown workload %s\n", w);
    return 2;
  }
  double t = peers_now() - t0;
  if (got != want) fprintf(stderr, "tbb %s: got %ld, want %ld\n", w, got, want);
  return peers_report("tbb", w, workers, t, got == want);
}
