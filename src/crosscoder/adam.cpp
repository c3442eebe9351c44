// Adam and clipping over CrosscoderParams::tensors() (the kernels: core/optim).
#include "crosscoder/adam.hpp"

#include <cmath>

#include "core/error.hpp"
#include "core/finite.hpp"
#include "core/optim.hpp"
#include "core/parallel.hpp"

namespace cc {

double clip_grad_norm(CrosscoderParams& g, double max_norm, const FeatureShard& shard) {
  const int64_t D2 = 2 * g.d;
  std::vector<double> terms(size_t(g.F));
  parallel_for(g.F, 64, [&](int64_t j0, int64_t j1) {
    for (int64_t j = j0; j < j1; ++j)
      terms[size_t(j)] = sum_of_squares(g.W_encT.data() + j * D2, size_t(D2)) + double(g.b_enc[size_t(j)]) * g.b_enc[size_t(j)] +
                         sum_of_squares(g.W_dec.data() + j * D2, size_t(D2));
  });
  const double norm = std::sqrt(ordered_feature_sum(terms, shard) + sum_of_squares(g.b_dec.data(), size_t(D2)));
  clip_to_norm(g.tensors(), norm, max_norm);
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
  std::vector<OptimTensor> ts;
  size_t off = 0;
  auto gt = g.tensors();
  auto pt = p.tensors();
  for (size_t k = 0; k < pt.size(); ++k) {
    ts.push_back({pt[k].first, gt[k].first, s.m.data() + off, s.v.data() + off, pt[k].second, false});
    off += pt[k].second;
  }
  adamw_update(ts, s.t, lr, b1, b2, 0.0, eps);
}

}  // namespace cc
