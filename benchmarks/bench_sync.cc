// bench_sync — coordination primitives (weft/chan.h, weft/sync.h).
//
//   BM_ChanPingPong          two tasks on one worker, a round trip over two
//                            unbuffered channels (send, receive on each
//                            side); time per round trip. Baseline: BM_Yield
//                            (two switches make one round trip's floor).
//   BM_ChanPingPongDeadline  the same with weft_chan_send_until /
//                            weft_chan_recv_until and a deadline that never
//                            comes: the cost of arming and removing a timer
//                            on every wait. Baseline: BM_ChanPingPong.
//   BM_MutexUncontended      weft_mutex_lock + weft_mutex_unlock, one
//                            thread; baseline BM_PthreadMutexUncontended.
//   BM_MutexContended        8 tasks on 2 workers incrementing one counter
//                            under a weft_mutex; throughput (items_per_second)
//                            and the longest single wait for the lock
//                            (max_wait_us). Baseline: BM_PthreadMutexContended,
//                            8 plain threads on a pthread mutex.
//
// Real time throughout (the work happens on worker threads).
#include <benchmark/benchmark.h>

#include <pthread.h>
#include <time.h>

#include <algorithm>
#include <atomic>
#include <cstdint>

#include "bench_common.h"
#include "weft.h"

