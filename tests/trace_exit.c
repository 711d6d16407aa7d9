/* A traced program that returns from main with its runtime still running
 * (a task asleep for ever, never destroyed): the trace cannot be written
 * then, and the process must say so on stderr — not write a half file, not
 * stay silent, not crash. argv[1]: the trace path. Checked by the CTest
 * trace_not_destroyed (tests/CMakeLists.txt). */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

#include "weft.h"

static atomic_int asleep;

static void *sleeper(void *arg) {
  (void)arg;
  atomic_store(&asleep, 1);
  weft_sleep_until(WEFT_NO_DEADLINE);
  return NULL;
}

int main(int argc, char **argv) {
  if (argc < 2) return 2;
  weft_runtime_config cfg;
  weft_runtime_config_init(&cfg);
  cfg.workers = 2;
  cfg.trace_path = argv[1];
  weft_runtime *rt;
  if (weft_runtime_create(&rt, &cfg)) return 1;
  if (weft_runtime_spawn(rt, sleeper, NULL, NULL)) return 1;
  while (!atomic_load(&asleep)) weft_sleep(1000000);
  return 0; /* no weft_runtime_destroy */
}
