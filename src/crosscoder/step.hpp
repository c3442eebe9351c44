// One crosscoder training step's loss and gradients, for both architectures, in two
// implementations: a plain dense one (the reference) and the sparse one the trainer uses, in
// which only the encoder product is dense and everything else touches active features only.
#pragma once
#include <cstdint>
#include <vector>

#include "crosscoder/crosscoder.hpp"

namespace cc {

struct StepInput {
  const float* x = nullptr;  // [B, 2d], already scaled by the norm factors
  int64_t B = 0;
  double l1_coeff = 0;       // λ at this step (L1 arch)
  const std::vector<uint8_t>* dead = nullptr;  // [F] 1 = dead (BatchTopK auxiliary loss)
};

struct StepResult {
  double loss = 0, l2 = 0, l1 = 0, aux = 0;
  double l0 = 0;                 // mean active features per token
  double ev[2] = {0, 0};         // explained variance per model
  double min_kept_score = 0;     // BatchTopK: smallest kept score (θ's EMA input)
  std::vector<int32_t> fired;    // features active at least once in the batch
};

// grads must be sized like p; it is overwritten.
StepResult crosscoder_step_dense(const CrosscoderParams& p, const CrosscoderConfig& c, const StepInput& in,
                                 CrosscoderParams& grads);
StepResult crosscoder_step_sparse(const CrosscoderParams& p, const CrosscoderConfig& c, const StepInput& in,
                                  CrosscoderParams& grads);

// Inference: features of x [B, 2d] (L1: ReLU; BatchTopK: ReLU kept where score > threshold).
void crosscoder_encode(const CrosscoderParams& p, const CrosscoderConfig& c, const float* x, int64_t B, std::vector<float>& f);
// The same rule for one feature j of one scaled row x [2d] (norms: decoder_norms of p), for callers
// that need a few features at a few rows.
float crosscoder_encode_one(const CrosscoderParams& p, const CrosscoderConfig& c, const float* x, int64_t j, const std::vector<float>& norms);
// Reconstruction x̂ [B, 2d] = b_dec + Σ_j f[b, j] W_dec[j] over the active features (f > 0), summed in
// feature order.
void crosscoder_decode(const CrosscoderParams& p, const float* f, int64_t B, float* xhat);

}  // namespace cc
