// Where the trainer gets activations: a RowStream produces chunks of rows in order (a store read
// shard by shard and cycled), and a ShuffleBuffer turns them into training
// batches. Memory is bounded by the buffer: capacity × 2 × d_model × 4 bytes.
#pragma once
#include <array>
#include <memory>
#include <random>

#include "harvest/activation_store.hpp"

namespace cc {

class RowStream {
 public:
  virtual ~RowStream() = default;
  virtual int64_t d_model() const = 0;
  virtual std::array<float, 2> norm_factors() const = 0;
  // The next chunk of rows into `out` (never empty; cycles when the data ends). `out`'s buffers are
  // reused, so a stream read chunk after chunk allocates nothing once they have grown.
  virtual void next_chunk(ActivationBatch& out) = 0;
  virtual int64_t rows_read() const = 0;     // rows produced so far (fresh rows, counting epochs)
};

// Reads a store in order, `chunk_rows` at a time, starting again at row 0 after the last. With
// train_only (and a store that records a split) the held-out rows are skipped: training never sees
// the documents its evaluation uses.
class StoreStream : public RowStream {
 public:
  StoreStream(const std::string& dir, int64_t chunk_rows = 8192, bool train_only = false);
  int64_t d_model() const override { return store_.d_model(); }
  std::array<float, 2> norm_factors() const override { return store_.norm_factors(); }
  void next_chunk(ActivationBatch& out) override;
  int64_t rows_read() const override { return read_; }
  int64_t epochs() const { return store_.rows() ? read_ / store_.rows() : 0; }
  const ActivationStore& store() const { return store_; }

 private:
  ActivationStore store_;
  int64_t chunk_, cursor_ = 0, read_ = 0;
  bool train_only_;
};

// The reference's refresh scheme, made to stream: the buffer holds `capacity` rows; once half
// has been served, the unserved half moves to the front, fresh rows fill the rest, and the whole
// buffer is reshuffled. Every row of the stream is served exactly once, in a seeded order.
// Rows stay where they were written: the order lives in `slot_` (position -> row of buf_), so a
// refill moves and shuffles 4-byte indices, not rows (it moved 64 MiB and swapped 128 MiB of rows
// per refill at d = 256 with 65,536 rows, most of a training run's system time).
class ShuffleBuffer {
 public:
  ShuffleBuffer(RowStream& src, int64_t capacity_rows, uint64_t seed, bool shuffle = true);
  // Writes `n` rows [n, 2, d] of raw activations to out.
  void next_batch(float* out, int64_t n);
  // Advances exactly as next_batch would, without copying rows out (replay on resume).
  void skip(int64_t n) { next_batch(nullptr, n); }
  int64_t rows_served() const { return served_; }
  size_t memory_bytes() const { return buf_.capacity() * sizeof(float) + (slot_.capacity() + order_.capacity()) * sizeof(int32_t); }

 private:
  void refill();
  RowStream& src_;
  int64_t cap_, d_;
  bool shuffle_;
  std::mt19937_64 rng_;
  std::vector<float> buf_;      // [cap, 2, d], rows in arrival slots
  std::vector<int32_t> slot_;   // [cap]: slot_[position] = the buf_ row served at that position
  std::vector<int32_t> order_;  // refill scratch
  int64_t filled_ = 0, pos_ = 0, served_ = 0;
  ActivationBatch carry_;       // rows read from the stream but not yet in the buffer
  int64_t carry_off_ = 0;
};

}  // namespace cc
