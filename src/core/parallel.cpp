// Thread pool behind parallel_for.
//
// Workers and the caller spin for a short, bounded time before they block. Decoding issues a
// parallel_for per projection back to back, and a pool that always blocked paid futex calls for
// each: the demo's steering stage spent a fifth of its CPU time in the kernel. The spin is bounded
// (kSpin) and uses the pause instruction, not sched_yield, so a worker that finds no new job soon
// goes to sleep and leaves its core to OpenBLAS's threads in a large sgemm that follows.
#include "core/parallel.hpp"

#include <cblas.h>
#include <sched.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

namespace cc {

namespace {
void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

// Spins until done() is true or `budget` has passed; returns done(). The clock is read every 64
// pauses (clock_gettime runs in the vDSO, no system call).
template <class Done>
bool spin_until(Done done, std::chrono::nanoseconds budget) {
  if (budget.count() <= 0) return done();
  const auto deadline = std::chrono::steady_clock::now() + budget;
  for (;;) {
    for (int i = 0; i < 64; ++i) {
      if (done()) return true;
      cpu_relax();
    }
    if (std::chrono::steady_clock::now() >= deadline) return done();
  }
}

// 50 µs: in the demo's steering stage (decode, a parallel_for per projection) 10 µs removed 7% of
// the futex calls, 50 µs 87% and 200 µs 95% (docs/PERFORMANCE.md); longer spins would hold a core
// that OpenBLAS's worker wants in the large products.
constexpr std::chrono::microseconds kSpin{50};

class Pool {
 public:
  explicit Pool(int n) { resize(n); }
  ~Pool() { stop(); }

  int size() const { return int(workers_.size()) + 1; }

  void resize(int n) {
    stop();
    done_ = false;
    // New workers must wait for the next job, not replay the last one (whose fn_ is gone).
    const uint64_t gen = generation_.load();
    for (int i = 1; i < n; ++i) workers_.emplace_back([this, i, gen] { loop(i, gen); });
  }

  void run(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn) {
    // A nested call (fn itself calling parallel_for) runs serially instead of deadlocking.
    if (inside_) {
      fn(0, n);
      return;
    }
    const int64_t max_chunks = std::max<int64_t>(1, n / std::max<int64_t>(1, grain));
    const int nt = int(std::min<int64_t>(size(), max_chunks));
    if (nt <= 1) {
      fn(0, n);
      return;
    }
    // Every worker acknowledges every job (those with idx >= nt do no work), so none can still be
    // reading the job's fields when the next job overwrites them.
    fn_ = &fn;
    n_ = n;
    nt_ = nt;
    error_ = nullptr;
    pending_.store(size() - 1);
    generation_.fetch_add(1);
    if (sleeping_workers_.load() > 0) {
      { std::lock_guard<std::mutex> g(m_); }  // a worker between its check and its wait gets the notify
      cv_.notify_all();
    }
    work(0);
    if (!spin_until([&] { return pending_.load(std::memory_order_acquire) == 0; }, kSpin)) {
      std::unique_lock<std::mutex> lk(m_);
      caller_sleeping_.store(true);
      done_cv_.wait(lk, [&] { return pending_.load() == 0; });
      caller_sleeping_.store(false);
    }
    fn_ = nullptr;
    if (error_) std::rethrow_exception(error_);
  }

 private:
  void work(int idx) {
    if (idx >= nt_) return;
    const int64_t b = n_ * idx / nt_, e = n_ * (idx + 1) / nt_;
    inside_ = true;
    try {
      if (b < e) (*fn_)(b, e);
    } catch (...) {
      std::lock_guard<std::mutex> g(m_);
      if (!error_) error_ = std::current_exception();
    }
    inside_ = false;
  }
  void loop(int idx, uint64_t seen) {
    for (;;) {
      auto news = [&] { return done_.load(std::memory_order_acquire) || generation_.load(std::memory_order_acquire) != seen; };
      if (!spin_until(news, kSpin)) {
        std::unique_lock<std::mutex> lk(m_);
        sleeping_workers_.fetch_add(1);
        cv_.wait(lk, news);
        sleeping_workers_.fetch_sub(1);
      }
      if (done_.load()) return;
      seen = generation_.load();
      work(idx);
      // The caller reads pending_ and caller_sleeping_ in the opposite order (both sequentially
      // consistent), so either it sees 0 before sleeping or this sees it asleep and wakes it.
      if (pending_.fetch_sub(1) == 1 && caller_sleeping_.load()) {
        { std::lock_guard<std::mutex> g(m_); }
        done_cv_.notify_one();
      }
    }
  }
  void stop() {
    {
      std::lock_guard<std::mutex> g(m_);
      done_ = true;
    }
    cv_.notify_all();
    for (auto& t : workers_) t.join();
    workers_.clear();
  }

  std::vector<std::thread> workers_;
  std::mutex m_;
  std::condition_variable cv_, done_cv_;
  const std::function<void(int64_t, int64_t)>* fn_ = nullptr;
  int64_t n_ = 0;
  int nt_ = 0;
  std::atomic<int> pending_{0}, sleeping_workers_{0};
  std::atomic<bool> caller_sleeping_{false}, done_{false};
  std::atomic<uint64_t> generation_{0};
  std::exception_ptr error_;
  static thread_local bool inside_;
};
thread_local bool Pool::inside_ = false;

int g_thread_share = 1;  // processes sharing this machine's cores

}  // namespace

// Fewer than the machine's under taskset, a cgroup cpuset, or mpirun's default binding of each
// rank to one core (when there are at most 2 ranks).
int allowed_cpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof set, &set) != 0) return int(std::thread::hardware_concurrency());
  return CPU_COUNT(&set);
}

namespace {
int hw_threads() {
  const int share = int(std::thread::hardware_concurrency()) / g_thread_share;
  return std::max(1, std::min(share, allowed_cpus()));
}

Pool& pool() {
  static Pool p(hw_threads());
  return p;
}
}  // namespace

void set_thread_share(int k) {
  g_thread_share = std::max(1, k);
  pool().resize(hw_threads());
  openblas_set_num_threads(hw_threads());
}

void set_num_threads(int n) {
  if (n <= 0) n = hw_threads();
  pool().resize(n);
  openblas_set_num_threads(n);
}

int num_threads() { return pool().size(); }

namespace {
// OpenBLAS single-threaded for the guard's lifetime, its thread count restored after (also on an
// exception). OpenBLAS documents calls from several threads as safe when it runs single-threaded.
class SerialBlas {
 public:
  SerialBlas() : threads_(openblas_get_num_threads()) {
    if (threads_ > 1) openblas_set_num_threads(1);
  }
  ~SerialBlas() {
    if (threads_ > 1) openblas_set_num_threads(threads_);
  }
  SerialBlas(const SerialBlas&) = delete;
  SerialBlas& operator=(const SerialBlas&) = delete;

 private:
  int threads_;
};
}  // namespace

void with_serial_blas(const std::function<void()>& fn) {
  SerialBlas serial;
  fn();
}

void parallel_for_blas(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn) {
  if (n <= 0) return;
  SerialBlas serial;
  pool().run(n, grain, fn);
}

void parallel_for(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn) {
  if (n <= 0) return;
  pool().run(n, grain, fn);
}

}  // namespace cc
