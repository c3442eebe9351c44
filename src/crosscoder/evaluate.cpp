#include "crosscoder/evaluate.hpp"

#include <algorithm>
#include <vector>

#include "core/error.hpp"
#include "crosscoder/feature_shard.hpp"
#include "crosscoder/step.hpp"
#include "dist/comm.hpp"

namespace cc {

void FvuSums::add(const float* x, const float* xhat, int64_t n) {
  for (int64_t i = 0; i < n; ++i, x += 2 * d_, xhat += 2 * d_)
    for (int64_t q = 0; q < 2 * d_; ++q) {
      const double e = double(xhat[q]) - x[q];
      err_[q / d_] += e * e;
      sq_[q / d_] += double(x[q]) * x[q];
      sum_[size_t(q)] += x[q];
    }
  rows_ += n;
}

double FvuSums::variance(int m) const {
  double v = sq_[m];
  for (int64_t q = m * d_; q < (m + 1) * d_; ++q) v -= sum_[size_t(q)] * sum_[size_t(q)] / double(std::max<int64_t>(rows_, 1));
  return v;
}

Json EvalMetrics::to_json() const {
  return {{"rows", rows}, {"held_out", held_out}, {"fvu", {fvu[0], fvu[1]}}, {"explained_variance", {1 - fvu[0], 1 - fvu[1]}},
          {"mse", mse}, {"l0", l0}, {"inactive_frac", inactive_frac},
          {"formula", "FVU_m = sum_rows sum_i (x - xhat)^2 / sum_rows sum_i (x - mean)^2, held-out rows, inference encoder"}};
}

EvalMetrics evaluate_crosscoder(const CrosscoderParams& p, const CrosscoderConfig& c, const ActivationStore& store, int64_t max_rows) {
  return evaluate_crosscoder(p, c, store, max_rows, FeatureShard::whole_dictionary(p.F));
}

EvalMetrics evaluate_crosscoder(const CrosscoderParams& p, const CrosscoderConfig& c, const ActivationStore& store, int64_t max_rows,
                                const FeatureShard& s) {
  const int64_t d = p.d, D2 = 2 * d, F = p.F, chunk = 4096;
  EvalMetrics r;
  r.held_out = store.has_split();
  const int64_t limit = max_rows < 0 ? store.rows() : max_rows;
  FvuSums sums(d);
  int64_t active = 0;
  std::vector<uint8_t> fired(size_t(F), 0);
  std::vector<float> f, xh;
  for (int64_t r0 = 0; r0 < store.rows() && r.rows < limit; r0 += chunk) {
    ActivationBatch x = select_rows(store.read(r0, std::min(chunk, store.rows() - r0)), r.held_out ? 1 : -1, limit - r.rows);
    if (x.rows == 0) continue;
    crosscoder_scale_inputs(c, x.acts.data(), x.rows);
    crosscoder_encode(p, c, x.acts.data(), x.rows, f);
    xh.resize(size_t(x.rows * D2));
    crosscoder_decode(p, f.data(), x.rows, xh.data(), s);
    sums.add(x.acts.data(), xh.data(), x.rows);
    for (int64_t i = 0; i < x.rows * F; ++i)
      if (f[size_t(i)] > 0) {
        active += 1;
        fired[size_t(i % F)] = 1;
      }
    r.rows += x.rows;
  }
  if (r.rows == 0) fail(store.dir(), "held-out rows", "none in the store", "> 0", "0", "harvest with --eval-fraction > 0");
  for (int m = 0; m < 2; ++m) r.fvu[m] = sums.fvu(m);
  r.mse = (sums.error(0) + sums.error(1)) / double(r.rows);
  int64_t counts[2] = {active, int64_t(std::count(fired.begin(), fired.end(), uint8_t(0)))};
  if (!s.whole()) dist::allreduce_sum(counts, 2);
  r.l0 = double(counts[0]) / double(r.rows);
  r.inactive_frac = double(counts[1]) / double(s.F);
  return r;
}

}  // namespace cc
