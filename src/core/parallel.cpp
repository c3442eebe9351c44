// Thread pool behind parallel_for.
#include "core/parallel.hpp"

#include <cblas.h>

#include <algorithm>
#include <condition_variable>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

namespace cc {

namespace {
class Pool {
 public:
  explicit Pool(int n) { resize(n); }
  ~Pool() { stop(); }

  int size() const { return int(workers_.size()) + 1; }

  void resize(int n) {
    stop();
    done_ = false;
    // New workers must wait for the next job, not replay the last one (whose fn_ is gone).
    const uint64_t gen = generation_;
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
    std::unique_lock<std::mutex> lk(m_);
    fn_ = &fn;
    n_ = n;
    nt_ = nt;
    pending_ = nt - 1;
    error_ = nullptr;
    ++generation_;
    lk.unlock();
    cv_.notify_all();
    work(0);
    lk.lock();
    done_cv_.wait(lk, [&] { return pending_ == 0; });
    fn_ = nullptr;
    if (error_) std::rethrow_exception(error_);
  }

 private:
  void work(int idx) {
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
      std::unique_lock<std::mutex> lk(m_);
      cv_.wait(lk, [&] { return done_ || generation_ != seen; });
      if (done_) return;
      seen = generation_;
      if (idx >= nt_) continue;
      lk.unlock();
      work(idx);
      lk.lock();
      if (--pending_ == 0) done_cv_.notify_one();
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
  int nt_ = 0, pending_ = 0;
  uint64_t generation_ = 0;
  bool done_ = false;
  std::exception_ptr error_;
  static thread_local bool inside_;
};
thread_local bool Pool::inside_ = false;

int g_thread_share = 1;  // processes sharing this machine's cores
int hw_threads() { return std::max(1, int(std::thread::hardware_concurrency()) / g_thread_share); }

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

void parallel_for_blas(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn) {
  if (n <= 0) return;
  const int blas_threads = openblas_get_num_threads();
  if (blas_threads <= 1) return pool().run(n, grain, fn);
  // OpenBLAS documents calls from several threads as safe when it runs single-threaded.
  openblas_set_num_threads(1);
  try {
    pool().run(n, grain, fn);
  } catch (...) {
    openblas_set_num_threads(blas_threads);
    throw;
  }
  openblas_set_num_threads(blas_threads);
}

void parallel_for(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn) {
  if (n <= 0) return;
  pool().run(n, grain, fn);
}

}  // namespace cc
