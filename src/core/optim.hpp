// The one Adam/AdamW update and the one global-norm gradient clipping, over a list of tensors:
// the crosscoder trainer (Adam) and the organism trainer (AdamW) both call these.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

namespace cc {

// One tensor's slice of an optimiser step: weights, gradient and the two moments, all [n].
struct OptimTensor {
  float* w;
  const float* g;
  float* m;
  float* v;
  size_t n;
  bool decay;  // AdamW weight decay applies (2-D weights); Adam passes weight_decay = 0 anyway
};

// torch.optim.AdamW semantics (Adam when weight_decay = 0): t is incremented, then
//   w *= 1 - lr·wd (if decay);  m = β1·m + (1-β1)·g;  v = β2·v + (1-β2)·g²;
//   w -= lr/(1-β1^t) · m / (sqrt(v/(1-β2^t)) + eps).
void adamw_update(const std::vector<OptimTensor>& ts, int64_t& t, double lr, double beta1, double beta2, double weight_decay,
                  double eps);

// Σ p[i]² in double, in 8 lanes (one running sum is a serial dependency the compiler keeps
// scalar) added in a fixed order: the same value on every machine and thread count.
double sum_of_squares(const float* p, size_t n);

// Scales every gradient by max_norm / (norm + 1e-6) when norm exceeds max_norm (and is finite).
void clip_to_norm(const std::vector<std::pair<float*, size_t>>& grads, double norm, double max_norm);

// torch's clip_grad_norm_: scales every gradient by max_norm / (norm + 1e-6) when the global L2
// norm exceeds max_norm; returns the norm before clipping. A non-finite norm leaves them untouched
// (the caller reports it).
double clip_grad_norm(const std::vector<std::pair<float*, size_t>>& grads, double max_norm);

}  // namespace cc
