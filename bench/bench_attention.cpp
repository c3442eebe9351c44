// Attention benchmark: attention_forward_batch on batches of short sequences (geometry's word
// sequences, short prompts) and on a few query rows against a long cache, next to a peer measured in
// the same run: the dense OpenBLAS formulation (per sequence and head, scores by sgemm, causal
// softmax, values by sgemm; single-threaded BLAS inside our pool), which is what the library's
// blocked path does. Shows where the plain loops the library uses for short sequences and few
// rows (model/layers.cpp, kDirectAttentionKeys / kDirectAttentionRows) win and where they would
// lose. Prints one JSON line per shape.
// Usage: bench_attention [THREADS]   (default: all cores)
#include <cblas.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <vector>

#include "core/parallel.hpp"
#include "model/layers.hpp"
#include "bench_timing.hpp"

using namespace cc;

namespace {

// Qwen2.5-1.5B's attention: 12 query heads and 2 key/value heads of 128.
constexpr int64_t kHeads = 12, kKv = 2, kHd = 128, kQd = kHeads * kHd, kKvd = kKv * kHd;

struct Batch {
  int64_t Tq, past, n;
  std::vector<float> q, k, v, out;
  std::vector<AttentionSeq> seqs;
};

Batch make_batch(int64_t Tq, int64_t past, int64_t n) {
  Batch b{Tq, past, n, {}, {}, {}, {}, {}};
  std::mt19937 g(1);
  std::normal_distribution<float> n01;
  auto fill = [&](int64_t count) {
    std::vector<float> x(static_cast<size_t>(count));
    for (float& e : x) e = n01(g);
    return x;
  };
  b.q = fill(n * Tq * kQd);
  b.k = fill(n * (past + Tq) * kKvd);
  b.v = fill(n * (past + Tq) * kKvd);
  b.out.assign(b.q.size(), 0.f);
  for (int64_t s = 0; s < n; ++s)
    b.seqs.push_back({b.out.data() + s * Tq * kQd, b.q.data() + s * Tq * kQd, b.k.data() + s * (past + Tq) * kKvd,
                      b.v.data() + s * (past + Tq) * kKvd, Tq, past});
  return b;
}

// The peer: two sgemm calls and a causal softmax per (sequence, head).
void dense_attention(Batch& b) {
  const float scale = 1.f / std::sqrt(float(kHd));
  const int64_t keys = b.past + b.Tq;
  parallel_for_blas(b.n * kHeads, 1, [&](int64_t u0, int64_t u1) {
    std::vector<float> S(size_t(b.Tq * keys));
    for (int64_t u = u0; u < u1; ++u) {
      const AttentionSeq& a = b.seqs[size_t(u / kHeads)];
      const int64_t h = u % kHeads, kv = (h / (kHeads / kKv)) * kHd;
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, int(b.Tq), int(keys), int(kHd), scale, a.q + h * kHd, int(kQd),
                  a.k + kv, int(kKvd), 0.f, S.data(), int(keys));
      for (int64_t i = 0; i < b.Tq; ++i) {
        float* row = S.data() + i * keys;
        const int64_t visible = b.past + i + 1;
        const float mx = *std::max_element(row, row + visible);
        float sum = 0.f;
        for (int64_t j = 0; j < visible; ++j) sum += (row[j] = std::exp(row[j] - mx));
        for (int64_t j = 0; j < visible; ++j) row[j] /= sum;
        std::fill(row + visible, row + keys, 0.f);
      }
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, int(b.Tq), int(kHd), int(keys), 1.f, S.data(), int(keys),
                  a.v + kv, int(kKvd), 0.f, a.out + h * kHd, int(kQd));
    }
  });
}

}  // namespace

int main(int argc, char** argv) {
  set_num_threads(argc > 1 ? std::atoi(argv[1]) : 0);
  struct Shape {
    int64_t Tq, past, n;
  };
  // 64 short sequences (past 0) on both sides of 16 keys; a few rows against a 2,048-token cache.
  const Shape shapes[] = {{5, 0, 64}, {8, 0, 64}, {12, 0, 64}, {16, 0, 64}, {24, 0, 64}, {1, 2048, 8}, {2, 2048, 8}, {4, 2048, 8}, {16, 2048, 1}};
  for (const Shape& s : shapes) {
    Batch b = make_batch(s.Tq, s.past, s.n);
    // Best of 5 rounds of at least 0.2 s each, in µs per call.
    const double lib = 1e6 * bench::best_seconds([&] { attention_forward_batch(b.seqs, {kQd, kQd, kKvd, kHeads, kKv, kHd}); }, 5, 0.2);
    const double dense = 1e6 * bench::best_seconds([&] { dense_attention(b); }, 5, 0.2);
    const double scores = double(s.n * kHeads * s.Tq * (s.past + s.Tq));
    std::printf("{\"seqs\": %ld, \"query_rows\": %ld, \"past\": %ld, \"threads\": %d, \"library_us\": %.1f, "
                "\"dense_openblas_us\": %.1f, \"library_vs_dense\": %.2f, \"library_mscores_s\": %.1f}\n",
                long(s.n), long(s.Tq), long(s.past), num_threads(), lib, dense, dense / lib, scores / lib);
  }
  return 0;
}
