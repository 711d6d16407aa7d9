/* Shared by the C and C++ peers (serial, weft, oneTBB, OpenMP, Boost.Fiber):
 * the workload sizes and answers, argument parsing, the clock, and the one
 * JSON line every peer prints. The Go and Rust peers repeat these constants;
 * keep them in step (benchmarks/peers/README.md lists them). */
#ifndef WEFT_PEERS_COMMON_H
#define WEFT_PEERS_COMMON_H

#if !defined(_POSIX_C_SOURCE) && !defined(__cplusplus)
#define _POSIX_C_SOURCE 200809L /* clock_gettime under -std=c11 */
#endif

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define FIB_N 30
#define FIB_ANSWER 832040L
#define SKYNET_LEAVES 1000000L
#define SKYNET_DIV 10
#define SKYNET_ANSWER 499999500000L
#define SPAWN_N 1000000L
#define SPAWN_ANSWER 499999500000L /* each task returns its index; the sum */
#define YIELD_SWITCHES 10000000L   /* total, split between two coroutines */
#define CHAN_ROUNDS 1000000L       /* ping-pong round trips (2 messages each) */
#define NQUEENS_N 12
#define NQUEENS_ANSWER 14200L

static inline double peers_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* argv: WORKLOAD WORKERS. Exits 2 on a usage error. */
static inline void peers_args(int argc, char **argv, const char **workload, int *workers) {
  if (argc != 3 || atoi(argv[2]) < 1) {
    fprintf(stderr, "usage: %s fib|skynet|spawn|yield|chan|nqueens WORKERS\n", argv[0]);
    exit(2);
  }
  *workload = argv[1];
  *workers = atoi(argv[2]);
}

/* The one machine-readable line; exits 0 if ok, 1 if the answer was wrong. */
static inline int peers_report(const char *peer, const char *workload, int workers,
                               double seconds, int ok) {
  printf("{\"peer\":\"%s\",\"workload\":\"%s\",\"workers\":%d,\"seconds\":%.6f,\"ok\":%s}\n",
         peer, workload, workers, seconds, ok ? "true" : "false");
  fflush(stdout);
  return ok ? 0 : 1;
}

/* A workload this peer has no idiomatic form of: "seconds":null, exit 0. */
static inline int peers_na(const char *peer, const char *workload, int workers, const char *why) {
  printf("{\"peer\":\"%s\",\"workload\":\"%s\",\"workers\":%d,\"seconds\":null,\"ok\":null,"
         "\"na\":\"%s\"}\n",
         peer, workload, workers, why);
  fflush(stdout);
  return 0;
}

/* nqueens: a board is the column of the queen on each row placed so far. */
typedef struct nq_board {
  signed char col[NQUEENS_N];
} nq_board;

static inline int nq_safe(const nq_board *b, int row, int col) {
  for (int r = 0; r < row; r++) {
    int c = b->col[r];
    if (c == col || c - col == row - r || col - c == row - r) return 0;
  }
  return 1;
}

#endif
