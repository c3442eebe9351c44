// One crosscoder training step's loss and gradients, for both architectures, in two
// implementations: a plain dense one (the reference) and the sparse one the trainer uses, in
// which only the encoder product is dense and everything else touches active features only.
#pragma once
#include <cstdint>
#include <utility>
#include <vector>

#include "crosscoder/crosscoder.hpp"
#include "crosscoder/feature_shard.hpp"

namespace cc {

// Buffers of the sparse step, kept between steps by the trainer: a fresh B×F allocation every step
// went back to the kernel and faulted in again (10,000 page faults a step, as much system time as
// compute; issue 20). A step without one uses a local workspace.
struct ActiveEntry {
  int32_t row, col;
  float val, score;
};

struct StepWorkspace {
  std::vector<float> pre, norms, xh, gx, dval;
  std::vector<int64_t> row_ptr, col_ptr, idx, fill;  // active (row, feature) pairs, row- and feature-major
  std::vector<int32_t> col, row;
  std::vector<float> val;
  std::vector<std::vector<ActiveEntry>> blocks;      // select_active: kept pairs per block of rows
  std::vector<std::vector<uint32_t>> hist;           // select_active: score histogram per part
  std::vector<int64_t> total_hist;                   // ... summed over parts (and ranks)
  std::vector<double> feature_terms;                 // per-feature terms of a sum over features
  std::vector<int64_t> block_ptr;
  std::vector<float> nsum, edge_scores;
  std::vector<float> aux_e, aux_eh;                  // the auxiliary loss's buffers
  std::vector<double> aux_ge;
  std::vector<std::vector<std::pair<int32_t, float>>> aux_sel;
  std::vector<std::pair<int32_t, float>> aux_by_feature;
  std::vector<int64_t> aux_ptr, aux_fill;
  std::vector<int32_t> aux_dead;
};

struct StepInput {
  const float* x = nullptr;  // [B, 2d], already scaled by the norm factors
  int64_t B = 0;
  double l1_coeff = 0;       // λ at this step (L1 arch)
  const std::vector<uint8_t>* dead = nullptr;  // [F] 1 = dead (BatchTopK auxiliary loss)
  StepWorkspace* ws = nullptr;                  // sparse step: reuse these buffers (nullptr: a local workspace)
  // Sparse step: p holds this rank's features of the dictionary (feature_shard.hpp); nullptr: the
  // whole dictionary. The result and b_dec's gradient are the whole dictionary's on every rank.
  const FeatureShard* shard = nullptr;
};

struct StepResult {
  double loss = 0, l2 = 0, l1 = 0, aux = 0;
  double l0 = 0;                 // mean active features per token
  double ev[2] = {0, 0};         // explained variance per model
  double min_kept_score = 0;     // BatchTopK: smallest kept score (θ's EMA input)
  std::vector<int32_t> fired;    // features active at least once in the batch (this rank's, from 0)
};

// grads must be sized like p; it is overwritten.
StepResult crosscoder_step_dense(const CrosscoderParams& p, const CrosscoderConfig& c, const StepInput& in,
                                 CrosscoderParams& grads);
StepResult crosscoder_step_sparse(const CrosscoderParams& p, const CrosscoderConfig& c, const StepInput& in,
                                  CrosscoderParams& grads);
// The dense step on the GPU (step_cuda.cpp; a build with -DCROSSCODER_CUDA=ON and a GPU): the
// whole dictionary only; elsewhere it fails with one line naming what is missing.
StepResult crosscoder_step_cuda(const CrosscoderParams& p, const CrosscoderConfig& c, const StepInput& in, CrosscoderParams& grads);

// Inference: features of x [B, 2d] (L1: ReLU; BatchTopK: ReLU kept where score > threshold).
void crosscoder_encode(const CrosscoderParams& p, const CrosscoderConfig& c, const float* x, int64_t B, std::vector<float>& f);
// The same rule for one feature j of one scaled row x [2d] (norms: decoder_norms of p), for callers
// that need a few features at a few rows.
float crosscoder_encode_one(const CrosscoderParams& p, const CrosscoderConfig& c, const float* x, int64_t j, const std::vector<float>& norms);
// Reconstruction x̂ [B, 2d] = b_dec + Σ_j f[b, j] W_dec[j] over the active features (f > 0), summed in
// feature order.
void crosscoder_decode(const CrosscoderParams& p, const float* f, int64_t B, float* xhat);
// The same with p and f [B, shard size] holding a shard's features: every rank gets the whole x̂,
// with the bits one process gets (chain_over_features).
void crosscoder_decode(const CrosscoderParams& p, const float* f, int64_t B, float* xhat, const FeatureShard& s);

}  // namespace cc
