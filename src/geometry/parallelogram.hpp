// The parallelogram loss of a task (PAPER.md §6): with δ_i = y(b_i) − y(a_i) over N word pairs,
//   loss = mean_{i≠j} ||δ_i − δ_j||² / mean_{w in task} ||y(w)||²
//        = 2N/(N−1) · mean_i ||δ_i − δ̄||² / mean_w ||y(w)||²        (closed form, O(N·k))
// 0 means perfect parallelograms. For words placed independently at random (centred) the
// expectation is 4: each δ_i − δ_j involves four independent points.
#pragma once
#include <cstdint>
#include <utility>
#include <vector>

namespace cc {

// Y: [n_words, k] word points (already centred / projected); pairs index rows of Y (a, b).
// weights: optional multiplicity per pair (the bootstrap). The normaliser is the mean over the
// distinct words of the pairs used. Needs at least 2 pairs (by weight).
double parallelogram_loss(const std::vector<double>& Y, int64_t k, const std::vector<std::pair<int32_t, int32_t>>& pairs,
                          const std::vector<int>* weights = nullptr);

// The same by brute force over all ordered pairs of pairs (tests).
double parallelogram_loss_brute(const std::vector<double>& Y, int64_t k, const std::vector<std::pair<int32_t, int32_t>>& pairs);

}  // namespace cc
