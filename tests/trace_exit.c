/* A traced program that returns from main with its runtime still running
 * (never destroyed): the exit handler must write the trace of what was
 * recorded until then — valid JSON, marked incomplete — while the workers
 * go on appending. Checked by the CTests trace_written_at_exit_*
 * (tests/CMakeLists.txt). Usage: trace_exit PATH MODE, MODE one of
 *
 *   asleep       one task, asleep for ever (the workers idle).
 *   busy         2 roots on 2 workers, each spawning, naming and awaiting
 *                children that yield, and a plain thread spawning and naming
 *                tasks from outside, all still at it when main returns;
 *                main returns once 16000 children have been awaited (and
 *                two of the outsider's tasks): over 24
 *                records each, more than two 2 MiB chunks hold (131072
 *                records each), so a worker's buffer has more than one. Run
 *                with WEFT_TRACE_MAX_MB=2 (one chunk per buffer), a worker's
 *                buffer is full before main returns: it ends exactly at its
 *                chunk's end.
 *   early        the roots only, children not named, and main returns after
 *                20: nothing but the buffers' published positions orders
 *                the workers' last records before the exit handler reads
 *                them, and the trace is small enough that the handler reads
 *                them while ThreadSanitizer still remembers who wrote them —
 *                it reports a missing release or acquire there (a large
 *                trace takes long enough to write for it to forget).
 *   early_named  the same with children named: the names' publication.
 *
 * Once that many children have been awaited, the roots and the outsider go
 * on at one child per millisecond each: still running when the exit
 * handler reads, without filling gigabytes while a loaded machine keeps
 * main from getting there. The busy modes print how many children main saw
 * awaited ("awaited N").
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "weft.h"

static const struct mode {
  const char *name;
  long children; /* main returns once this many are awaited; 0: asleep */
  int named, outsider;
} modes[] = {
    {"asleep", 0, 0, 0},
    {"busy", 16000, 1, 1},
    {"early", 20, 0, 0},
    {"early_named", 20, 1, 0},
};

static const struct mode *mode;
static atomic_int asleep;
static atomic_long awaited;
static atomic_long outside_awaited; /* the outsider's tasks, awaited */

static void nap_ms(long ms) {
  struct timespec ts = {0, ms * 1000000L};
  nanosleep(&ts, NULL);
}

static void *sleeper(void *arg) {
  (void)arg;
  atomic_store(&asleep, 1);
  weft_sleep_until(WEFT_NO_DEADLINE);
  return NULL;
}

/* Yields make records cheaply: two per run slice in the JSON. */
static void *child(void *arg) {
  for (int i = 0; i < 8; i++) weft_yield();
  return arg;
}

/* Past the count main waits for: slow down. */
static int paced(void) { return atomic_load(&awaited) >= mode->children; }

/* Spawns, names and awaits children for ever. */
static void *root(void *arg) {
  (void)arg;
  for (;;) {
    if (paced()) weft_sleep(1000000);
    weft_future *t;
    if (weft_spawn(child, NULL, &t)) abort();
    if (mode->named && weft_task_set_name(t, "child")) abort(); /* an entry per child */
    if (weft_await(t, NULL)) abort();
    weft_future_release(t);
    atomic_fetch_add(&awaited, 1);
    weft_yield();
  }
  return NULL;
}

/* From outside the workers: records in the outside buffer, names in the
 * outside list, while the exit handler reads them. */
static void *outsider(void *arg) {
  weft_runtime *rt = arg;
  for (;;) {
    if (paced()) nap_ms(1);
    weft_future *t;
    if (weft_runtime_spawn(rt, child, NULL, &t)) abort();
    if (weft_task_set_name(t, "outside")) abort();
    if (weft_await(t, NULL)) abort();
    weft_future_release(t);
    atomic_fetch_add(&outside_awaited, 1);
  }
  return NULL;
}

int main(int argc, char **argv) {
  if (argc < 3) return 2;
  for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++)
    if (strcmp(argv[2], modes[i].name) == 0) mode = &modes[i];
  if (!mode) return 2;
  weft_runtime_config cfg;
  weft_runtime_config_init(&cfg);
  cfg.workers = 2;
  cfg.trace_path = argv[1];
  weft_runtime *rt;
  if (weft_runtime_create(&rt, &cfg)) return 1;
  if (!mode->children) {
    if (weft_runtime_spawn(rt, sleeper, NULL, NULL)) return 1;
    while (!atomic_load(&asleep)) nap_ms(1);
    return 0; /* no weft_runtime_destroy */
  }
  for (int i = 0; i < 2; i++)
    if (weft_runtime_spawn(rt, root, NULL, NULL)) return 1;
  pthread_t th;
  if (mode->outsider && pthread_create(&th, NULL, outsider, rt)) return 1;
  /* The outsider's tasks too: the checker wants their names in the trace,
   * and on a loaded machine the workers' children can all be done before
   * the outsider's thread has had the CPU for one. (Found as a flaky
   * failure, "names given on workers and outside".) */
  long n;
  while ((n = atomic_load(&awaited)) < mode->children ||
         (mode->outsider && atomic_load(&outside_awaited) < 2))
    nap_ms(1);
  printf("awaited %ld\n", n);
  fflush(stdout);
  return 0; /* no weft_runtime_destroy; the roots (and the outsider) run on */
}
