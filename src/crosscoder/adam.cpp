// Adam and clipping, threaded over parameter chunks.
#include "crosscoder/adam.hpp"

#include <cmath>

#include "core/error.hpp"
#include "core/finite.hpp"
#include "core/parallel.hpp"

namespace cc {

double clip_grad_norm(CrosscoderParams& g, double max_norm) {
  double ss = 0;
  for (auto& [ptr, n] : g.tensors())
    for (size_t i = 0; i < n; ++i) ss += double(ptr[i]) * ptr[i];
  const double norm = std::sqrt(ss);
  if (norm > max_norm && std::isfinite(norm)) {  // a non-finite norm is the caller's to report
    const float s = float(max_norm / (norm + 1e-6));
    for (auto& [ptr, n] : g.tensors())
      for (size_t i = 0; i < n; ++i) ptr[i] *= s;
  }
  return norm;
}

void check_grad_norm(double norm, const CrosscoderParams& g, int64_t step, const std::string& out) {
  if (std::isfinite(norm)) return;
  const int64_t F = g.F, D2 = 2 * g.d;
  const std::string at = "at step " + std::to_string(step);
  const std::string hint = "training stopped before the update; the last checkpoint in " + out + " is intact (try a lower --lr)";
  check_finite(g.W_encT.data(), {F, D2}, out, "gradient of W_enc (held as [feature, 2*d_model])", at, hint);
  check_finite(g.b_enc.data(), {F}, out, "gradient of b_enc", at, hint);
  check_finite(g.W_dec.data(), {F, D2}, out, "gradient of W_dec ([feature, 2*d_model])", at, hint);
  check_finite(g.b_dec.data(), {D2}, out, "gradient of b_dec", at, hint);
  fail(out, "gradient norm", "is not finite " + at, "", "", hint);
}

void adam_step(CrosscoderParams& p, CrosscoderParams& g, AdamState& s, double lr, double b1, double b2, double eps) {
  ++s.t;
  const double c1 = 1.0 - std::pow(b1, double(s.t)), c2 = 1.0 - std::pow(b2, double(s.t));
  const float step = float(lr / c1), inv_c2 = float(1.0 / c2), fb1 = float(b1), fb2 = float(b2), feps = float(eps);
  size_t off = 0;
  auto gt = g.tensors();
  auto pt = p.tensors();
  for (size_t k = 0; k < pt.size(); ++k) {
    float* w = pt[k].first;
    const float* gr = gt[k].first;
    float* m = s.m.data() + off;
    float* v = s.v.data() + off;
    parallel_for(int64_t(pt[k].second), 1 << 16, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) {
        m[i] = fb1 * m[i] + (1.f - fb1) * gr[i];
        v[i] = fb2 * v[i] + (1.f - fb2) * gr[i] * gr[i];
        w[i] -= step * m[i] / (std::sqrt(v[i] * inv_c2) + feps);
      }
    });
    off += pt[k].second;
  }
}

}  // namespace cc
