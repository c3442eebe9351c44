// Pieces both step implementations share: BatchTopK selection, explained variance, and the
// BatchTopK auxiliary loss on dead features (Minder et al. 2025 / dictionary_learning's AuxK).
#pragma once
#include <cstdint>
#include <vector>

#include "crosscoder/step.hpp"

namespace cc {

// Zeroes all but the k·B largest scores f·(||d_A||+||d_B||) of f [B, F] (values kept unscaled);
// returns the smallest kept score (0 when nothing is kept). The dense step's selection and the
// reference for the sparse step's select_active (active_set.hpp).
double batch_topk_mask(std::vector<float>& f, const std::vector<float>& norms, int64_t B, int64_t F, int64_t k);

// ev[m] = 1 - Σ||x̂_m - x_m||² / Σ||x_m - mean(x_m)||² over the batch.
void explained_variance(const float* x, const float* xh, int64_t B, int64_t d, double ev[2]);

// Residual e = x - x̂ (no gradient through it) reconstructed by each row's top min(d/2, #dead)
// dead-feature activations ReLU(pre): aux = mean ||ê - e||² / mean ||e - ē||². Adds aux_coeff × its
// gradient to g (decoder and encoder rows of the dead features) and returns aux.
double aux_loss_and_grad(const CrosscoderParams& p, const CrosscoderConfig& c, const StepInput& in, const float* xh,
                         const float* pre, const std::vector<uint8_t>& dead, CrosscoderParams& g, StepWorkspace& ws);

}  // namespace cc
