#include "core/stats.hpp"

#include <algorithm>
#include <numeric>
#include <cmath>
#include <map>
#include <random>

namespace cc {

Interval percentile_95(std::vector<double> v) {
  if (v.empty()) return {NAN, NAN};
  std::sort(v.begin(), v.end());
  auto at = [&](double q) { return v[size_t(std::clamp(q * double(v.size() - 1), 0.0, double(v.size() - 1)))]; };
  return {at(0.025), at(0.975)};
}

Interval bootstrap_mean_ci(const std::vector<double>& v, const std::vector<int64_t>& unit, int resamples, uint64_t seed) {
  if (v.empty() || v.size() != unit.size()) return {NAN, NAN};
  std::map<int64_t, std::pair<double, double>> by_unit;  // unit → (sum, count)
  for (size_t i = 0; i < v.size(); ++i) {
    auto& [s, n] = by_unit[unit[i]];
    s += v[i];
    n += 1;
  }
  std::vector<double> sum, count;
  for (const auto& [k, sn] : by_unit) {
    sum.push_back(sn.first);
    count.push_back(sn.second);
  }
  return bootstrap_ratio_ci(sum, count, resamples, seed);
}

Interval bootstrap_ratio_ci(const std::vector<double>& num, const std::vector<double>& den, int resamples, uint64_t seed) {
  if (num.empty() || num.size() != den.size() || resamples < 1) return {NAN, NAN};
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<size_t> pick(0, num.size() - 1);
  std::vector<double> ratios;
  ratios.reserve(size_t(resamples));
  for (int b = 0; b < resamples; ++b) {
    double s = 0, n = 0;
    for (size_t k = 0; k < num.size(); ++k) {
      const size_t u = pick(rng);
      s += num[u];
      n += den[u];
    }
    ratios.push_back(s / n);
  }
  return percentile_95(std::move(ratios));
}

double sign_test_p(int64_t positive, int64_t negative) {
  const int64_t n = positive + negative, k = std::min(positive, negative);
  if (n == 0) return 1.0;
  // P(X <= k) for X ~ Binomial(n, 1/2), summed in log space so large n does not overflow.
  double tail = 0;
  for (int64_t i = 0; i <= k; ++i)
    tail += std::exp(std::lgamma(double(n) + 1) - std::lgamma(double(i) + 1) - std::lgamma(double(n - i) + 1) - double(n) * std::log(2.0));
  return std::min(1.0, 2 * tail);
}

double wilcoxon_signed_rank_p(const std::vector<double>& d, int64_t exact_limit) {
  std::vector<std::pair<double, bool>> a;  // (|d|, d > 0)
  for (double x : d)
    if (x != 0 && std::isfinite(x)) a.push_back({std::abs(x), x > 0});
  const int64_t n = int64_t(a.size());
  if (n == 0) return 1.0;
  std::sort(a.begin(), a.end());
  // Twice the average ranks (integers even with ties), their sum for the positive differences, and
  // the tie correction of the variance.
  std::vector<int64_t> rank2(static_cast<size_t>(n));
  double tie_term = 0;
  for (int64_t i = 0; i < n;) {
    int64_t j = i;
    while (j < n && a[size_t(j)].first == a[size_t(i)].first) ++j;
    for (int64_t k = i; k < j; ++k) rank2[size_t(k)] = i + j + 1;  // 2 × mean of ranks i+1..j
    const double t = double(j - i);
    tie_term += t * t * t - t;
    i = j;
  }
  int64_t w2 = 0, total2 = 0;
  for (int64_t i = 0; i < n; ++i) {
    total2 += rank2[size_t(i)];
    if (a[size_t(i)].second) w2 += rank2[size_t(i)];
  }
  if (n <= exact_limit) {
    // Exact: every sign pattern is equally likely under H0; count patterns by their 2·W+.
    std::vector<double> count(size_t(total2 + 1), 0.0);
    count[0] = 1;
    int64_t reach = 0;
    for (int64_t i = 0; i < n; ++i) {
      const int64_t r = rank2[size_t(i)];
      for (int64_t s = reach; s >= 0; --s)
        if (count[size_t(s)] > 0) count[size_t(s + r)] += count[size_t(s)];
      reach += r;
    }
    double le = 0, ge = 0, all = 0;
    for (int64_t s = 0; s <= total2; ++s) {
      all += count[size_t(s)];
      if (s <= w2) le += count[size_t(s)];
      if (s >= w2) ge += count[size_t(s)];
    }
    return std::min(1.0, 2 * std::min(le, ge) / all);
  }
  const double nn = double(n), mean = nn * (nn + 1) / 4;
  const double var = nn * (nn + 1) * (2 * nn + 1) / 24 - tie_term / 48;
  const double z = (std::abs(double(w2) / 2 - mean) - 0.5) / std::sqrt(var);  // continuity correction
  return std::min(1.0, std::erfc(std::max(0.0, z) / std::sqrt(2.0)));
}

std::vector<double> benjamini_hochberg(const std::vector<double>& p) {
  const size_t n = p.size();
  std::vector<size_t> order(n);
  std::iota(order.begin(), order.end(), size_t(0));
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return p[a] < p[b]; });
  std::vector<double> q(n);
  double running = 1.0;  // q_(i) = min over j >= i of p_(j) n / j, from the largest p down
  for (size_t r = n; r-- > 0;) {
    running = std::min(running, p[order[r]] * double(n) / double(r + 1));
    q[order[r]] = running;
  }
  return q;
}

}  // namespace cc
