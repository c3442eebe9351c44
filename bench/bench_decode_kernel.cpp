// Few-row product benchmark (batched decode's kernel): linear_forward in the bf16-act mode with M
// input rows against BF16 weights, streamed from memory (40 matrices of 8960 x 1536, 1.1 GB, as
// the MLP of a 1.5B model) and resident in cache (one 1024 x 1536 matrix, 200 times), next to
// peers measured in the same run: oneDNN's BF16 matmul on the same weights and inputs, and the
// machine's vdpbf16ps peak (independent accumulators, no loads) on one thread and on all (on a
// shared VM the second figure shows whether the cores were really there during the run). Weight
// GB/s at M rows says how close decode is to the memory bound; GFLOP/s against the peak how close
// to the compute bound. Prints one JSON line per M. Without AVX512-BF16 it times the fallback path
// and reports a peak of 0.
// Usage: bench_decode_kernel [ROWS...]   (default 1 4 8)
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <thread>
#include <vector>
#if defined(__AVX512BF16__)
// GCC 12's AVX-512 headers trip a false -Wuninitialized in _mm512_reduce_add_ps (GCC bug 105593).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#include <immintrin.h>
#endif

#include "core/dtype.hpp"
#include "core/parallel.hpp"
#include "model/gemm_bf16.hpp"
#include "model/linear.hpp"
#include "bench_timing.hpp"

using namespace cc;
using Clock = std::chrono::steady_clock;

namespace {

// Matrices of BF16 weights; a pass multiplies by each `repeat` times in turn (a resident matrix is
// repeated so that a pass is long enough to time).
struct Weights {
  int64_t rows, cols, repeat;
  std::vector<std::vector<uint16_t>> mats;
  double bytes() const { return double(repeat) * double(mats.size()) * double(rows * cols) * 2.0; }
};

Weights make_weights(int64_t rows, int64_t cols, int64_t count, int64_t repeat) {
  Weights w{rows, cols, repeat, {}};
  for (int64_t k = 0; k < count; ++k) {
    std::vector<uint16_t> m(static_cast<size_t>(rows * cols));
    for (size_t i = 0; i < m.size(); ++i) m[i] = f32_to_bf16(float(int64_t(i % 61) - 30) * 1e-3f);
    w.mats.push_back(std::move(m));
  }
  return w;
}

// Best of 6 passes, in seconds per pass.
template <class F>
double best_pass(const Weights& w, F&& product) {
  return bench::best_seconds(
      [&] {
        for (const auto& m : w.mats)
          for (int64_t r = 0; r < w.repeat; ++r) product(m.data());
      },
      6);
}

struct Rates {
  double lib_gbs, onednn_gbs;
};

Rates measure(const Weights& w, int64_t M) {
  std::vector<float> x(static_cast<size_t>(M * w.cols)), y(static_cast<size_t>(M * w.rows));
  for (size_t i = 0; i < x.size(); ++i) x[i] = float(int64_t(i % 13) - 6) * 0.1f;
  std::vector<uint16_t> xb(x.size());
  round_rows_to_bf16(xb.data(), x.data(), M, w.cols, w.cols);
  const double lib = best_pass(w, [&](const uint16_t* m) {
    const WeightMatrix W{DType::BF16, m, w.rows, w.cols, /*bf16_inputs=*/true};
    linear_forward(y.data(), w.rows, x.data(), w.cols, M, W, nullptr);
  });
  const double dnn = best_pass(w, [&](const uint16_t* m) { gemm_bf16_onednn(y.data(), w.rows, xb.data(), M, m, w.rows, w.cols, false); });
  return {w.bytes() / lib / 1e9, w.bytes() / dnn / 1e9};
}

// vdpbf16ps GFLOP/s on `threads` threads: 12 independent accumulators per thread, no memory traffic.
double dot_peak_gflops(int threads) {
#if defined(__AVX512BF16__)
  const int64_t iters = 20000000;
  std::vector<float> sink(static_cast<size_t>(threads));
  const auto t0 = Clock::now();
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t)
    pool.emplace_back([&, t] {
      __m512 acc[12];
      for (auto& a : acc) a = _mm512_setzero_ps();
      __m512bh one = (__m512bh)_mm512_set1_epi16(0x3f80);
      for (int64_t i = 0; i < iters; ++i) {
        for (auto& a : acc) a = _mm512_dpbf16_ps(a, one, one);
        asm volatile("" : "+v"(one));  // keeps the loop from being folded
      }
      float s = 0;
      for (auto& a : acc) s += _mm512_reduce_add_ps(a);
      sink[size_t(t)] = s;
    });
  for (auto& th : pool) th.join();
  const double s = std::chrono::duration<double>(Clock::now() - t0).count();
  return sink[0] > 0 ? double(threads) * double(iters) * 12 * 64 / s / 1e9 : 0.0;
#else
  (void)threads;
  return 0.0;
#endif
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<int64_t> ms;
  for (int i = 1; i < argc; ++i) ms.push_back(std::atoi(argv[i]));
  if (ms.empty()) ms = {1, 4, 8};
  for (int64_t M : ms)
    if (M < 1 || M >= kGemvRows) {
      std::fprintf(stderr, "bench_decode_kernel: rows must be 1..%ld (the few-row kernel), got %ld\n", long(kGemvRows - 1), long(M));
      return 1;
    }
  set_num_threads(0);
  const int threads = num_threads();
  const double peak1 = dot_peak_gflops(1), peak_all = dot_peak_gflops(threads);
  const Weights streamed = make_weights(8960, 1536, 40, 1), resident = make_weights(1024, 1536, 1, 200);
  for (int64_t M : ms) {
    const Rates mem = measure(streamed, M), cache = measure(resident, M);
    auto gflops = [&](double gbs) { return gbs * double(M); };  // 2 FLOP per BF16 weight (2 bytes) per row
    std::printf("{\"rows\": %ld, \"threads\": %d, \"path\": \"%s\", \"streamed_weight_gb_s\": %.1f, \"streamed_gflops\": %.1f, "
                "\"onednn_streamed_weight_gb_s\": %.1f, \"lib_vs_onednn_streamed\": %.2f, \"resident_gflops\": %.1f, "
                "\"onednn_resident_gflops\": %.1f, \"vdpbf16ps_peak_gflops_1t\": %.1f, \"vdpbf16ps_peak_gflops_all\": %.1f}\n",
                long(M), threads, bf16_gemm_path_name(), mem.lib_gbs, gflops(mem.lib_gbs), mem.onednn_gbs,
                mem.lib_gbs / mem.onednn_gbs, gflops(cache.lib_gbs), gflops(cache.onednn_gbs), peak1, peak_all);
  }
  return 0;
}
