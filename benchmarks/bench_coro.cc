// bench_coro — standalone coroutines (weft/coro.h) against the raw switch.
//
// Every weft benchmark here has a baseline that does the least the same job
// could possibly do with fcontext alone:
//
//   weft                        baseline (bare fcontext, stack mmap'd here)
//   BM_CoroSendYield            BM_RawJump       one round trip: 2 switches
//                               BM_RawJumpCall   the same, each side's jump
//                                                inside one out-of-line call
//   BM_CoroCreateDestroy        BM_RawMake       make_fcontext on a ready stack
//   BM_CoroCreateRunDestroy     BM_RawMakeJump   make, jump in, jump back out
//   BM_CoroLive100k             (the target: <= 12 KiB resident per coroutine)
//
// BM_RawJump is the physical limit: the jumps sit in the loops themselves.
// BM_RawJumpCall is the floor for any library whose send and yield are
// functions the user calls: every `ret` executed right after a stack switch
// is predicted from the return-stack buffer that the *other* stack's calls
// filled, so it mispredicts; one call level on each side costs one
// mispredicted return per switch, whatever the function does.
//
// Time is real (wall-clock) time: UseRealTime() everywhere, because the
// thread sweeps run one driver per thread and Google Benchmark's CPU timer
// sees only the calling thread. With N threads the time column is the
// aggregate throughput (thread-average wall time / total iterations), and so
// is every rate counter.
//
// Counters:
//   per_switch          seconds per single switch (a round trip is 2), i.e.
//                       the time column / 2; printed with an SI prefix
//                       ("4.9n" is 4.9 ns).
//   items_per_second    round trips, or coroutines created, per second.
//   rss_per_coro_KiB, pte_per_coro_KiB, rss_retained_per_coro_KiB, coros:
//                       see BM_CoroLive100k.
//
// The timed loops hold nothing but the call being measured: no status
// checks that branch per iteration beyond `bad |= rc` (one OR), no
// allocation. Set-up (stacks, the first send, a warm-up create/destroy so
// the stack cache is hot) happens before the loop.
//
// Instruction counts: `weft_bench --ir_probe=N` runs each case N times
// between Callgrind client requests (zero, then dump); see
// benchmarks/callgrind_ir.sh, which prints instructions per iteration.
#include <benchmark/benchmark.h>

#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "weft.h"

#if defined(WEFT_BENCH_HAVE_CALLGRIND)
#include <valgrind/callgrind.h>
#include <valgrind/valgrind.h>
#define BENCH_IR_ZERO() CALLGRIND_ZERO_STATS
#define BENCH_IR_DUMP(name) CALLGRIND_DUMP_STATS_AT(name)
#define BENCH_STACK_REGISTER(lo, hi) VALGRIND_STACK_REGISTER(lo, hi)
#define BENCH_STACK_DEREGISTER(id) VALGRIND_STACK_DEREGISTER(id)
#else
#define BENCH_IR_ZERO() ((void)0)
#define BENCH_IR_DUMP(name) ((void)(name))
#define BENCH_STACK_REGISTER(lo, hi) 0u
#define BENCH_STACK_DEREGISTER(id) ((void)(id))
#endif

// Boost.Context's C-ABI routines, as weft's src/context.c declares them.
// The benchmark links its own copy (libweft.so does not export its copy).
extern "C" {
typedef void *fcontext_t;
typedef struct {
  fcontext_t fctx;
  void *data;
} transfer_t;
transfer_t jump_fcontext(fcontext_t const to, void *vp);
fcontext_t make_fcontext(void *sp, std::size_t size, void (*fn)(transfer_t));
}

