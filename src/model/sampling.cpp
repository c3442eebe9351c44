// Sampling implementation; scratch is reused across calls.
#include "model/sampling.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

#include "core/error.hpp"

namespace cc {

Sampler::Sampler(SamplingParams p) : p_(p), rng_(p.seed) {
  if (p.temperature < 0) fail("", "temperature", "must be >= 0", ">= 0", std::to_string(p.temperature));
  if (p.top_p <= 0 || p.top_p > 1) fail("", "top_p", "must be in (0, 1]", "(0,1]", std::to_string(p.top_p));
  if (p.top_k < 0) fail("", "top_k", "must be >= 0", ">= 0", std::to_string(p.top_k));
}

int32_t argmax(const float* x, int64_t n) {
  int64_t best = 0;
  for (int64_t i = 1; i < n; ++i)
    if (x[i] > x[best]) best = i;
  return int32_t(best);
}

int32_t Sampler::sample(const float* logits, int64_t V) {
  for (int64_t i = 0; i < V; ++i)
    if (std::isnan(logits[i])) fail("", "logits", "contain NaN at token " + std::to_string(i), "finite values", "NaN");
  if (p_.temperature == 0.f) return argmax(logits, V);
  thread_local std::vector<int32_t> idx;
  thread_local std::vector<double> prob;
  idx.resize(size_t(V));
  std::iota(idx.begin(), idx.end(), 0);
  // Candidates sorted by logit, descending (stable on ties for determinism).
  int64_t keep = (p_.top_k > 0) ? std::min<int64_t>(p_.top_k, V) : V;
  auto cmp = [&](int32_t a, int32_t b) { return logits[a] > logits[b] || (logits[a] == logits[b] && a < b); };
  if (keep < V) {
    std::partial_sort(idx.begin(), idx.begin() + keep, idx.end(), cmp);
    idx.resize(size_t(keep));
  } else {
    std::sort(idx.begin(), idx.end(), cmp);
  }
  const double mx = logits[idx[0]] / double(p_.temperature);
  prob.resize(idx.size());
  double sum = 0;
  for (size_t i = 0; i < idx.size(); ++i) {
    prob[i] = std::exp(logits[idx[i]] / double(p_.temperature) - mx);
    sum += prob[i];
  }
  // top-p: smallest prefix whose mass reaches p (always at least one token).
  size_t n = idx.size();
  if (p_.top_p < 1.f) {
    double acc = 0;
    for (size_t i = 0; i < idx.size(); ++i) {
      acc += prob[i] / sum;
      if (acc >= p_.top_p) {
        n = i + 1;
        break;
      }
    }
  }
  double mass = 0;
  for (size_t i = 0; i < n; ++i) mass += prob[i];
  std::uniform_real_distribution<double> u(0.0, mass);
  double r = u(rng_), acc = 0;
  for (size_t i = 0; i < n; ++i) {
    acc += prob[i];
    if (r < acc) return idx[i];
  }
  return idx[n - 1];
}

double log_sum_exp(const float* logits, int64_t n) {
  double mx = logits[0], z = 0;
  for (int64_t v = 1; v < n; ++v) mx = std::max(mx, double(logits[v]));
  for (int64_t v = 0; v < n; ++v) z += std::exp(double(logits[v]) - mx);
  return mx + std::log(z);
}

}  // namespace cc
