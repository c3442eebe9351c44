// A trained crosscoder measured the way it is used: on held-out rows (documents the training never
// read), with the inference encoder (θ for BatchTopK). The field's standard metrics:
//   FVU_m = Σ_rows Σ_i (x_mi − x̂_mi)² / Σ_rows Σ_i (x_mi − μ_mi)²,  μ_m = the per-dimension mean
//           over the same rows; each sum taken over the whole set before dividing (docs/CROSSCODER.md).
//   The ratio is the same in the models' own units and in the crosscoder's scaled units (s_m cancels).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "core/json_file.hpp"
#include "crosscoder/crosscoder.hpp"
#include "harvest/activation_store.hpp"

namespace cc {

struct FeatureShard;

// The sums FVU needs, accumulated row by row over rows x, x̂ [n, 2d] (in double): the one place the
// held-out metrics and the analysis compute explained variance.
class FvuSums {
 public:
  explicit FvuSums(int64_t d) : d_(d), sum_(size_t(2 * d), 0.0) {}
  void add(const float* x, const float* xhat, int64_t n);
  int64_t rows() const { return rows_; }
  double error(int m) const { return err_[m]; }        // Σ ||x_m − x̂_m||²
  double variance(int m) const;                         // Σ ||x_m − μ_m||²
  double fvu(int m) const { return variance(m) > 0 ? err_[m] / variance(m) : 0; }

 private:
  int64_t d_, rows_ = 0;
  double err_[2] = {0, 0}, sq_[2] = {0, 0};
  std::vector<double> sum_;  // [2d] Σ x per dimension
};

struct EvalMetrics {
  int64_t rows = 0;              // held-out rows measured
  bool held_out = true;          // false: the store has no split, so these rows may be training rows
  double fvu[2] = {0, 0};        // per model (0 = base A, 1 = distilled B)
  double mse = 0;                // mean over rows of Σ_m Σ_i (x − x̂)² in scaled units (the training L2)
  double l0 = 0;                 // mean active features per row
  double inactive_frac = 0;      // features that never fired on these rows
  Json to_json() const;
};

// The first max_rows held-out rows of the store (all of them when max_rows < 0).
EvalMetrics evaluate_crosscoder(const CrosscoderParams& p, const CrosscoderConfig& c, const ActivationStore& store, int64_t max_rows);
// Feature-parallel: every rank calls it with its slice p of the dictionary `s` and gets the
// metrics one process gets for the whole dictionary.
EvalMetrics evaluate_crosscoder(const CrosscoderParams& p, const CrosscoderConfig& c, const ActivationStore& store, int64_t max_rows,
                                const FeatureShard& s);

}  // namespace cc
