// Paired tests against independent references: the sign test against an exact binomial sum in
// integers, the Wilcoxon signed-rank test against brute-force enumeration of every sign pattern.
#include <cmath>
#include <numeric>
#include <random>
#include <vector>

#include "core/stats.hpp"
#include "test_util.hpp"

namespace cc {
namespace {

// 2 · Σ_{i ≤ min(k, n−k)} C(n, i) / 2^n with C(n, i) built by Pascal's rule in exact integers.
double binomial_two_sided(int n, int k) {
  std::vector<std::vector<unsigned long long>> C(size_t(n + 1), std::vector<unsigned long long>(size_t(n + 1), 0));
  for (int i = 0; i <= n; ++i) {
    C[size_t(i)][0] = 1;
    for (int j = 1; j <= i; ++j) C[size_t(i)][size_t(j)] = C[size_t(i - 1)][size_t(j - 1)] + (j < i ? C[size_t(i - 1)][size_t(j)] : 0);
  }
  unsigned long long tail = 0;
  for (int i = 0; i <= std::min(k, n - k); ++i) tail += C[size_t(n)][size_t(i)];
  return std::min(1.0, 2.0 * double(tail) / std::ldexp(1.0, n));
}

TEST(Stats, SignTestEqualsTheExactBinomialTail) {
  EXPECT_NEAR(sign_test_p(14, 9), 0.4048728942871094, 1e-12);  // the demo's 14 of 23 (math.comb in Python)
  for (int n = 1; n <= 40; n += 3)
    for (int k = 0; k <= n; ++k) EXPECT_NEAR(sign_test_p(k, n - k), binomial_two_sided(n, k), 1e-9 * binomial_two_sided(n, k)) << n << " " << k;
  EXPECT_DOUBLE_EQ(sign_test_p(0, 0), 1.0);
  EXPECT_LT(sign_test_p(20, 0), 2e-6);  // 2 / 2^20
}

// Two-sided p by enumerating all 2^n sign flips of |d| (average ranks for ties, zeros dropped).
double wilcoxon_brute(const std::vector<double>& d) {
  std::vector<double> a;
  for (double x : d)
    if (x != 0) a.push_back(x);
  const size_t n = a.size();
  std::vector<double> rank(n);
  for (size_t i = 0; i < n; ++i) {
    double less = 0, equal = 0;
    for (size_t j = 0; j < n; ++j) {
      less += std::abs(a[j]) < std::abs(a[i]);
      equal += std::abs(a[j]) == std::abs(a[i]);
    }
    rank[i] = less + (equal + 1) / 2;
  }
  double w = 0;
  for (size_t i = 0; i < n; ++i) w += a[i] > 0 ? rank[i] : 0;
  double le = 0, ge = 0;
  for (unsigned long mask = 0; mask < (1ul << n); ++mask) {
    double s = 0;
    for (size_t i = 0; i < n; ++i) s += (mask >> i & 1) ? rank[i] : 0;
    le += s <= w + 1e-9;
    ge += s >= w - 1e-9;
  }
  return std::min(1.0, 2 * std::min(le, ge) / double(1ul << n));
}

TEST(Stats, WilcoxonEqualsBruteForceEnumerationWithTiesAndZeros) {
  std::mt19937 rng(5);
  std::uniform_int_distribution<int> v(-6, 6);
  for (int trial = 0; trial < 40; ++trial) {
    std::vector<double> d(size_t(4 + trial % 11));
    for (double& x : d) x = double(v(rng)) * 0.5;  // small integers: ties and zeros on purpose
    const double want = wilcoxon_brute(d);
    EXPECT_NEAR(wilcoxon_signed_rank_p(d), want, 1e-12) << "trial " << trial;
  }
  EXPECT_DOUBLE_EQ(wilcoxon_signed_rank_p({0.0, 0.0}), 1.0);
  // All 12 differences negative: only one pattern of 4096 is as extreme on each side.
  std::vector<double> neg;
  for (int i = 1; i <= 12; ++i) neg.push_back(-i * 0.1);
  EXPECT_NEAR(wilcoxon_signed_rank_p(neg), 2.0 / 4096, 1e-15);
}

TEST(Stats, WilcoxonNormalApproximationAgreesWithTheExactDistribution) {
  // On 50 differences (exact still cheap), the normal approximation with continuity correction is
  // within 10% of the exact p wherever p ≥ 0.02, the range where a decision at 0.05 is made. (In
  // the far tail it is not: at exact p ~ 1e-5 it is off by a factor of ~2.7, checked by hand; the
  // exact distribution is used up to 60 differences for that reason.)
  std::mt19937 rng(9);
  int compared = 0;
  for (int trial = 0; trial < 60; ++trial) {
    std::normal_distribution<double> g(0.05 * (trial % 6), 1.0);
    std::vector<double> d(50);
    for (double& x : d) x = g(rng);
    const double exact = wilcoxon_signed_rank_p(d), approx = wilcoxon_signed_rank_p(d, 0);
    if (exact < 0.02) continue;
    ++compared;
    EXPECT_NEAR(approx, exact, 0.1 * exact) << "trial " << trial;
  }
  EXPECT_GT(compared, 20);
}

// Positions of one sequence that move together: the bootstrap over sequences sees 20 independent
// units and must be wider than one that treats the 400 positions as independent; with every unit
// its own, the two coincide.
TEST(Stats, BootstrapOverUnitsIsWiderWhenPositionsAreCorrelated) {
  std::mt19937 rng(3);
  std::normal_distribution<double> g(0, 1), noise(0, 0.1);
  std::vector<double> v;
  std::vector<int64_t> seq, own;
  for (int s = 0; s < 20; ++s) {
    const double shared = g(rng);  // the sequence's common shift
    for (int k = 0; k < 20; ++k) {
      v.push_back(shared + noise(rng));
      seq.push_back(s);
      own.push_back(int64_t(v.size()));
    }
  }
  const Interval by_seq = bootstrap_mean_ci(v, seq, 2000, 1), by_pos = bootstrap_mean_ci(v, own, 2000, 1);
  const double mean = std::accumulate(v.begin(), v.end(), 0.0) / double(v.size());
  EXPECT_LT(by_seq.lo, mean);
  EXPECT_GT(by_seq.hi, mean);
  EXPECT_GT(by_seq.hi - by_seq.lo, 3 * (by_pos.hi - by_pos.lo));  // ≈ sqrt(20) wider in theory
  // Deterministic for a seed.
  const Interval again = bootstrap_mean_ci(v, seq, 2000, 1);
  EXPECT_EQ(again.lo, by_seq.lo);
  EXPECT_EQ(again.hi, by_seq.hi);
  EXPECT_TRUE(std::isnan(bootstrap_mean_ci({}, {}, 10, 1).lo));
}

TEST(Stats, BootstrapRatioOverTwoUnitsHasTheEnumeratedPercentiles) {
  // Units (1, 1) and (3, 1): a resample of two is {1, 1} (Σnum/Σden = 1, p 1/4), mixed (2, p 1/2)
  // or {3, 3} (3, p 1/4), so the 2.5th and 97.5th percentiles are 1 and 3.
  const Interval iv = bootstrap_ratio_ci({1, 3}, {1, 1}, 4000, 5);
  EXPECT_EQ(iv.lo, 1.0);
  EXPECT_EQ(iv.hi, 3.0);
  // Units sharing one ratio give that ratio whatever is drawn; weights are the denominators.
  const Interval same = bootstrap_ratio_ci({0.5, 2.5, 10}, {1, 5, 20}, 500, 2);
  EXPECT_NEAR(same.lo, 0.5, 1e-15);
  EXPECT_NEAR(same.hi, 0.5, 1e-15);
  EXPECT_TRUE(std::isnan(bootstrap_ratio_ci({1}, {1, 2}, 10, 1).lo));  // mismatched lengths
}

TEST(Stats, Percentile95OfKnownSamples) {
  std::vector<double> v;
  for (int i = 0; i <= 1000; ++i) v.push_back(i);
  const Interval iv = percentile_95(v);
  EXPECT_DOUBLE_EQ(iv.lo, 25);
  EXPECT_DOUBLE_EQ(iv.hi, 975);
  EXPECT_TRUE(std::isnan(percentile_95({}).lo));
}

}  // namespace
}  // namespace cc
