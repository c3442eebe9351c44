#include "crosscoder/evaluate.hpp"

#include <algorithm>
#include <vector>

#include "core/error.hpp"
#include "crosscoder/step.hpp"

namespace cc {

Json EvalMetrics::to_json() const {
  return {{"rows", rows}, {"held_out", held_out}, {"fvu", {fvu[0], fvu[1]}}, {"explained_variance", {1 - fvu[0], 1 - fvu[1]}},
          {"mse", mse}, {"l0", l0}, {"inactive_frac", inactive_frac},
          {"formula", "FVU_m = sum_rows sum_i (x - xhat)^2 / sum_rows sum_i (x - mean)^2, held-out rows, inference encoder"}};
}

EvalMetrics evaluate_crosscoder(const CrosscoderParams& p, const CrosscoderConfig& c, const ActivationStore& store, int64_t max_rows) {
  const int64_t d = p.d, D2 = 2 * d, F = p.F, chunk = 4096;
  EvalMetrics r;
  r.held_out = store.has_split();
  const int64_t limit = max_rows < 0 ? store.rows() : max_rows;
  // Sums in double: Σ err², Σ x, Σ x² per dimension, so the variance about the mean is exact enough.
  std::vector<double> sx(size_t(D2), 0.0), sxx(size_t(D2), 0.0);
  double err[2] = {0, 0}, active = 0;
  std::vector<uint8_t> fired(size_t(F), 0);
  std::vector<float> f, xh;
  for (int64_t r0 = 0; r0 < store.rows() && r.rows < limit; r0 += chunk) {
    ActivationBatch x = select_rows(store.read(r0, std::min(chunk, store.rows() - r0)), r.held_out ? 1 : -1, limit - r.rows);
    if (x.rows == 0) continue;
    crosscoder_scale_inputs(c, x.acts.data(), x.rows);
    crosscoder_encode(p, c, x.acts.data(), x.rows, f);
    xh.resize(size_t(x.rows * D2));
    crosscoder_decode(p, f.data(), x.rows, xh.data());
    for (int64_t i = 0; i < x.rows; ++i)
      for (int64_t q = 0; q < D2; ++q) {
        const double v = x.acts[size_t(i * D2 + q)], e = double(xh[size_t(i * D2 + q)]) - v;
        err[q / d] += e * e;
        sx[size_t(q)] += v;
        sxx[size_t(q)] += v * v;
      }
    for (int64_t i = 0; i < x.rows * F; ++i)
      if (f[size_t(i)] > 0) {
        active += 1;
        fired[size_t(i % F)] = 1;
      }
    r.rows += x.rows;
  }
  if (r.rows == 0) fail(store.dir(), "held-out rows", "none in the store", "> 0", "0", "harvest with --eval-fraction > 0");
  double var[2] = {0, 0};
  for (int64_t q = 0; q < D2; ++q) var[q / d] += sxx[size_t(q)] - sx[size_t(q)] * sx[size_t(q)] / double(r.rows);
  for (int m = 0; m < 2; ++m) r.fvu[m] = var[m] > 0 ? err[m] / var[m] : 0;
  r.mse = (err[0] + err[1]) / double(r.rows);
  r.l0 = active / double(r.rows);
  r.inactive_frac = double(std::count(fired.begin(), fired.end(), uint8_t(0))) / double(F);
  return r;
}

}  // namespace cc
