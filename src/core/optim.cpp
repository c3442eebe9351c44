// Adam/AdamW and clipping, threaded over chunks of each tensor (element-wise, so the result does not
// depend on the thread count).
#include "core/optim.hpp"

#include <cmath>

#include "core/parallel.hpp"

namespace cc {

void adamw_update(const std::vector<OptimTensor>& ts, int64_t& t, double lr, double b1, double b2, double wd, double eps) {
  ++t;
  const double c1 = 1.0 - std::pow(b1, double(t)), c2 = 1.0 - std::pow(b2, double(t));
  const float step = float(lr / c1), inv_c2 = float(1.0 / c2), fb1 = float(b1), fb2 = float(b2), feps = float(eps);
  for (const OptimTensor& x : ts) {
    const float keep = x.decay ? float(1.0 - lr * wd) : 1.f;
    parallel_for(int64_t(x.n), 1 << 16, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) {
        x.w[i] *= keep;
        x.m[i] = fb1 * x.m[i] + (1.f - fb1) * x.g[i];
        x.v[i] = fb2 * x.v[i] + (1.f - fb2) * x.g[i] * x.g[i];
        x.w[i] -= step * x.m[i] / (std::sqrt(x.v[i] * inv_c2) + feps);
      }
    });
  }
}

double clip_grad_norm(const std::vector<std::pair<float*, size_t>>& grads, double max_norm) {
  double ss = 0;
  for (const auto& [ptr, n] : grads)
    for (size_t i = 0; i < n; ++i) ss += double(ptr[i]) * ptr[i];
  const double norm = std::sqrt(ss);
  if (norm > max_norm && std::isfinite(norm)) {
    const float s = float(max_norm / (norm + 1e-6));
    for (const auto& [ptr, n] : grads)
      for (size_t i = 0; i < n; ++i) ptr[i] *= s;
  }
  return norm;
}

}  // namespace cc
