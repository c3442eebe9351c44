// A random crosscoder with biases that make about half its features fire on unit-scale inputs and
// uneven decoder norms (so the NRN pools > 0.5 and the shared band are both populated): the
// ablation and spliced-loss tests run on it.
#pragma once
#include <random>
#include <string>

#include "crosscoder/crosscoder.hpp"

namespace cc::test {

inline void make_crosscoder(CrosscoderParams& p, CrosscoderConfig& c, int64_t d, int64_t F, const std::string& hook) {
  crosscoder_init(p, d, F, 0.5, 7);
  std::mt19937_64 rng(3);
  std::normal_distribution<float> n(0.f, 0.3f);
  for (auto& v : p.b_enc) v = n(rng);
  for (auto& v : p.b_dec) v = n(rng);
  for (int64_t i = 0; i < F; ++i)
    for (int64_t q = 0; q < d; ++q) p.W_dec[size_t(i * 2 * d + q)] *= float(0.2 + 1.6 * double(i % 5) / 4.0);
  c.d_in = d;
  c.dict_size = F;
  c.hook = hook;
  c.norm_factors = {1.5, 0.5};
}

}  // namespace cc::test
