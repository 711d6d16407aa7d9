// bench_common — what the benchmark files share: a runtime for a benchmark.
#ifndef WEFT_BENCH_COMMON_H
#define WEFT_BENCH_COMMON_H

#include <benchmark/benchmark.h>

#include <cstddef>

#include "weft.h"

// A runtime of `workers` workers (and `stack_size` bytes of stack per task,
// 0: the default), or nullptr with the benchmark marked as skipped.
inline weft_runtime *bench_runtime(benchmark::State &state, unsigned workers,
                                   size_t stack_size = 0) {
  weft_runtime_config cfg;
  weft_runtime_config_init(&cfg);
  cfg.workers = workers;
  cfg.stack_size = stack_size;
  weft_runtime *rt = nullptr;
  int rc = weft_runtime_create(&rt, &cfg);
  if (rc) state.SkipWithError(weft_strerror(rc));
  return rt;
}

#endif
