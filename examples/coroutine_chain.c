/* asyncio_coroutine_chain.py, in C: one coroutine starts another and waits
 * for its result; two phases that must run in order, each free to run
 * alongside other work. Values are heap strings the awaiting side frees. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "weft.h"

static void *phase1(void *arg) {
  (void)arg;
  printf("in phase1\n");
  return strdup("result1");
}

static void *phase2(void *arg) {
  const char *from = arg;
  printf("in phase2\n");
  char *s = malloc(strlen(from) + 32);
  if (s) sprintf(s, "result2 derived from %s", from);
  return s;
}

/* Spawns fn(arg) and awaits it: Python's `await fn(arg)`. */
static char *await_call(weft_fn fn, void *arg) {
  weft_future *task;
  void *value = NULL;
  if (weft_spawn(fn, arg, &task) != 0) return NULL;
  if (weft_join(task, &value) != 0) value = NULL; /* and gives the handle up */
  return value;
}

static void *outer(void *arg) {
  (void)arg;
  printf("in outer\n");
  printf("waiting for result1\n");
  char *result1 = await_call(phase1, NULL);
  printf("waiting for result2\n");
  char *result2 = await_call(phase2, result1);
  char *both = malloc(256);
  if (both) snprintf(both, 256, "('%s', '%s')", result1, result2);
  free(result1);
  free(result2);
  return both;
}

int main(void) {
  weft_runtime *loop;
  if (weft_runtime_create(&loop, NULL) != 0) return 1;
  void *value;
  int rc = weft_run_until_complete(loop, outer, NULL, &value);
  if (rc == 0) printf("return value: %s\n", (char *)value);
  free(value);
  weft_runtime_destroy(loop);
  return rc != 0;
}
