// Next-token choice from logits: greedy, or temperature → top-k → top-p (the order HF's
// logits processors apply them) followed by a seeded multinomial draw.
#pragma once
#include <cstdint>
#include <random>

namespace cc {

struct SamplingParams {
  float temperature = 0.f;  // 0 = greedy (argmax); e.g. 0.6 as R1-Distill recommends
  int top_k = 0;            // 0 = off; e.g. 50
  float top_p = 1.f;        // 1 = off; e.g. 0.95
  uint64_t seed = 0;        // the draw sequence is a pure function of the seed
};

class Sampler {
 public:
  explicit Sampler(SamplingParams p);
  int32_t sample(const float* logits, int64_t vocab);

 private:
  SamplingParams p_;
  std::mt19937_64 rng_;
};

int32_t argmax(const float* x, int64_t n);  // first maximum, as torch.argmax

// log Σ_v exp(logits[v]) in double, shifted by the maximum: log p(t) = logits[t] − log_sum_exp.
double log_sum_exp(const float* logits, int64_t n);

}  // namespace cc
