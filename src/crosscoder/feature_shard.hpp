// Feature-parallel training (issue 21): under mpirun each rank holds a contiguous slice of the
// dictionary (its rows of W_enc, W_dec, b_enc and their Adam moments; b_dec whole on every rank),
// every rank sees the whole batch, and the few quantities that sum over features are combined
// here. Each combination adds in the order one process adds (features ascending), so N ranks
// compute what one process computes, bit for bit, for any N and any thread count.
#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "core/safetensors.hpp"

namespace cc {

// The encoder product runs in blocks of this many features (one single-threaded sgemm each):
// OpenBLAS's result for a column depends on how the call splits columns among its threads and
// kernels, so a fixed block is what makes the product the same for any thread or rank count.
// Rank slices are whole blocks.
constexpr int64_t kFeatureBlock = 256;

struct FeatureShard {
  int64_t F = 0;           // the whole dictionary
  int64_t f0 = 0, f1 = 0;  // this rank's features [f0, f1)
  int64_t size() const { return f1 - f0; }
  bool whole() const { return f0 == 0 && f1 == F; }
  static FeatureShard whole_dictionary(int64_t F) { return {F, 0, F}; }
  // Rank r of n's slice: the blocks of kFeatureBlock split as evenly as they go. cc::Error when a
  // rank would get no feature.
  static FeatureShard of_rank(int64_t F, int rank, int ranks);
  static FeatureShard of_this_rank(int64_t F);  // of_rank for dist::rank() of dist::size()
};

// pre [B, F_local] = x [B, D2] · W_encT[F_local, D2]ᵀ in blocks of kFeatureBlock features (the
// blocks of the whole dictionary: F_local is a shard's size, a multiple of the block but at the end).
void encoder_product(const float* x, int64_t B, int64_t D2, const float* W_encT, int64_t F_local, float* pre);

// Σ over the dictionary's features of per-feature terms (`mine`: this rank's slice, in order),
// added in feature order: the same double on every rank, for any number of ranks.
double ordered_feature_sum(const std::vector<double>& mine, const FeatureShard& s);

// x [rows, width] = init (a row repeated; nullptr: zeros) plus every feature's contribution,
// added in feature order: add(b0, b1) adds this rank's features, ascending, to rows [b0, b1) of x
// in place. Ranks run as a pipeline over blocks of rows (rank r continues the rows rank r - 1
// has summed), so the result on every rank has the bits one process gets.
void chain_over_features(float* x, int64_t rows, int64_t width, const float* init, const FeatureShard& s,
                         const std::function<void(int64_t, int64_t)>& add);

// Checkpoints without any rank holding the whole dictionary: rank 0 writes, through `write`, the
// whole dictionary's rows [F, row_bytes], its own and then each rank's in rank order (received in
// pieces of at most 16 MiB); the other ranks send theirs. For the whole dictionary rank 0 writes
// `mine` and nothing is sent.
using RowWriter = std::function<void(const void*, size_t)>;
void stream_rows(const void* mine, size_t row_bytes, const FeatureShard& s, const RowWriter& write);

// The same for the transpose: mine [shard size, width] (W_encT's layout) written as [width, F]
// (W_enc's), in blocks of whole output rows of at most 16 MiB.
void stream_columns(const float* mine, int64_t width, const FeatureShard& s, const RowWriter& write);

// fill(i, write): tensor i's bytes, in order, through write.
using TensorFill = std::function<void(size_t, const RowWriter&)>;
// write_safetensors_streamed on rank 0; every other rank runs the same fill calls with a writer
// that discards, so that each stream_rows / stream_columns call meets its partner.
void write_sharded_safetensors(const std::string& path, const std::vector<TensorToWrite>& tensors,
                               const std::map<std::string, std::string>& metadata,
                               const TensorFill& fill);

}  // namespace cc
