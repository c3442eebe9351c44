// The one list of Qwen2 tensors (HF name, expected shape, role). Loading, validation,
// make-test-model and (later) training all walk this list; nothing else names tensors.
#pragma once
#include <functional>
#include <string>
#include <vector>

#include "core/safetensors.hpp"
#include "model/config.hpp"

namespace cc {

enum class TensorRole { Matrix, Bias, Norm, Embedding };

struct TensorSpec {
  std::string hf_name;  // "model.layers.3.self_attn.q_proj.weight"
  Shape shape;          // expected, from the config
  TensorRole role;
  int layer;            // -1 for non-layer tensors
};

std::vector<TensorSpec> qwen2_tensor_manifest(const Qwen2Config& c);

// Tensors in HF checkpoints that are buffers, not parameters, and may be ignored.
bool is_ignorable_tensor(const std::string& hf_name);

}  // namespace cc
