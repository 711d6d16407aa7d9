/* skynet — the classic scheduler benchmark, as a weft user would write it:
 * a root task spawns 10 children, each spawns 10, down to `leaves` leaves
 * (a power of 10) that return their number; every node returns the sum.
 *
 *   skynet [leaves [workers [trace.json]]]
 *
 * With a trace path, the runtime records a trace and writes it when it is
 * destroyed (open it in https://ui.perfetto.dev, or summarise it with
 * weft-trace summary). Tasks are named by their depth in the tree. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "weft.h"

struct node {
  long num, size;
  int depth;
};

static const char *level_name[] = {"root", "level 1", "level 2", "level 3", "level 4",
                                   "level 5", "level 6", "leaf"};

static void *skynet(void *p) {
  struct node n = *(struct node *)p;
  if (n.size == 1) return (void *)(intptr_t)n.num;
  long sub = n.size / 10, sum = 0;
  struct node kids[10];
  weft_future *t[10];
  for (int i = 0; i < 10; i++) {
    kids[i] = (struct node){n.num + i * sub, sub, n.depth + 1};
    int rc = weft_spawn(skynet, &kids[i], &t[i]);
    if (rc) {
      fprintf(stderr, "spawn: %s\n", weft_strerror(rc));
      abort();
    }
    /* Named for the trace (a no-op when not tracing). */
    weft_task_set_name(t[i], sub == 1 ? "leaf" : level_name[n.depth + 1 < 7 ? n.depth + 1 : 6]);
  }
  for (int i = 0; i < 10; i++) {
    void *r;
    weft_join(t[i], &r); /* waits, reads, and gives the handle up */
    sum += (long)(intptr_t)r;
  }
  return (void *)(intptr_t)sum;
}

/* The root names itself; every node names the children it spawns. */
static void *root(void *p) {
  weft_task_set_name(weft_task_current(), level_name[0]);
  return skynet(p);
}

int main(int argc, char **argv) {
  long leaves = argc > 1 ? atol(argv[1]) : 1000000;
  weft_runtime_config cfg;
  weft_runtime_config_init(&cfg);
  cfg.workers = argc > 2 ? (unsigned)atoi(argv[2]) : 0;
  cfg.trace_path = argc > 3 ? argv[3] : NULL;
  long check = 1;
  while (check < leaves) check *= 10;
  if (leaves < 1 || check != leaves) {
    fprintf(stderr, "usage: skynet [leaves (a power of 10) [workers [trace.json]]]\n");
    return 2;
  }
  weft_runtime *rt;
  int rc = weft_runtime_create(&rt, &cfg);
  if (rc) {
    fprintf(stderr, "weft_runtime_create: %s\n", weft_strerror(rc));
    return 1;
  }
  struct node top = {0, leaves, 0};
  struct timespec a, b;
  clock_gettime(CLOCK_MONOTONIC, &a);
  void *sum;
  rc = weft_run_until_complete(rt, root, &top, &sum);
  clock_gettime(CLOCK_MONOTONIC, &b);
  long expect = leaves * (leaves - 1) / 2;
  printf("skynet(%ld) = %ld on %u workers in %.1f ms%s\n", leaves, (long)(intptr_t)sum,
         weft_runtime_workers(rt), (b.tv_sec - a.tv_sec) * 1e3 + (b.tv_nsec - a.tv_nsec) / 1e6,
         cfg.trace_path ? " (traced)" : "");
  weft_runtime_destroy(rt); /* writes the trace, if any */
  return rc != 0 || (long)(intptr_t)sum != expect;
}
