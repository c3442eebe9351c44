// Per-sequence key/value cache for incremental decoding: for every layer, K and V rows
// [capacity, n_kv*head_dim] in f32, of which the first `length` are filled.
#pragma once
#include <cstdint>
#include <vector>

#include "model/config.hpp"

namespace cc {

class KvCache {
 public:
  KvCache(const Qwen2Config& c, int64_t capacity);
  int64_t length() const { return length_; }
  int64_t capacity() const { return capacity_; }
  size_t bytes() const { return (k_.size() + v_.size()) * sizeof(float); }
  void clear() { length_ = 0; }

  float* k(int layer) { return k_.data() + size_t(layer) * layer_stride_; }
  float* v(int layer) { return v_.data() + size_t(layer) * layer_stride_; }
  int64_t row_stride() const { return kv_dim_; }
  void advance(int64_t n) { length_ += n; }  // called by the forward once all layers wrote n rows

 private:
  int64_t capacity_, kv_dim_, length_ = 0;
  size_t layer_stride_;
  std::vector<float> k_, v_;
};

}  // namespace cc