namespace {


uint64_t now_ns() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

// ---- channel ping-pong ------------------------------------------------------------
struct PingPong {
  weft_chan *ping, *pong;
  long rounds;
  bool timed; // the _until calls, with `deadline`
  uint64_t deadline;
};

int pp_send(PingPong *p, weft_chan *ch, void *v) {
  return p->timed ? weft_chan_send_until(ch, v, p->deadline) : weft_chan_send(ch, v);
}
int pp_recv(PingPong *p, weft_chan *ch, void **v) {
  return p->timed ? weft_chan_recv_until(ch, p->deadline, v) : weft_chan_recv(ch, v);
}

void *pong_task(void *arg) {
  auto *p = static_cast<PingPong *>(arg);
  void *v;
  for (long i = 0; i < p->rounds; i++) {
    pp_recv(p, p->ping, &v);
    pp_send(p, p->pong, v);
  }
  return nullptr;
}

void *ping_root(void *arg) {
  auto *p = static_cast<PingPong *>(arg);
  weft_future *t;
  weft_spawn(pong_task, p, &t);
  void *v;
  for (long i = 0; i < p->rounds; i++) {
    pp_send(p, p->ping, reinterpret_cast<void *>(i));
    pp_recv(p, p->pong, &v);
  }
  weft_await(t, nullptr);
  weft_future_release(t);
  return nullptr;
}

void chan_ping_pong(benchmark::State &state, bool timed) {
  weft_runtime *rt = bench_runtime(state, 1);
  if (!rt) return;
  PingPong p{nullptr, nullptr, 100000, timed, weft_now() + 3600ull * 1000000000ull};
  weft_chan_create(&p.ping, 0, 0);
  weft_chan_create(&p.pong, 0, 0);
  for (auto _ : state) weft_run_until_complete(rt, ping_root, &p, nullptr);
  double trips = (double)p.rounds * (double)state.iterations();
  state.counters["per_round_trip"] =
      benchmark::Counter(trips, benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
  state.SetItemsProcessed((int64_t)trips);
  weft_chan_destroy(p.ping);
  weft_chan_destroy(p.pong);
  weft_runtime_destroy(rt);
}

void BM_ChanPingPong(benchmark::State &state) { chan_ping_pong(state, false); }
BENCHMARK(BM_ChanPingPong)->UseRealTime()->Unit(benchmark::kMillisecond);

void BM_ChanPingPongDeadline(benchmark::State &state) { chan_ping_pong(state, true); }
BENCHMARK(BM_ChanPingPongDeadline)->UseRealTime()->Unit(benchmark::kMillisecond);

// ---- uncontended mutex ---------------------------------------------------------------
void BM_MutexUncontended(benchmark::State &state) {
  weft_mutex *m;
  if (weft_mutex_create(&m)) {
    state.SkipWithError("weft_mutex_create");
    return;
  }
  for (auto _ : state) {
    weft_mutex_lock(m);
    weft_mutex_unlock(m);
  }
  state.SetItemsProcessed(state.iterations());
  weft_mutex_destroy(m);
}
BENCHMARK(BM_MutexUncontended)->UseRealTime();

void BM_PthreadMutexUncontended(benchmark::State &state) {
  pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
  for (auto _ : state) {
    pthread_mutex_lock(&m);
    pthread_mutex_unlock(&m);
  }
  state.SetItemsProcessed(state.iterations());
  pthread_mutex_destroy(&m);
}
BENCHMARK(BM_PthreadMutexUncontended)->UseRealTime();

// ---- contended mutex -------------------------------------------------------------------
constexpr int kContenders = 8;

struct Contended {
  weft_mutex *m;
  pthread_mutex_t pm;
  long counter;  // under the lock
  long per;      // increments per contender
  std::atomic<uint64_t> max_wait_ns;
};

void note_wait(Contended *c, uint64_t w) {
  uint64_t cur = c->max_wait_ns.load(std::memory_order_relaxed);
  while (w > cur && !c->max_wait_ns.compare_exchange_weak(cur, w, std::memory_order_relaxed)) {
  }
}

void *contender(void *arg) {
  auto *c = static_cast<Contended *>(arg);
  uint64_t worst = 0;
  for (long i = 0; i < c->per; i++) {
    uint64_t t0 = now_ns();
    weft_mutex_lock(c->m);
    uint64_t t1 = now_ns();
    worst = std::max(worst, t1 - t0);
    c->counter++;
    weft_mutex_unlock(c->m);
  }
  note_wait(c, worst);
  return nullptr;
}

void *contended_root(void *arg) {
  weft_future *t[kContenders];
  for (auto &x : t) weft_spawn(contender, arg, &x);
  for (auto &x : t) {
    weft_await(x, nullptr);
    weft_future_release(x);
  }
  return nullptr;
}

void BM_MutexContended(benchmark::State &state) {
  weft_runtime *rt = bench_runtime(state, 2);
  if (!rt) return;
  Contended c;
  weft_mutex_create(&c.m);
  c.counter = 0;
  c.per = 20000;
  c.max_wait_ns = 0;
  for (auto _ : state) weft_run_until_complete(rt, contended_root, &c, nullptr);
  if (c.counter != (long)kContenders * c.per * (long)state.iterations())
    state.SkipWithError("lost increments");
  state.SetItemsProcessed((int64_t)c.counter);
  state.counters["max_wait_us"] = (double)c.max_wait_ns.load() / 1000.0;
  weft_mutex_destroy(c.m);
  weft_runtime_destroy(rt);
}
BENCHMARK(BM_MutexContended)->UseRealTime()->Unit(benchmark::kMillisecond);

void *pthread_contender(void *arg) {
  auto *c = static_cast<Contended *>(arg);
  uint64_t worst = 0;
  for (long i = 0; i < c->per; i++) {
    uint64_t t0 = now_ns();
    pthread_mutex_lock(&c->pm);
    uint64_t t1 = now_ns();
    worst = std::max(worst, t1 - t0);
    c->counter++;
    pthread_mutex_unlock(&c->pm);
  }
  note_wait(c, worst);
  return nullptr;
}

void BM_PthreadMutexContended(benchmark::State &state) {
  Contended c;
  pthread_mutex_init(&c.pm, nullptr);
  c.counter = 0;
  c.per = 20000;
  c.max_wait_ns = 0;
  for (auto _ : state) {
    pthread_t th[kContenders];
    for (auto &x : th) pthread_create(&x, nullptr, pthread_contender, &c);
    for (auto &x : th) pthread_join(x, nullptr);
  }
  state.SetItemsProcessed((int64_t)c.counter);
  state.counters["max_wait_us"] = (double)c.max_wait_ns.load() / 1000.0;
  pthread_mutex_destroy(&c.pm);
}
BENCHMARK(BM_PthreadMutexContended)->UseRealTime()->Unit(benchmark::kMillisecond);

}  // namespace