namespace {

constexpr std::size_t kStackBytes = 64 * 1024;  // weft's default stack size
constexpr int kSwitchesPerRoundTrip = 2;

// ---- helpers -------------------------------------------------------------

// A stack for the raw baselines, made as weft makes a guarded stack: mmap,
// a PROT_NONE page below. 64 KiB usable, like weft's default.
class RawStack {
 public:
  RawStack() {
    page_ = static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
    total_ = kStackBytes + page_;
    void *m = mmap(nullptr, total_, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (m == MAP_FAILED) {
      std::perror("weft_bench: mmap");
      std::abort();
    }
    if (mprotect(m, page_, PROT_NONE) != 0) {
      std::perror("weft_bench: mprotect");
      std::abort();
    }
    base_ = static_cast<char *>(m);
    vg_id_ = BENCH_STACK_REGISTER(lo(), top());
  }
  ~RawStack() {
    BENCH_STACK_DEREGISTER(vg_id_);
    munmap(base_, total_);
  }
  RawStack(const RawStack &) = delete;
  RawStack &operator=(const RawStack &) = delete;

  char *lo() const { return base_ + page_; }
  char *top() const { return base_ + total_; }
  std::size_t size() const { return kStackBytes; }

 private:
  char *base_ = nullptr;
  std::size_t page_ = 0, total_ = 0;
  unsigned vg_id_ = 0;
};

// A context that bounces every jump straight back, forever (an fcontext
// entry must never return: Debian's stub behind it calls _exit(0)).
void raw_echo(transfer_t t) {
  for (;;) t = jump_fcontext(t.fctx, t.data);
}

// A context that returns to its maker once and is then abandoned.
void raw_once(transfer_t t) {
  jump_fcontext(t.fctx, t.data);
  std::abort();  // nothing resumes it
}

// The out-of-line baseline: a coroutine driven through two functions, as a
// library's send and yield would be, each a call whose body is the jump.
struct RawCallCo {
  fcontext_t self;    // the coroutine, while suspended
  fcontext_t caller;  // whoever sent last, while the coroutine runs
};

__attribute__((noinline)) void *raw_call_send(RawCallCo *co, void *v) {
  transfer_t t = jump_fcontext(co->self, v);
  co->self = t.fctx;
  return t.data;
}

__attribute__((noinline)) void *raw_call_yield(RawCallCo *co, void *v) {
  transfer_t t = jump_fcontext(co->caller, v);
  co->caller = t.fctx;
  return t.data;
}

void raw_call_entry(transfer_t t) {
  RawCallCo *co = static_cast<RawCallCo *>(t.data);
  co->caller = t.fctx;
  void *v = nullptr;
  for (;;) v = raw_call_yield(co, v);
}

// Starts `co` on `stack`, running it to its first yield.
void raw_call_start(RawCallCo *co, const RawStack &stack) {
  co->self = make_fcontext(stack.top(), stack.size(), raw_call_entry);
  raw_call_send(co, co);
}

// weft bodies.
void *echo_forever(void *arg) {
  (void)arg;
  void *v = nullptr;
  for (;;) weft_coro_yield(v, &v);
}
void *returns_at_once(void *arg) { return arg; }
void *yield_once(void *arg) {
  weft_coro_yield(arg, nullptr);
  return nullptr;
}

bool failed(benchmark::State &state, int rc, const char *what) {
  if (rc > 0) {
    std::string msg = std::string(what) + ": " + weft_strerror(rc);
    state.SkipWithError(msg.c_str());
    return true;
  }
  return false;
}

void switch_counters(benchmark::State &state) {
  state.SetItemsProcessed(state.iterations());
  // kIsIterationInvariantRate: 2 x iterations / seconds = switches per
  // second; kAvgThreads: each thread adds its 2 and the iterations are
  // already the total, so divide by the threads; kInvert: seconds per switch.
  state.counters["per_switch"] = benchmark::Counter(
      kSwitchesPerRoundTrip, benchmark::Counter::kIsIterationInvariantRate |
                                 benchmark::Counter::kAvgThreads |
                                 benchmark::Counter::kInvert);
}

int max_threads() {
  unsigned n = std::thread::hardware_concurrency();
  return n ? static_cast<int>(n) : 1;
}

// ---- switch: raw round trip vs weft send/yield ----------------------------

void BM_RawJump(benchmark::State &state) {
  RawStack stack;
  fcontext_t ctx = make_fcontext(stack.top(), stack.size(), raw_echo);
  ctx = jump_fcontext(ctx, nullptr).fctx;  // enter once: now parked in its loop
  int token = 0;
  void *v = &token;
  for (auto _ : state) {
    transfer_t t = jump_fcontext(ctx, v);  // main -> context -> main
    ctx = t.fctx;
    v = t.data;
  }
  benchmark::DoNotOptimize(v);
  switch_counters(state);
  // The context stays parked in raw_echo; its stack just goes away.
}

void BM_RawJumpCall(benchmark::State &state) {
  RawStack stack;
  RawCallCo co;
  raw_call_start(&co, stack);
  int token = 0;
  void *v = &token;
  for (auto _ : state) {
    v = raw_call_send(&co, v);  // main -> coroutine -> main, through calls
  }
  benchmark::DoNotOptimize(v);
  switch_counters(state);
}

void BM_CoroSendYield(benchmark::State &state) {
  weft_coro *co;
  if (failed(state, weft_coro_create(&co, echo_forever, nullptr, nullptr), "create")) return;
  if (failed(state, weft_coro_send(co, nullptr, nullptr), "first send")) return;  // to its first yield
  int token = 0;
  void *v = &token;
  int bad = 0;
  for (auto _ : state) {
    bad |= weft_coro_send(co, v, &v);  // main -> coroutine -> main
  }
  benchmark::DoNotOptimize(v);
  if (bad) state.SkipWithError("weft_coro_send failed in the loop");
  weft_coro_destroy(co);
  switch_counters(state);
}

// ---- create/destroy ----------------------------------------------------------

void BM_RawMake(benchmark::State &state) {
  RawStack stack;
  for (auto _ : state) {
    fcontext_t ctx = make_fcontext(stack.top(), stack.size(), raw_once);
    benchmark::DoNotOptimize(ctx);
  }
  state.SetItemsProcessed(state.iterations());
}

void BM_RawMakeJump(benchmark::State &state) {
  RawStack stack;
  int token = 0;
  void *v = &token;
  for (auto _ : state) {
    fcontext_t ctx = make_fcontext(stack.top(), stack.size(), raw_once);
    v = jump_fcontext(ctx, v).data;  // in, and straight back out
  }
  benchmark::DoNotOptimize(v);
  state.SetItemsProcessed(state.iterations());
}

void BM_CoroCreateDestroy(benchmark::State &state) {
  weft_coro *co;
  // Warm-up: the first create on a thread sets it up (signal stack, stack
  // cache); after it, the cache holds a stack of the default size.
  if (failed(state, weft_coro_create(&co, returns_at_once, nullptr, nullptr), "warm-up create")) return;
  weft_coro_destroy(co);
  int bad = 0;
  for (auto _ : state) {
    bad |= weft_coro_create(&co, returns_at_once, nullptr, nullptr);
    bad |= weft_coro_destroy(co);  // never started
  }
  if (bad) state.SkipWithError("create/destroy failed in the loop");
  state.SetItemsProcessed(state.iterations());
}

void BM_CoroCreateRunDestroy(benchmark::State &state) {
  weft_coro *co;
  if (failed(state, weft_coro_create(&co, returns_at_once, nullptr, nullptr), "warm-up create")) return;
  if (weft_coro_send(co, nullptr, nullptr) != WEFT_DONE) {
    state.SkipWithError("warm-up send: the body did not finish");
    return;
  }
  weft_coro_destroy(co);
  int bad = 0;
  void *out = nullptr;
  for (auto _ : state) {
    bad |= weft_coro_create(&co, returns_at_once, &bad, nullptr);
    bad |= weft_coro_send(co, nullptr, &out) ^ WEFT_DONE;  // runs to its end
    bad |= weft_coro_destroy(co);
  }
  benchmark::DoNotOptimize(out);
  if (bad) state.SkipWithError("create/send/destroy failed in the loop");
  state.SetItemsProcessed(state.iterations());
}

// ---- memory: 100k live coroutines ---------------------------------------

// A field of /proc/self/status in KiB ("VmRSS", "VmPTE"); -1 if unreadable.
long status_kib(const char *field) {
  FILE *f = std::fopen("/proc/self/status", "r");
  if (!f) return -1;
  char line[256];
  long v = -1;
  std::size_t n = std::strlen(field);
  while (std::fgets(line, sizeof line, f)) {
    if (std::strncmp(line, field, n) == 0 && line[n] == ':') {
      v = std::strtol(line + n + 1, nullptr, 10);
      break;
    }
  }
  std::fclose(f);
  return v;
}

// Creates 100,000 coroutines with the default stack and sends each once, to
// a yield: every one is suspended on a stack it has touched. Then reads the
// resident set, and destroys them all.
//
// The baseline is the process's VmRSS on the first entry into this
// benchmark, before it created anything; it is kept for later repetitions.
// Measuring from each repetition's own start instead would under-count:
// weft keeps memory of destroyed coroutines (warm stacks in its pool, the
// descriptor page of every slab stack), so from the second repetition on
// part of the cost would already be in "before". The counters:
//   rss_per_coro_KiB           (VmRSS with all live - baseline) / coros
//   pte_per_coro_KiB           page tables for them (not in VmRSS), / coros
//   rss_retained_per_coro_KiB  (VmRSS after all were destroyed - baseline) /
//                              coros: what weft does not give back
//   create_send_ns, destroy_ns the two phases' wall time per coroutine
void BM_CoroLive100k(benchmark::State &state) {
  constexpr std::size_t kCoros = 100000;
  // Allocated and touched once, before the baseline is read.
  static std::vector<weft_coro *> coros(kCoros, nullptr);
  static const long rss_base = status_kib("VmRSS");
  static const long pte_base = status_kib("VmPTE");
  long rss_live = 0, pte_live = 0, rss_after = 0;
  std::chrono::steady_clock::duration t_create{}, t_destroy{};
  for (auto _ : state) {
    auto t0 = std::chrono::steady_clock::now();
    for (std::size_t i = 0; i < kCoros; i++) {
      int rc = weft_coro_create(&coros[i], yield_once, nullptr, nullptr);
      if (!rc) rc = weft_coro_send(coros[i], nullptr, nullptr);
      if (rc) {
        std::string msg = "coroutine " + std::to_string(i) + ": " + weft_strerror(rc);
        state.SkipWithError(msg.c_str());
        for (std::size_t j = 0; j <= i; j++)
          if (coros[j]) weft_coro_destroy(coros[j]), coros[j] = nullptr;
        return;
      }
    }
    auto t1 = std::chrono::steady_clock::now();
    rss_live = status_kib("VmRSS");
    pte_live = status_kib("VmPTE");
    auto t2 = std::chrono::steady_clock::now();
    for (std::size_t i = 0; i < kCoros; i++) {
      weft_coro_destroy(coros[i]);
      coros[i] = nullptr;
    }
    auto t3 = std::chrono::steady_clock::now();
    rss_after = status_kib("VmRSS");
    t_create += t1 - t0;
    t_destroy += t3 - t2;
  }
  const double n = static_cast<double>(kCoros);
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * kCoros));
  state.counters["coros"] = n;
  state.counters["rss_per_coro_KiB"] = static_cast<double>(rss_live - rss_base) / n;
  state.counters["pte_per_coro_KiB"] = static_cast<double>(pte_live - pte_base) / n;
  state.counters["rss_retained_per_coro_KiB"] = static_cast<double>(rss_after - rss_base) / n;
  using ns = std::chrono::duration<double, std::nano>;
  const double runs = static_cast<double>(state.iterations());
  state.counters["create_send_ns"] = ns(t_create).count() / (n * runs);
  state.counters["destroy_ns"] = ns(t_destroy).count() / (n * runs);
}

