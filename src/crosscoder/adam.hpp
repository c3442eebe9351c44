// Adam (torch.optim.Adam semantics: bias-corrected moments, eps outside the square root) over
// the parameter list of CrosscoderParams, plus global gradient-norm clipping.
#pragma once
#include <cstdint>
#include <vector>

#include "crosscoder/crosscoder.hpp"
#include "crosscoder/feature_shard.hpp"

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
// the norm before clipping. A non-finite norm leaves grads untouched (the caller stops and
// names the element). The norm is summed per feature (its W_enc row, b_enc entry and W_dec row),
// then over features in order, then b_dec: with a shard of the dictionary, over all ranks, and
// the same on each.
double clip_grad_norm(CrosscoderParams& grads, double max_norm, const FeatureShard& shard);
inline double clip_grad_norm(CrosscoderParams& grads, double max_norm) {
  return clip_grad_norm(grads, max_norm, FeatureShard::whole_dictionary(grads.F));
}
// Given clip_grad_norm's result: when it is not finite, throws cc::Error naming the first NaN/Inf
// gradient element (tensor and index) at `step`, before Adam's moments take it in.
void check_grad_norm(double norm, const CrosscoderParams& grads, int64_t step, const std::string& out);

void adam_step(CrosscoderParams& p, CrosscoderParams& grads, AdamState& s, double lr, double beta1, double beta2,
               double eps = 1e-8);

}  // namespace cc
