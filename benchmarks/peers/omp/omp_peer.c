/* OpenMP's side of the peer comparison, written as OpenMP users write it:
 * one `parallel` region whose `single` thread creates the root, `#pragma omp
 * task` for every child and `#pragma omp taskwait` to join, thread count from
 * omp_set_num_threads(). Built twice: with gcc (libgomp) and with clang
 * (LLVM's libomp); PEER_NAME tells which. OpenMP tasks are tied and
 * run-to-completion, and `taskyield` is only a hint (a no-op in libgomp), so
 * `yield` and `chan` print "n/a". */
#include "../common.h" /* first: it sets _POSIX_C_SOURCE */

#include <omp.h>

#ifndef PEER_NAME
#define PEER_NAME "omp"
#endif

static long fib(int n) {
  if (n < 2) return n;
  long a, b;
#pragma omp task shared(a)
  a = fib(n - 1);
  b = fib(n - 2);
#pragma omp taskwait
  return a + b;
}

static long skynet(long num, long size) {
  if (size == 1) return num;
  long sub = size / SKYNET_DIV, results[SKYNET_DIV];
  for (int i = 0; i < SKYNET_DIV; i++) {
#pragma omp task shared(results)
    results[i] = skynet(num + i * sub, sub);
  }
#pragma omp taskwait
  long sum = 0;
  for (int i = 0; i < SKYNET_DIV; i++) sum += results[i];
  return sum;
}

static long spawn_all(void) {
  long *results = malloc(sizeof(long) * SPAWN_N);
  if (!results) return -1;
  for (long i = 0; i < SPAWN_N; i++) {
#pragma omp task
    results[i] = i;
  }
#pragma omp taskwait
  long sum = 0;
  for (long i = 0; i < SPAWN_N; i++) sum += results[i];
  free(results);
  return sum;
}

static long nqueens(nq_board b, int row) {
  if (row == NQUEENS_N) return 1;
  long counts[NQUEENS_N] = {0};
  for (int col = 0; col < NQUEENS_N; col++) {
    if (!nq_safe(&b, row, col)) continue;
    nq_board child = b;
    child.col[row] = (signed char)col;
#pragma omp task shared(counts)
    counts[col] = nqueens(child, row + 1);
  }
#pragma omp taskwait
  long sum = 0;
  for (int i = 0; i < NQUEENS_N; i++) sum += counts[i];
  return sum;
}

int main(int argc, char **argv) {
  const char *w;
  int workers;
  peers_args(argc, argv, &w, &workers);
  if (!strcmp(w, "yield") || !strcmp(w, "chan"))
    return peers_na(PEER_NAME, w, workers, "OpenMP tasks cannot suspend (taskyield is a hint)");
  int which = !strcmp(w, "fib")      ? 1
              : !strcmp(w, "skynet") ? 2
              : !strcmp(w, "spawn")  ? 3
              : !strcmp(w, "nqueens") ? 4
                                      : 0;
  if (!which) {
    fprintf(stderr, "unknown workload %s\n", w);
    return 2;
  }

  omp_set_num_threads(workers);
  /* Start the thread team before the clock (later regions reuse it). */
  int team = 0;
#pragma omp parallel
  {
#pragma omp atomic
    team++;
  }
  if (team != workers) fprintf(stderr, "%s: a team of %d, not %d\n", PEER_NAME, team, workers);

  long got = 0, want = 0;
  double t0 = peers_now();
#pragma omp parallel
#pragma omp single
  switch (which) {
    case 1: got = fib(FIB_N), want = FIB_ANSWER; break;
    case 2: got = skynet(0, SKYNET_LEAVES), want = SKYNET_ANSWER; break;
    case 3: got = spawn_all(), want = SPAWN_ANSWER; break;
    case 4: {
      nq_board b = {{0}};
      got = nqueens(b, 0), want = NQUEENS_ANSWER;
      break;
    }
  }
  double t = peers_now() - t0;
  if (got != want) fprintf(stderr, "%s %s: got %ld, want %ld\n", PEER_NAME, w, got, want);
  return peers_report(PEER_NAME, w, workers, t, got == want);
}