// The smallest of the repetitions, beside Google Benchmark's mean, median
// and stddev: on a machine that is doing other work too, interference only
// ever adds time, so the minimum is the figure closest to the code's own.
double min_of(const std::vector<double> &v) {
  double m = v.empty() ? 0.0 : v[0];
  for (double x : v) m = x < m ? x : m;
  return m;
}

// Per-operation benchmarks: real time, a thread sweep (one coroutine per
// driver thread) up to the core count, and the min aggregate.
void per_op(benchmark::internal::Benchmark *b) {
  b->UseRealTime()->ThreadRange(1, max_threads())->ComputeStatistics("min", min_of);
}

}  // namespace

// Baselines first, each followed by the weft operation it bounds.
BENCHMARK(BM_RawJump)->Apply(per_op);
BENCHMARK(BM_RawJumpCall)->Apply(per_op);
BENCHMARK(BM_CoroSendYield)->Apply(per_op);
BENCHMARK(BM_RawMake)->Apply(per_op);
BENCHMARK(BM_CoroCreateDestroy)->Apply(per_op);
BENCHMARK(BM_RawMakeJump)->Apply(per_op);
BENCHMARK(BM_CoroCreateRunDestroy)->Apply(per_op);
BENCHMARK(BM_CoroLive100k)->Iterations(1)->UseRealTime()->Unit(benchmark::kMillisecond);

