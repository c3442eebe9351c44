// Writes a random Qwen2 checkpoint in exact Hugging Face layout (config.json,
// generation_config.json, model.safetensors or shards + index) for tests and benchmarks.
#pragma once
#include <cstdint>
#include <string>

#include "core/dtype.hpp"
#include "model/config.hpp"

namespace cc {

struct TestModelSpec {
  Qwen2Config config;       // shapes; tie_word_embeddings decides whether lm_head.weight is written
  DType dtype = DType::BF16;  // F32, F16 or BF16
  int shards = 1;           // > 1 writes model-0000i-of-0000n.safetensors + index
  uint64_t seed = 0;
  // Matrices ~ N(0, init_scale²/in_features); embeddings ~ N(0, 1); norms ~ 1 + N(0, 0.1²);
  // biases ~ N(0, 0.1²). Large enough that attention is far from uniform.
  double init_scale = 1.0;
};

void write_test_model(const std::string& dir, const TestModelSpec& spec);

}  // namespace cc
