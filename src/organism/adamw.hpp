// AdamW (torch.optim.AdamW semantics: decoupled weight decay, bias-corrected moments, eps outside
// the square root) over TrainParams, global-norm clipping, and the warm-up + cosine schedule.
#pragma once
#include <cstdint>
#include <vector>

#include "organism/train_model.hpp"

namespace cc {

struct AdamWState {
  std::vector<std::vector<float>> m, v;  // shaped like TrainParams::t
  int64_t t = 0;                         // steps taken
  void init(const TrainParams& p);
};

// Decay applies to matrices and embeddings (2-D tensors), not to norms or biases (as nanoGPT).
void adamw_step(TrainParams& p, const TrainParams& g, AdamWState& s, double lr, double beta1, double beta2, double weight_decay,
                double eps = 1e-8);

// Scales g so its global L2 norm is at most max_norm; returns the norm before clipping.
double clip_grad_norm(TrainParams& g, double max_norm);

// Linear warm-up over `warmup` steps to max_lr, then cosine decay to min_lr at step `total`.
double warmup_cosine_lr(int64_t step, int64_t total, int64_t warmup, double max_lr, double min_lr);

}  // namespace cc
