// bench_runtime — the runtime (weft/runtime.h): switches between tasks,
// spawn + await, and two fork-join programs, over worker counts.
//
//   BM_Yield       two tasks on one worker yielding to each other; time per
//                  switch (baseline: BM_RawJump in bench_coro.cc)
//   BM_SpawnAwait  spawn a trivial task and await it, in a loop in one task
//   BM_Skynet      1,000,000 leaves, 10 children per node (sum 499999500000)
//   BM_Fib         fib(30), one spawn per call, no cut-off (832040)
//   BM_FibSerial   the same recursion as plain C calls: the baseline
//
// The runtime is created before timing and destroyed after; each iteration
// is one weft_run_until_complete. Real time throughout (the work happens on
// worker threads). Worker counts: 1, 2, and up to the CPUs this process may
// use (at least 2, so the 2-worker figures exist on any machine).
// Counters: items_per_second (tasks or switches), and for fork-join
// peak_rss_MiB, the process's high-water mark (VmHWM) — meaningful when the
// benchmark runs alone (--benchmark_filter=BM_Fib), as the README's figure is.
#include <benchmark/benchmark.h>

#include <sched.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "bench_common.h"
#include "weft.h"

namespace {


double peak_rss_mib() {
  FILE *f = fopen("/proc/self/status", "r");
  if (!f) return 0;
  char line[256];
  double kib = 0;
  while (fgets(line, sizeof line, f))
    if (strncmp(line, "VmHWM:", 6) == 0) kib = atof(line + 6);
  fclose(f);
  return kib / 1024.0;
}

// ---- yield ------------------------------------------------------------------
long g_yields;
void *yielder(void *) {
  for (long i = 0; i < g_yields; i++) weft_yield();
  return nullptr;
}
void *yield_root(void *) {
  weft_future *a, *b;
  weft_spawn(yielder, nullptr, &a);
  weft_spawn(yielder, nullptr, &b);
  weft_await(b, nullptr);
  weft_await(a, nullptr);
  weft_future_release(a);
  weft_future_release(b);
  return nullptr;
}

void BM_Yield(benchmark::State &state) {
  weft_runtime *rt = bench_runtime(state, 1);
  if (!rt) return;
  g_yields = 1000000;
  for (auto _ : state) weft_run_until_complete(rt, yield_root, nullptr, nullptr);
  // Two tasks, g_yields each: every yield is one switch to the other task.
  double switches = 2.0 * (double)g_yields * (double)state.iterations();
  state.counters["per_switch"] =
      benchmark::Counter(switches, benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
  state.SetItemsProcessed((int64_t)switches);
  weft_runtime_destroy(rt);
}
BENCHMARK(BM_Yield)->UseRealTime()->Unit(benchmark::kMillisecond);

// ---- spawn + await -------------------------------------------------------------
long g_spawns;
void *trivial(void *arg) { return arg; }
void *spawn_await_root(void *) {
  for (long i = 0; i < g_spawns; i++) {
    weft_future *t;
    if (weft_spawn(trivial, nullptr, &t)) abort();
    weft_join(t, nullptr);
  }
  return nullptr;
}

void BM_SpawnAwait(benchmark::State &state) {
  weft_runtime *rt = bench_runtime(state, (unsigned)state.range(0));
  if (!rt) return;
  g_spawns = 1000000;
  for (auto _ : state) weft_run_until_complete(rt, spawn_await_root, nullptr, nullptr);
  double tasks = (double)g_spawns * (double)state.iterations();
  state.counters["per_task"] =
      benchmark::Counter(tasks, benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
  state.SetItemsProcessed((int64_t)tasks);
  weft_runtime_destroy(rt);
}

// ---- skynet ------------------------------------------------------------------------
struct SkyArg {
  long num, size;
};
void *skynet(void *p) {
  SkyArg a = *static_cast<SkyArg *>(p);
  if (a.size == 1) return (void *)(intptr_t)a.num;
  long sub = a.size / 10, sum = 0;
  SkyArg args[10];
  weft_future *t[10];
  for (int i = 0; i < 10; i++) {
    args[i] = SkyArg{a.num + i * sub, sub};
    if (weft_spawn(skynet, &args[i], &t[i])) abort();
  }
  for (int i = 0; i < 10; i++) {
    void *r;
    weft_join(t[i], &r);
    sum += (long)(intptr_t)r;
  }
  return (void *)(intptr_t)sum;
}

void BM_Skynet(benchmark::State &state) {
  weft_runtime *rt = bench_runtime(state, (unsigned)state.range(0));
  if (!rt) return;
  SkyArg root{0, 1000000};
  for (auto _ : state) {
    void *r;
    weft_run_until_complete(rt, skynet, &root, &r);
    if ((intptr_t)r != 499999500000) state.SkipWithError("wrong skynet sum");
  }
  state.SetItemsProcessed((int64_t)1111111 * state.iterations());
  state.counters["peak_rss_MiB"] = peak_rss_mib();
  weft_runtime_destroy(rt);
}

// ---- fib -------------------------------------------------------------------------------
void *fib(void *arg) {
  intptr_t n = (intptr_t)arg;
  if (n < 2) return (void *)n;
  weft_future *t;
  void *a;
  if (weft_spawn(fib, (void *)(n - 1), &t)) abort();
  intptr_t b = (intptr_t)fib((void *)(n - 2));
  weft_join(t, &a);
  return (void *)((intptr_t)a + b);
}

constexpr long kFibCalls30 = 1664079; // calls of fib(n) for n = 30

void BM_Fib(benchmark::State &state) {
  weft_runtime *rt = bench_runtime(state, (unsigned)state.range(0));
  if (!rt) return;
  for (auto _ : state) {
    void *r;
    weft_run_until_complete(rt, fib, (void *)30, &r);
    if ((intptr_t)r != 832040) state.SkipWithError("wrong fib");
  }
  state.SetItemsProcessed(kFibCalls30 * state.iterations());
  state.counters["peak_rss_MiB"] = peak_rss_mib();
  weft_runtime_destroy(rt);
}

__attribute__((noinline)) long fib_serial(long n) {
  return n < 2 ? n : fib_serial(n - 1) + fib_serial(n - 2);
}
void BM_FibSerial(benchmark::State &state) {
  for (auto _ : state) {
    long r = fib_serial(30);
    benchmark::DoNotOptimize(r);
  }
  state.SetItemsProcessed(kFibCalls30 * state.iterations());
}
BENCHMARK(BM_FibSerial)->UseRealTime()->Unit(benchmark::kMillisecond);

void worker_counts(benchmark::internal::Benchmark *b) {
  cpu_set_t set;
  long n = sched_getaffinity(0, sizeof set, &set) == 0 ? CPU_COUNT(&set) : 2;
  if (n < 2) n = 2;
  for (long w = 1; w <= n; w *= 2) b->Arg(w);
  if ((n & (n - 1)) != 0) b->Arg(n);
  b->ArgName("workers");
}

BENCHMARK(BM_SpawnAwait)->Apply(worker_counts)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Skynet)->Apply(worker_counts)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Fib)->Apply(worker_counts)->UseRealTime()->Unit(benchmark::kMillisecond);

} // namespace
