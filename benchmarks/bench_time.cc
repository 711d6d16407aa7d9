// bench_time — timers (weft/time.h).
//
//   BM_Sleepers     100,000 coroutines asleep at once (2 workers): the CPU
//                   the whole process uses while they sleep, as a percentage
//                   of one core (target: < 1 %), over a one-second window
//                   that starts when all of them are asleep (they sleep for a
//                   minute; the root then cancels them all, and awaits them).
//                   Also: the time to spawn them and see all asleep, and to
//                   wake (cancel) and finish them all.
//   BM_SleepWake    one coroutine sleeping 100 us, again and again (1
//                   worker, nothing else to run: the worker parks for each
//                   sleep): the real time per sleep shows the timer's
//                   overshoot (what a futex timed wait costs here).
#include <benchmark/benchmark.h>

#include <sys/resource.h>

#include <cerrno>
#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "bench_common.h"
#include "weft.h"

namespace {

constexpr uint64_t kMs = 1000000;

double cpu_seconds() {
  rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return (double)ru.ru_utime.tv_sec + (double)ru.ru_stime.tv_sec +
         1e-6 * (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
}

struct Sleepers {
  long n;
  uint64_t deadline;
  std::atomic<long> asleep{0};
  double cpu_pct = 0, spawn_ms = 0, wake_ms = 0;
  const char *error = nullptr;
};

Sleepers *g_s;

void *sleeper(void *arg) {
  (void)arg;
  g_s->asleep.fetch_add(1, std::memory_order_relaxed);
  if (weft_sleep_until(g_s->deadline) != ECANCELED) abort();
  return nullptr;
}

void *sleepers_root(void *) {
  Sleepers *s = g_s;
  std::vector<weft_future *> t((size_t)s->n);
  // Far enough ahead for the spawns and the window (spawning 10^5 stacks
  // takes a few hundred ms here).
  uint64_t t0 = weft_now();
  s->deadline = t0 + 60000 * kMs;
  for (long i = 0; i < s->n; i++)
    if (int rc = weft_spawn(sleeper, (void *)(intptr_t)i, &t[(size_t)i])) {
      s->error = weft_strerror(rc);
      return nullptr;
    }
  while (s->asleep.load(std::memory_order_relaxed) < s->n) weft_sleep(kMs);
  s->spawn_ms = 1e-6 * (double)(weft_now() - t0);
  if (weft_sleep(100 * kMs)) abort(); // settle: the last ones are really suspended
  uint64_t w0 = weft_now();
  double c0 = cpu_seconds();
  if (weft_sleep(1000 * kMs)) abort(); // the window: this root sleeps too
  double c1 = cpu_seconds();
  uint64_t w1 = weft_now();
  s->cpu_pct = 100.0 * (c1 - c0) / (1e-9 * (double)(w1 - w0));
  for (auto f : t) weft_cancel(f);
  for (auto f : t) {
    weft_await(f, nullptr);
    weft_future_release(f);
  }
  s->wake_ms = 1e-6 * (double)(weft_now() - w1);
  return nullptr;
}

void BM_Sleepers(benchmark::State &state) {
  weft_runtime *rt = bench_runtime(state, 2, 16 * 1024); // the smallest stacks: 10^5 of them
  if (!rt) return;
  Sleepers s;
  s.n = state.range(0);
  g_s = &s;
  double cpu = 0;
  for (auto _ : state) {
    s.asleep = 0;
    weft_run_until_complete(rt, sleepers_root, nullptr, nullptr);
    cpu = s.cpu_pct;
  }
  if (s.error) {
    state.SkipWithError(s.error);
    weft_runtime_destroy(rt);
    return;
  }
  state.counters["spawn_ms"] = s.spawn_ms;
  state.counters["cpu_pct_while_asleep"] = cpu;
  state.counters["wake_all_ms"] = s.wake_ms;
  weft_runtime_destroy(rt);
}
BENCHMARK(BM_Sleepers)->Arg(100000)->Iterations(1)->UseRealTime()->Unit(benchmark::kMillisecond);

long g_sleeps;
void *sleep_loop(void *) {
  for (long i = 0; i < g_sleeps; i++)
    if (weft_sleep(100000)) abort();
  return nullptr;
}

void BM_SleepWake(benchmark::State &state) {
  weft_runtime *rt = bench_runtime(state, 1);
  if (!rt) return;
  g_sleeps = 1000;
  for (auto _ : state) weft_run_until_complete(rt, sleep_loop, nullptr, nullptr);
  double sleeps = (double)g_sleeps * (double)state.iterations();
  state.counters["per_sleep"] =
      benchmark::Counter(sleeps, benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
  weft_runtime_destroy(rt);
}
BENCHMARK(BM_SleepWake)->UseRealTime()->Unit(benchmark::kMillisecond);

} // namespace