// ---- instruction-count probe (for Callgrind) -------------------------------

namespace {

// Each case runs `n` iterations of exactly what its benchmark's loop runs,
// after the same set-up and a short warm-up, between a Callgrind "zero" and
// a "dump" client request named after it.
__attribute__((noinline)) void ir_raw_jump(long n) {
  RawStack stack;
  fcontext_t ctx = make_fcontext(stack.top(), stack.size(), raw_echo);
  ctx = jump_fcontext(ctx, nullptr).fctx;
  int token = 0;
  void *v = &token;
  for (int i = 0; i < 100; i++) {
    transfer_t t = jump_fcontext(ctx, v);
    ctx = t.fctx;
    v = t.data;
  }
  BENCH_IR_ZERO();
  for (long i = 0; i < n; i++) {
    transfer_t t = jump_fcontext(ctx, v);
    ctx = t.fctx;
    v = t.data;
  }
  BENCH_IR_DUMP("raw_jump");
  benchmark::DoNotOptimize(v);
}

__attribute__((noinline)) void ir_raw_jump_call(long n) {
  RawStack stack;
  RawCallCo co;
  raw_call_start(&co, stack);
  int token = 0;
  void *v = &token;
  for (int i = 0; i < 100; i++) v = raw_call_send(&co, v);
  BENCH_IR_ZERO();
  for (long i = 0; i < n; i++) v = raw_call_send(&co, v);
  BENCH_IR_DUMP("raw_jump_call");
  benchmark::DoNotOptimize(v);
}

__attribute__((noinline)) void ir_send_yield(long n) {
  weft_coro *co;
  if (weft_coro_create(&co, echo_forever, nullptr, nullptr) || weft_coro_send(co, nullptr, nullptr))
    std::abort();
  int token = 0;
  void *v = &token;
  int bad = 0;
  for (int i = 0; i < 100; i++) bad |= weft_coro_send(co, v, &v);
  BENCH_IR_ZERO();
  for (long i = 0; i < n; i++) bad |= weft_coro_send(co, v, &v);
  BENCH_IR_DUMP("send_yield");
  if (bad) std::abort();
  weft_coro_destroy(co);
}

__attribute__((noinline)) void ir_create_destroy(long n) {
  weft_coro *co;
  int bad = 0;
  for (int i = 0; i < 100; i++) {
    bad |= weft_coro_create(&co, returns_at_once, nullptr, nullptr);
    bad |= weft_coro_destroy(co);
  }
  BENCH_IR_ZERO();
  for (long i = 0; i < n; i++) {
    bad |= weft_coro_create(&co, returns_at_once, nullptr, nullptr);
    bad |= weft_coro_destroy(co);
  }
  BENCH_IR_DUMP("create_destroy");
  if (bad) std::abort();
}

__attribute__((noinline)) void ir_create_run_destroy(long n) {
  weft_coro *co;
  int bad = 0;
  void *out = nullptr;
  for (int i = 0; i < 100; i++) {
    bad |= weft_coro_create(&co, returns_at_once, &bad, nullptr);
    bad |= weft_coro_send(co, nullptr, &out) ^ WEFT_DONE;
    bad |= weft_coro_destroy(co);
  }
  BENCH_IR_ZERO();
  for (long i = 0; i < n; i++) {
    bad |= weft_coro_create(&co, returns_at_once, &bad, nullptr);
    bad |= weft_coro_send(co, nullptr, &out) ^ WEFT_DONE;
    bad |= weft_coro_destroy(co);
  }
  BENCH_IR_DUMP("create_run_destroy");
  if (bad) std::abort();
}

__attribute__((noinline)) void ir_raw_make_jump(long n) {
  RawStack stack;
  int token = 0;
  void *v = &token;
  BENCH_IR_ZERO();
  for (long i = 0; i < n; i++) {
    fcontext_t ctx = make_fcontext(stack.top(), stack.size(), raw_once);
    v = jump_fcontext(ctx, v).data;
  }
  BENCH_IR_DUMP("raw_make_jump");
  benchmark::DoNotOptimize(v);
}

int ir_probe(long n) {
  if (n <= 0) {
    std::fprintf(stderr, "weft_bench: --ir_probe=N needs N > 0\n");
    return 2;
  }
#if !defined(WEFT_BENCH_HAVE_CALLGRIND)
  std::fprintf(stderr, "weft_bench: built without valgrind/callgrind.h; the probe only runs\n");
#endif
  ir_raw_jump(n);
  ir_raw_jump_call(n);
  ir_send_yield(n);
  ir_raw_make_jump(n);
  ir_create_destroy(n);
  ir_create_run_destroy(n);
  std::printf("ir_probe: %ld iterations each of raw_jump, raw_jump_call, send_yield, raw_make_jump, "
              "create_destroy, create_run_destroy\n",
              n);
  return 0;
}

}  // namespace

int main(int argc, char **argv) {
  static const char kProbe[] = "--ir_probe=";
  for (int i = 1; i < argc; i++)
    if (std::strncmp(argv[i], kProbe, sizeof kProbe - 1) == 0)
      return ir_probe(std::strtol(argv[i] + sizeof kProbe - 1, nullptr, 10));
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
