// The feature split and its combinations (dist/comm underneath; trivial for the whole dictionary).
#include "crosscoder/feature_shard.hpp"

#include <cblas.h>

#include <algorithm>
#include <cstring>
#include <string>

#include "core/error.hpp"
#include "core/parallel.hpp"
#include "dist/comm.hpp"

namespace cc {

FeatureShard FeatureShard::of_rank(int64_t F, int rank, int ranks) {
  const int64_t blocks = (F + kFeatureBlock - 1) / kFeatureBlock;
  if (blocks < ranks)
    fail("", "--dict-size", "is too small to give every rank a block of " + std::to_string(kFeatureBlock) + " features",
         ">= " + std::to_string(int64_t(ranks) * kFeatureBlock) + " for " + std::to_string(ranks) + " ranks", std::to_string(F),
         "use fewer ranks or a larger dictionary");
  const int64_t b0 = blocks * rank / ranks, b1 = blocks * (rank + 1) / ranks;
  return {F, std::min(F, b0 * kFeatureBlock), std::min(F, b1 * kFeatureBlock)};
}

FeatureShard FeatureShard::of_this_rank(int64_t F) { return of_rank(F, dist::rank(), dist::size()); }

void encoder_product(const float* x, int64_t B, int64_t D2, const float* W_encT, int64_t F_local, float* pre) {
  const int64_t blocks = (F_local + kFeatureBlock - 1) / kFeatureBlock;
  parallel_for_blas(blocks, 1, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) {
      const int64_t j0 = i * kFeatureBlock, n = std::min(kFeatureBlock, F_local - j0);
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, int(B), int(n), int(D2), 1.f, x, int(D2), W_encT + j0 * D2, int(D2),
                  0.f, pre + j0, int(F_local));
    }
  });
}

double ordered_feature_sum(const std::vector<double>& mine, const FeatureShard& s) {
  double total = 0;
  if (s.whole()) {
    for (double v : mine) total += v;
    return total;
  }
  const std::string bytes(reinterpret_cast<const char*>(mine.data()), mine.size() * sizeof(double));
  for (const std::string& part : dist::allgather(bytes)) {
    const double* v = reinterpret_cast<const double*>(part.data());
    for (size_t i = 0; i < part.size() / sizeof(double); ++i) total += v[i];
  }
  return total;
}

namespace {

void init_rows(float* x, int64_t b0, int64_t b1, int64_t width, const float* init) {
  for (int64_t b = b0; b < b1; ++b) {
    if (init)
      std::memcpy(x + b * width, init, size_t(width) * sizeof(float));
    else
      std::memset(x + b * width, 0, size_t(width) * sizeof(float));
  }
}

}  // namespace

void chain_over_features(float* x, int64_t rows, int64_t width, const float* init, const FeatureShard& s,
                         const std::function<void(int64_t, int64_t)>& add) {
  if (s.whole()) {
    init_rows(x, 0, rows, width, init);
    add(0, rows);
    return;
  }
  // Blocks of about 1 MiB: rank r works on block i while rank r + 1 works on block i - 1.
  const int64_t block = std::max<int64_t>(1, (int64_t(1) << 18) / std::max<int64_t>(1, width));
  const int r = dist::rank(), last = dist::size() - 1;
  for (int64_t b0 = 0; b0 < rows; b0 += block) {
    const int64_t b1 = std::min(rows, b0 + block);
    float* at = x + b0 * width;
    const size_t bytes = size_t((b1 - b0) * width) * sizeof(float);
    if (r == 0)
      init_rows(x, b0, b1, width, init);
    else
      dist::recv(r - 1, at, bytes);
    add(b0, b1);
    if (r != last) dist::send(r + 1, at, bytes);
  }
  dist::broadcast(x, size_t(rows * width) * sizeof(float), last);
}

template <class T>
void gather_rows(const T* mine, int64_t width, const FeatureShard& s, std::vector<T>& whole) {
  const size_t row_bytes = size_t(width) * sizeof(T);
  if (!dist::root()) {
    dist::send(0, mine, size_t(s.size()) * row_bytes);
    return;
  }
  whole.resize(size_t(s.F * width));
  std::memcpy(whole.data() + s.f0 * width, mine, size_t(s.size()) * row_bytes);
  for (int r = 1; r < dist::size(); ++r) {
    const FeatureShard o = FeatureShard::of_rank(s.F, r, dist::size());
    dist::recv(r, whole.data() + o.f0 * width, size_t(o.size()) * row_bytes);
  }
}

template void gather_rows<float>(const float*, int64_t, const FeatureShard&, std::vector<float>&);
template void gather_rows<int64_t>(const int64_t*, int64_t, const FeatureShard&, std::vector<int64_t>&);

}  // namespace cc
