// Boost.Fiber's side of the peer comparison, written as Boost.Fiber users
// write it: every worker thread (main included) installs
// use_scheduling_algorithm<algo::work_stealing>(workers); children are
// boost::fibers::async (launch::post, the default) and joined with
// future::get(); fibers::fiber + join() where no value comes back;
// this_fiber::yield() and fibers::unbuffered_channel for the one-worker
// workloads. Stacks are Boost's default (fixedsize_stack, 128 KiB, allocated
// when the fiber is created).
#include <boost/fiber/all.hpp>

#include <thread>
#include <vector>

#include "../common.h"

namespace fibers = boost::fibers;

static long fib(int n) {
  if (n < 2) return n;
  fibers::future<long> a = fibers::async(fib, n - 1);
  long b = fib(n - 2);
  return a.get() + b;
}

static long skynet(long num, long size) {
  if (size == 1) return num;
  long sub = size / SKYNET_DIV;
  fibers::future<long> kids[SKYNET_DIV];
  for (int i = 0; i < SKYNET_DIV; i++) kids[i] = fibers::async(skynet, num + i * sub, sub);
  long sum = 0;
  for (auto &k : kids) sum += k.get();
  return sum;
}

static long spawn_all() {
  std::vector<fibers::future<long>> tasks;
  tasks.reserve(SPAWN_N);
  for (long i = 0; i < SPAWN_N; i++) tasks.push_back(fibers::async([i] { return i; }));
  long sum = 0;
  for (auto &t : tasks) sum += t.get();
  return sum;
}

static long yield_pair() {
  long counts[2] = {0, 0};
  auto yielder = [&counts](int me) {
    for (long i = 0; i < YIELD_SWITCHES / 2; i++) {
      boost::this_fiber::yield();
      counts[me]++;
    }
  };
  fibers::fiber a(yielder, 0), b(yielder, 1);
  a.join();
  b.join();
  return counts[0] + counts[1];
}

static long ping_pong() {
  fibers::unbuffered_channel<long> ping, pong;
  fibers::fiber ponger([&] {
    long v;
    while (ping.pop(v) == fibers::channel_op_status::success) pong.push(v + 1);
  });
  long v = 0;
  for (long i = 0; i < CHAN_ROUNDS; i++) {
    ping.push(v);
    pong.pop(v);
  }
  ping.close();
  ponger.join();
  return v;
}

static long nqueens(nq_board b, int row) {
  if (row == NQUEENS_N) return 1;
  fibers::future<long> kids[NQUEENS_N];
  int k = 0;
  for (int col = 0; col < NQUEENS_N; col++) {
    if (!nq_safe(&b, row, col)) continue;
    nq_board child = b;
    child.col[row] = (signed char)col;
    kids[k++] = fibers::async(nqueens, child, row + 1);
  }
  long sum = 0;
  for (int i = 0; i < k; i++) sum += kids[i].get();
  return sum;
}

// The helper threads' main fibers wait here until the workload is over;
// meanwhile their dispatchers run (and steal) fibers.
static fibers::mutex done_mtx;
static fibers::condition_variable done_cv;
static bool done = false;

static void helper(int workers) {
  fibers::use_scheduling_algorithm<fibers::algo::work_stealing>(workers);
  std::unique_lock<fibers::mutex> lk(done_mtx);
  done_cv.wait(lk, [] { return done; });
}

int main(int argc, char **argv) {
  const char *w;
  int workers;
  peers_args(argc, argv, &w, &workers);
  long (*workload)();
  long want;
  if (!strcmp(w, "fib")) {
    workload = [] { return fib(FIB_N); }, want = FIB_ANSWER;
  } else if (!strcmp(w, "skynet")) {
    workload = [] { return skynet(0, SKYNET_LEAVES); }, want = SKYNET_ANSWER;
  } else if (!strcmp(w, "spawn")) {
    workload = spawn_all, want = SPAWN_ANSWER;
  } else if (!strcmp(w, "yield")) {
    workload = yield_pair, want = YIELD_SWITCHES;
  } else if (!strcmp(w, "chan")) {
    workload = ping_pong, want = CHAN_ROUNDS;
  } else if (!strcmp(w, "nqueens")) {
    workload = [] { return nqueens(nq_board{}, 0); }, want = NQUEENS_ANSWER;
  } else {
    fprintf(stderr, "unknown workload %s\n", w);
    return 2;
  }

  // The scheduler on every worker thread, before the clock (work_stealing's
  // constructor waits until all `workers` threads have installed it).
  std::vector<std::thread> helpers;
  for (int i = 1; i < workers; i++) helpers.emplace_back(helper, workers);
  fibers::use_scheduling_algorithm<fibers::algo::work_stealing>(workers);

  double t0 = peers_now();
  long got = workload();
  double t = peers_now() - t0;

  {
    std::unique_lock<fibers::mutex> lk(done_mtx);
    done = true;
  }
  done_cv.notify_all();
  for (auto &h : helpers) h.join();
  if (got != want) fprintf(stderr, "boost-fiber %s: got %ld, want %ld\n", w, got, want);
  return peers_report("boost-fiber", w, workers, t, got == want);
}
