// KV cache storage.
#include "model/kv_cache.hpp"

namespace cc {

KvCache::KvCache(const Qwen2Config& c, int64_t capacity)
    : capacity_(capacity), kv_dim_(c.kv_dim()), layer_stride_(size_t(capacity * c.kv_dim())) {
  k_.resize(layer_stride_ * size_t(c.num_hidden_layers));
  v_.resize(layer_stride_ * size_t(c.num_hidden_layers));
}

}  // namespace cc
