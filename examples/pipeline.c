/* pipeline — a producer, N workers and a consumer connected by channels.
 *
 *   pipeline [items [stage-workers [runtime-workers]]]
 *
 * The producer sends the numbers 1..items into `jobs` (a bounded channel:
 * it waits when the workers fall behind) and closes it. Each worker takes
 * numbers until `jobs` is closed and drained (WEFT_CLOSED), computes the
 * length of the number's Collatz chain, and sends the result into
 * `results`. The workers run in a scope; the task that joins the scope
 * closes `results` once every worker is done, which ends the consumer's
 * loop. The consumer (the root task) keeps the longest chain. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "weft.h"

struct pipeline {
  long items;
  int nworkers;
  weft_chan *jobs, *results;
};

static long collatz_steps(long n) {
  long steps = 0;
  while (n != 1) {
    n = (n & 1) ? 3 * n + 1 : n / 2;
    steps++;
  }
  return steps;
}

/* A result packs the number and its chain length into one pointer. */
#define PACK(n, steps) ((void *)(intptr_t)((n) << 12 | (steps)))
#define NUMBER(v) ((long)((intptr_t)(v) >> 12))
#define STEPS(v) ((long)((intptr_t)(v) & 0xfff))

static void *producer(void *arg) {
  struct pipeline *p = arg;
  for (long n = 1; n <= p->items; n++)
    if (weft_chan_send(p->jobs, (void *)(intptr_t)n) != 0) break;
  weft_chan_close(p->jobs); /* the workers drain what is left, then stop */
  return NULL;
}

static int worker(void *arg) {
  struct pipeline *p = arg;
  void *v;
  int rc;
  while ((rc = weft_chan_recv(p->jobs, &v)) == 0) {
    long n = (long)(intptr_t)v;
    if ((rc = weft_chan_send(p->results, PACK(n, collatz_steps(n)))) != 0) return rc;
  }
  return rc == WEFT_CLOSED ? 0 : rc; /* closed: all done; ECANCELED: stop */
}

/* Runs the workers in a scope; when all are done, no result can come any more. */
static void *stage(void *arg) {
  struct pipeline *p = arg;
  weft_scope *s;
  int rc = weft_scope_create(&s, NULL);
  for (int i = 0; rc == 0 && i < p->nworkers; i++) rc = weft_scope_spawn(s, worker, p, NULL);
  if (rc) weft_scope_fail(s, rc);
  rc = weft_scope_join(s);
  weft_chan_close(p->results);
  return (void *)(intptr_t)rc;
}

static void *consumer(void *arg) {
  struct pipeline *p = arg;
  weft_future *prod, *st;
  if (weft_spawn(producer, p, &prod) || weft_spawn(stage, p, &st)) {
    fprintf(stderr, "pipeline: cannot spawn\n");
    exit(1);
  }
  long count = 0, best = 0, best_steps = -1;
  void *v;
  while (weft_chan_recv(p->results, &v) == 0) {
    count++;
    if (STEPS(v) > best_steps || (STEPS(v) == best_steps && NUMBER(v) < best)) {
      best = NUMBER(v);
      best_steps = STEPS(v);
    }
  }
  void *stage_rc;
  weft_await(prod, NULL);
  weft_await(st, &stage_rc);
  weft_future_release(prod);
  weft_future_release(st);
  if ((intptr_t)stage_rc) fprintf(stderr, "pipeline: %s\n", weft_strerror((int)(intptr_t)stage_rc));
  printf("%ld results; longest Collatz chain below %ld: %ld (%ld steps)\n", count, p->items + 1,
         best, best_steps);
  return (void *)(intptr_t)(count == p->items ? 0 : 1);
}

int main(int argc, char **argv) {
  struct pipeline p = {argc > 1 ? atol(argv[1]) : 100000, argc > 2 ? atoi(argv[2]) : 4, NULL, NULL};
  if (p.items < 1 || p.items >= (1L << 40) || p.nworkers < 1) {
    fprintf(stderr, "usage: pipeline [items [stage-workers [runtime-workers]]]\n");
    return 2;
  }
  weft_runtime_config cfg;
  weft_runtime_config_init(&cfg);
  cfg.workers = argc > 3 ? (unsigned)atoi(argv[3]) : 0;
  weft_runtime *rt;
  int rc = weft_runtime_create(&rt, &cfg);
  if (rc == 0) rc = weft_chan_create(&p.jobs, 64, 0);
  if (rc == 0) rc = weft_chan_create(&p.results, 64, 0);
  if (rc) {
    fprintf(stderr, "pipeline: %s\n", weft_strerror(rc));
    return 1;
  }
  void *failed = NULL;
  rc = weft_run_until_complete(rt, consumer, &p, &failed);
  weft_runtime_destroy(rt);
  weft_chan_destroy(p.jobs);
  weft_chan_destroy(p.results);
  return rc || failed ? 1 : 0;
}
