// The active (row, feature) pairs of a training batch, read off the encoder's product: every
// positive pre-activation (L1) or BatchTopK's k·B best scores. Two passes over the B×F product
// at most, instead of a dense mask followed by a separate extraction (issue 20: these passes, not
// the arithmetic, were a third of a BatchTopK step).
#pragma once
#include <cstdint>
#include <vector>

#include "crosscoder/feature_shard.hpp"
#include "crosscoder/step.hpp"

namespace cc {

// Adds b_enc [F] to pre [B, F] in place and lists the kept pairs in ws.row_ptr / ws.col / ws.val
// (rows in order, features ascending within a row; val = the pre-activation, > 0).
// k == 0: every positive entry (ReLU). k > 0: BatchTopK's selection, exactly batch_topk_mask's
// (step_common.hpp, the plain reference): the k·B largest scores pre·(||d_j,A|| + ||d_j,B||), ties at
// the threshold kept in index order; when no more than k·B scores are positive, every positive
// entry is kept. Returns the smallest kept score for BatchTopK (0 when none is positive), else 0.
// With a shard of the dictionary (F = its size) BatchTopK's k·B and its ties are the whole
// dictionary's, counted across the ranks, and every rank returns the same threshold.
double select_active(float* pre, const std::vector<float>& b_enc, const std::vector<float>& norms, int64_t B, int64_t F,
                     int64_t k, StepWorkspace& ws, const FeatureShard& shard);

}  // namespace cc
