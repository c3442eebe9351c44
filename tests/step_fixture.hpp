// One crosscoder training step's inputs at a small size: a tied init with the encoder perturbed
// away from the decoder, small biases, unit-normal inputs and every third feature dead (so the
// BatchTopK auxiliary loss runs). The CPU step tests and the GPU step tests compare steps on it.
#pragma once
#include <algorithm>
#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "crosscoder/step.hpp"

namespace cc::test {

struct StepInstance {
  CrosscoderConfig c;
  CrosscoderParams p;
  std::vector<float> x;
  std::vector<uint8_t> dead;
  StepInstance(const std::string& arch, int64_t d = 6, int64_t F = 40, int64_t B = 12, uint64_t seed = 3, int64_t k = 4) {
    c.architecture = arch_from_name(arch, "test");
    c.d_in = d;
    c.dict_size = F;
    c.k = k;
    crosscoder_init(p, d, F, 0.3, seed);
    std::mt19937 r{uint32_t(seed)};
    std::normal_distribution<float> n(0.f, 1.f);
    for (auto& v : p.b_enc) v = 0.05f * n(r);
    for (auto& v : p.b_dec) v = 0.1f * n(r);
    for (auto& v : p.W_encT) v += 0.1f * n(r);  // break the tied init so encoder != decoder
    x.resize(size_t(B * 2 * d));
    for (auto& v : x) v = n(r);
    dead.assign(size_t(F), 0);
    for (int64_t j = 0; j < F; j += 3) dead[size_t(j)] = 1;  // exercise the auxiliary loss
  }
  StepInput input() const { return {x.data(), int64_t(x.size()) / (2 * c.d_in), 0.7, &dead}; }
};

// max |a − b| over max |b|: the relative error of a tensor against its reference.
inline double max_rel(const std::vector<float>& a, const std::vector<float>& b) {
  double num = 0, den = 1e-12;
  for (size_t i = 0; i < a.size(); ++i) {
    num = std::max(num, double(std::abs(a[i] - b[i])));
    den = std::max(den, double(std::abs(b[i])));
  }
  return num / den;
}

}  // namespace cc::test
