// Steering with crosscoder features (PAPER.md §5): add α · W_dec[i, B, :] / s_B to the residual
// stream at the crosscoder's hook, at every position or at generated positions only.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "model/hooks.hpp"

namespace cc {

struct SteerSpec {
  std::string crosscoder;  // checkpoint directory
  int64_t feature = 0;
  double alpha = 0;
  int model = 1;           // decoder slice: 1 = distilled (B, the paper's), 0 = base (A)
};

// "CKPT:FEATURE:ALPHA" or "CKPT:FEATURE:ALPHA:A" (use the base model's decoder slice).
SteerSpec parse_steer(const std::string& s);

// W_dec[feature, slice] / s_slice and the site of the crosscoder's hook, checked against the model.
struct SteeringVector {
  int site = 0;
  std::vector<float> v;  // [d]
};
SteeringVector load_steering_vector(const std::string& crosscoder, int64_t feature, int slice, int64_t n_layers, int64_t d_model);

// Adds one hook per spec at the site named by each crosscoder's config ("hook"); positions below
// from_pos are left alone. Errors name the checkpoint when the feature, width or hook do not fit.
void add_steering_hooks(Hooks& hooks, const std::vector<SteerSpec>& specs, int64_t n_layers, int64_t d_model,
                        int32_t from_pos = 0);

}  // namespace cc
