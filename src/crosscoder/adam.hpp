// Adam (torch.optim.Adam semantics: bias-corrected moments, eps outside the square root) over
// the parameter list of CrosscoderParams, plus global gradient-norm clipping.
#pragma once
#include <cstdint>
#include <vector>

#include "crosscoder/crosscoder.hpp"

namespace cc {

struct AdamState {
  std::vector<float> m, v;  // concatenated over CrosscoderParams::tensors(), same order
  int64_t t = 0;            // steps taken
  void resize(size_t n) {
    m.assign(n, 0.f);
    v.assign(n, 0.f);
  }
};

// Scales grads so their global L2 norm is at most max_norm (torch's clip_grad_norm_); returns
// the norm before clipping.
double clip_grad_norm(CrosscoderParams& grads, double max_norm);

void adam_step(CrosscoderParams& p, CrosscoderParams& grads, AdamState& s, double lr, double beta1, double beta2,
               double eps = 1e-8);

}  // namespace cc
