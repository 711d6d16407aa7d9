/* worker_pool — a pool of worker coroutines, and a deadline on the whole
 * batch.
 *
 * The main coroutine puts NJOBS jobs in a channel and starts NWORKERS
 * workers in a scope. Each worker takes jobs from the channel and sends
 * each result back on a second channel. Most jobs take a millisecond; some
 * hang (a backend that never answers: they sleep for a minute). The main
 * coroutine collects results with weft_chan_recv_until() until it has them
 * all or the deadline comes. At the deadline it cancels the scope — the
 * workers stuck in a hung job get ECANCELED from their weft_sleep() and
 * return — joins it, and counts the jobs that never started (still in the
 * channel). Jobs are taken in FIFO order and every hung job holds its
 * worker, so which jobs end how does not depend on timing: with jobs 1, 3
 * and 4 hanging and three workers, jobs 0 and 2 finish, 1, 3 and 4 are
 * cancelled at the deadline, and 5 to 7 never start.
 *
 * Usage: worker_pool [deadline_ms]   (default 2000; the quick jobs need
 * only a few milliseconds, the rest is margin for a loaded machine). */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "weft.h"

#define NJOBS 8
#define NWORKERS 3
#define MS 1000000ull

enum job_state { NOT_STARTED, RUNNING, DONE, CANCELLED };
static const char *const state_name[] = {"not started", "running", "done", "cancelled"};

static weft_chan *jobs;    /* job numbers, buffered: all of them from the start */
static weft_chan *results; /* unbounded: a worker never waits to report */
/* Written by the worker running the job; read by main after the join. */
static enum job_state state[NJOBS];
static long result[NJOBS];

static int hangs(long job) { return job == 1 || job == 3 || job == 4; }

static int worker(void *arg) {
  (void)arg;
  for (;;) {
    void *v;
    int rc = weft_chan_recv(jobs, &v);
    if (rc == WEFT_CLOSED) return 0; /* no jobs left */
    if (rc) return rc;               /* ECANCELED: the pool is being shut */
    long job = (long)(intptr_t)v;
    state[job] = RUNNING;
    rc = weft_sleep(hangs(job) ? 60000 * MS : 1 * MS); /* the "work" */
    if (rc) {
      state[job] = CANCELLED;
      return rc;
    }
    result[job] = job * job;
    state[job] = DONE;
    if ((rc = weft_chan_send(results, (void *)(intptr_t)job)) != 0) return rc;
  }
}

static uint64_t deadline_ms = 2000;

static void *pool(void *arg) {
  (void)arg;
  for (long j = 0; j < NJOBS; j++) weft_chan_send(jobs, (void *)(intptr_t)j);
  weft_chan_close(jobs); /* workers stop when it is drained */

  weft_scope *s;
  int rc = weft_scope_create(&s, NULL);
  if (rc) return (void *)(intptr_t)rc;
  for (int w = 0; w < NWORKERS; w++) weft_scope_spawn(s, worker, NULL, NULL);

  uint64_t deadline = weft_now() + deadline_ms * MS;
  int got = 0;
  while (got < NJOBS) {
    void *v;
    rc = weft_chan_recv_until(results, deadline, &v);
    if (rc == ETIMEDOUT) break;
    if (rc) return (void *)(intptr_t)rc;
    got++;
  }
  if (got < NJOBS) {
    printf("deadline: %d of %d results, cancelling the pool\n", got, NJOBS);
    weft_scope_cancel(s);
  }
  rc = weft_scope_join(s); /* every worker has returned when this does */
  printf("pool joined: %s\n", rc ? weft_err_name(rc) : "ok");

  int never = 0;
  void *v;
  while (weft_chan_try_recv(jobs, &v) == 0) never++; /* taken by nobody */
  for (int j = 0; j < NJOBS; j++) {
    if (state[j] == DONE)
      printf("job %d: done, result %ld\n", j, result[j]);
    else
      printf("job %d: %s\n", j, state_name[state[j]]);
  }
  printf("%d never started\n", never);
  return NULL;
}

int main(int argc, char **argv) {
  if (argc > 1) deadline_ms = strtoull(argv[1], NULL, 10);
  weft_runtime *rt;
  if (weft_runtime_create(&rt, NULL) != 0) return 1;
  if (weft_chan_create(&jobs, NJOBS, 0) || weft_chan_create(&results, WEFT_CHAN_UNBOUNDED, 0))
    return 1;
  void *rc = NULL;
  int err = weft_run_until_complete(rt, pool, NULL, &rc);
  weft_runtime_destroy(rt);
  weft_chan_destroy(jobs);
  weft_chan_destroy(results);
  return err || rc ? 1 : 0;
}
