// Stream and buffer implementations.
#include "harvest/activation_source.hpp"

#include <cmath>
#include <cstring>
#include <numeric>

#include "core/error.hpp"

namespace cc {

StoreStream::StoreStream(const std::string& dir, int64_t chunk_rows, bool train_only)
    : store_(dir), chunk_(chunk_rows), train_only_(train_only && store_.has_split()) {
  if (store_.rows() == 0) fail(dir, "", "is an empty activation store");
  if (train_only_ && store_.manifest().value("eval_tokens", int64_t(0)) >= store_.rows())
    fail(dir + "/manifest.json", "eval_tokens", "covers every row: no training row left", "< " + std::to_string(store_.rows()),
         store_.manifest()["eval_tokens"].dump(), "harvest with a smaller --eval-fraction");
  if (store_.manifest()["norm_factors"].is_null()) fail(dir + "/manifest.json", "norm_factors", "are not set (harvest incomplete?)");
}

void StoreStream::next_chunk(ActivationBatch& b) {
  for (;;) {
    const int64_t n = std::min(chunk_, store_.rows() - cursor_);
    store_.read_into(cursor_, n, b);
    cursor_ = (cursor_ + n) % store_.rows();
    if (train_only_) {
      keep_split_rows(b, 0);
      if (b.rows == 0) continue;  // a chunk of held-out rows only
    }
    read_ += b.rows;
    return;
  }
}

ShuffleBuffer::ShuffleBuffer(RowStream& src, int64_t capacity_rows, uint64_t seed, bool shuffle)
    : src_(src), cap_(capacity_rows), d_(src.d_model()), shuffle_(shuffle), rng_(seed) {
  if (cap_ < 2) fail("", "buffer rows", "must be at least 2", ">= 2", std::to_string(cap_));
  buf_.resize(size_t(cap_ * 2 * d_));
  slot_.resize(size_t(cap_));
  std::iota(slot_.begin(), slot_.end(), 0);
  order_.reserve(size_t(cap_));
  refill();
}

void ShuffleBuffer::refill() {
  // Positions: the unserved rows first (in their order), then fresh rows, which are written into
  // the slots of the served rows and then of the never-used ones.
  const int64_t keep = filled_ - pos_;
  const size_t row = size_t(2 * d_);
  order_.clear();
  order_.insert(order_.end(), slot_.begin() + pos_, slot_.begin() + filled_);
  order_.insert(order_.end(), slot_.begin(), slot_.begin() + pos_);
  order_.insert(order_.end(), slot_.begin() + filled_, slot_.end());
  slot_.swap(order_);
  filled_ = keep;
  pos_ = 0;
  while (filled_ < cap_) {
    if (carry_off_ >= carry_.rows) {
      src_.next_chunk(carry_);
      carry_off_ = 0;
      if (carry_.d != d_) fail("", "activation stream", "changed width", std::to_string(d_), std::to_string(carry_.d));
    }
    const int64_t take = std::min(cap_ - filled_, carry_.rows - carry_off_);
    for (int64_t k = 0; k < take; ++k)
      std::memcpy(buf_.data() + size_t(slot_[size_t(filled_ + k)]) * row, carry_.acts.data() + size_t(carry_off_ + k) * row,
                  row * sizeof(float));
    filled_ += take;
    carry_off_ += take;
  }
  if (shuffle_) {
    // Fisher–Yates over positions.
    for (int64_t i = filled_ - 1; i > 0; --i) {
      const int64_t j = int64_t(rng_() % uint64_t(i + 1));
      std::swap(slot_[size_t(i)], slot_[size_t(j)]);
    }
  }
}

void ShuffleBuffer::next_batch(float* out, int64_t n) {
  const size_t row = size_t(2 * d_);
  for (int64_t k = 0; k < n; ++k) {
    if (pos_ >= cap_ / 2 && shuffle_) refill();
    if (pos_ >= filled_) refill();
    if (out) std::memcpy(out + size_t(k) * row, buf_.data() + size_t(slot_[size_t(pos_)]) * row, row * sizeof(float));
    ++pos_;
    ++served_;
  }
}

}  // namespace cc
