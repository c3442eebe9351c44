// Closed-form parallelogram loss: Σ_{i≠j} ||δ_i − δ_j||² = 2N Σ_i ||δ_i − δ̄||².
#include "geometry/parallelogram.hpp"

#include <set>

#include "core/error.hpp"

namespace cc {

namespace {
double mean_sq_norm(const std::vector<double>& Y, int64_t k, const std::set<int32_t>& words) {
  double s = 0;
  for (int32_t w : words)
    for (int64_t c = 0; c < k; ++c) s += Y[size_t(w * k + c)] * Y[size_t(w * k + c)];
  return s / double(words.size());
}
}  // namespace

double parallelogram_loss(const std::vector<double>& Y, int64_t k, const std::vector<std::pair<int32_t, int32_t>>& pairs,
                          const std::vector<int>* weights) {
  double N = 0;
  std::vector<double> mean(size_t(k), 0.0);
  for (size_t p = 0; p < pairs.size(); ++p) {
    const double w = weights ? (*weights)[p] : 1;
    if (w == 0) continue;
    N += w;
    const double *a = Y.data() + pairs[p].first * k, *b = Y.data() + pairs[p].second * k;
    for (int64_t c = 0; c < k; ++c) mean[size_t(c)] += w * (b[c] - a[c]);
  }
  if (N < 2) fail("", "parallelogram loss", "needs at least two word pairs", ">= 2", std::to_string(int64_t(N)));
  for (double& m : mean) m /= N;
  double spread = 0;
  std::set<int32_t> words;
  for (size_t p = 0; p < pairs.size(); ++p) {
    const double w = weights ? (*weights)[p] : 1;
    if (w == 0) continue;
    const double *a = Y.data() + pairs[p].first * k, *b = Y.data() + pairs[p].second * k;
    for (int64_t c = 0; c < k; ++c) {
      const double e = b[c] - a[c] - mean[size_t(c)];
      spread += w * e * e;
    }
    words.insert(pairs[p].first);
    words.insert(pairs[p].second);
  }
  const double norm = mean_sq_norm(Y, k, words);
  if (norm <= 0) fail("", "parallelogram loss", "is undefined: every word sits at the centre");
  return 2 * N / (N - 1) * (spread / N) / norm;
}

double parallelogram_loss_brute(const std::vector<double>& Y, int64_t k, const std::vector<std::pair<int32_t, int32_t>>& pairs) {
  const size_t N = pairs.size();
  double num = 0, norm = 0;
  for (size_t i = 0; i < N; ++i)
    for (size_t j = 0; j < N; ++j) {
      if (i == j) continue;
      for (int64_t c = 0; c < k; ++c) {
        const double di = Y[size_t(pairs[i].second * k + c)] - Y[size_t(pairs[i].first * k + c)];
        const double dj = Y[size_t(pairs[j].second * k + c)] - Y[size_t(pairs[j].first * k + c)];
        num += (di - dj) * (di - dj);
      }
    }
  num /= double(N * (N - 1));
  std::set<int32_t> words;
  for (const auto& [a, b] : pairs) {
    words.insert(a);
    words.insert(b);
  }
  for (int32_t w : words)
    for (int64_t c = 0; c < k; ++c) norm += Y[size_t(w * k + c)] * Y[size_t(w * k + c)];
  return num / (norm / double(words.size()));
}

}  // namespace cc
