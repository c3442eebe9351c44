// Adam/AdamW and clipping, threaded over chunks of each tensor (element-wise, so the result does not
// depend on the thread count).
#include "core/optim.hpp"

#include <algorithm>
#include <cmath>

#include "core/parallel.hpp"

namespace cc {

namespace {

// One thread's span of the update. Distinct arrays (restrict) and no errno for the sqrt (its
// argument is a second moment: CMakeLists.txt builds this file with -fno-math-errno) let the
// loop vectorise; scalar, it was 14% of an L1 training step (docs/PERFORMANCE.md).
void adam_span(float* __restrict w, const float* __restrict g, float* __restrict m, float* __restrict v, int64_t n,
               float keep, float b1, float b2, float step, float inv_c2, float eps) {
  for (int64_t i = 0; i < n; ++i) {
    w[i] *= keep;
    m[i] = b1 * m[i] + (1.f - b1) * g[i];
    v[i] = b2 * v[i] + (1.f - b2) * g[i] * g[i];
    w[i] -= step * m[i] / (std::sqrt(v[i] * inv_c2) + eps);
  }
}

}  // namespace

void adamw_update(const std::vector<OptimTensor>& ts, int64_t& t, double lr, double b1, double b2, double wd, double eps) {
  ++t;
  const double c1 = 1.0 - std::pow(b1, double(t)), c2 = 1.0 - std::pow(b2, double(t));
  const float step = float(lr / c1), inv_c2 = float(1.0 / c2), fb1 = float(b1), fb2 = float(b2), feps = float(eps);
  for (const OptimTensor& x : ts) {
    const float keep = x.decay ? float(1.0 - lr * wd) : 1.f;
    parallel_for(int64_t(x.n), 1 << 16, [&](int64_t b, int64_t e) {
      adam_span(x.w + b, x.g + b, x.m + b, x.v + b, e - b, keep, fb1, fb2, step, inv_c2, feps);
    });
  }
}

double sum_of_squares(const float* p, size_t n) {
  double acc[8] = {};
  size_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int l = 0; l < 8; ++l) acc[l] += double(p[i + l]) * p[i + l];
  double s = 0;
  for (; i < n; ++i) s += double(p[i]) * p[i];
  for (double a : acc) s += a;
  return s;
}

namespace {

// Σ g² over fixed chunks of 2^14 elements; the chunk sums are added in order, so the value does
// not depend on the thread count.
double chunked_sum_of_squares(const std::vector<std::pair<float*, size_t>>& grads) {
  constexpr size_t kChunk = size_t(1) << 14;
  std::vector<std::pair<const float*, size_t>> chunks;
  for (const auto& [ptr, n] : grads)
    for (size_t i = 0; i < n; i += kChunk) chunks.push_back({ptr + i, std::min(kChunk, n - i)});
  std::vector<double> sums(chunks.size(), 0.0);
  parallel_for(int64_t(chunks.size()), 4, [&](int64_t c0, int64_t c1) {
    for (int64_t c = c0; c < c1; ++c) sums[size_t(c)] = sum_of_squares(chunks[size_t(c)].first, chunks[size_t(c)].second);
  });
  double ss = 0;
  for (double s : sums) ss += s;
  return ss;
}

}  // namespace

void clip_to_norm(const std::vector<std::pair<float*, size_t>>& grads, double norm, double max_norm) {
  if (!(norm > max_norm && std::isfinite(norm))) return;
  const float s = float(max_norm / (norm + 1e-6));
  for (const auto& [ptr, n] : grads)
    parallel_for(int64_t(n), 1 << 16, [&, ptr = ptr](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) ptr[i] *= s;
    });
}

double clip_grad_norm(const std::vector<std::pair<float*, size_t>>& grads, double max_norm) {
  const double norm = std::sqrt(chunked_sum_of_squares(grads));
  clip_to_norm(grads, norm, max_norm);
  return norm;
}

}  // namespace cc
