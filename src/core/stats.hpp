// Small statistics used to state results with their uncertainty: percentile intervals of bootstrap
// samples and paired tests across units (tasks, sequences).
#pragma once
#include <cstdint>
#include <vector>

namespace cc {

struct Interval {
  double lo = 0, hi = 0;  // NaN when there were no samples
};

// The 2.5th and 97.5th percentiles of v (nearest rank on the sorted samples).
Interval percentile_95(std::vector<double> v);

// 95% percentile interval of the mean of v under a bootstrap that resamples whole units (e.g. the
// sequence each position came from: positions of one sequence are not independent) with
// replacement, `resamples` times; unit[i] is v[i]'s unit. Seeded, so reruns agree.
Interval bootstrap_mean_ci(const std::vector<double>& v, const std::vector<int64_t>& unit, int resamples, uint64_t seed);

// 95% percentile interval of Σ num / Σ den when the units (num[u], den[u]) are resampled with
// replacement: the bootstrap of any mean or ratio whose parts are summed per unit first.
Interval bootstrap_ratio_ci(const std::vector<double>& num, const std::vector<double>& den, int resamples, uint64_t seed);

// Two-sided exact sign test: P(|#positive - n/2| at least as extreme) under Binomial(n, 1/2),
// n = positive + negative (zeros are dropped before calling). 1 when n = 0.
double sign_test_p(int64_t positive, int64_t negative);

// Two-sided Wilcoxon signed-rank test of the paired differences d (zeros dropped, ties given their
// average rank): the exact permutation distribution of W+ for up to exact_limit non-zero
// differences, the normal approximation with tie correction beyond. 1 when none is non-zero.
double wilcoxon_signed_rank_p(const std::vector<double>& d, int64_t exact_limit = 60);

// Benjamini-Hochberg adjusted p-values (q-values) of the tests p, in p's order: rejecting every test
// with q <= α controls the false discovery rate at α for independent or positively dependent tests.
std::vector<double> benjamini_hochberg(const std::vector<double>& p);

}  // namespace cc
