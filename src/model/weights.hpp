// Loads and validates a Hugging Face Qwen2 checkpoint directory into the compute layout.
// f32 mode converts every matrix to f32 once (4 bytes/parameter resident); bf16 mode keeps
// matrices in BF16 (2 bytes/parameter; read straight from the mmap when the file is BF16).
// Norms and biases are always f32 (negligible size).
#pragma once
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/safetensors.hpp"
#include "model/config.hpp"
#include "model/linear.hpp"

namespace cc {

// F32: weights widened to f32, f32 math (exact). BF16: weights kept BF16 (mapped), activations and
// accumulation f32, so every product is exact. BF16Act: BF16 weights and GEMM inputs rounded to
// BF16 with f32 accumulation and an f32 residual stream (PyTorch's bf16 mode; AVX512-BF16 GEMMs).
enum class ComputeMode { F32, BF16, BF16Act };
ComputeMode compute_mode_from_name(const std::string& s);  // "f32" | "bf16" | "bf16-act"
const char* compute_mode_name(ComputeMode m);
inline const std::vector<std::string> kComputeModeNames = {"f32", "bf16", "bf16-act"};

struct LayerWeights {
  std::vector<float> ln1, ln2;            // [d]
  WeightMatrix q, k, v, o;                // [q,d] [kv,d] [kv,d] [d,q]
  std::vector<float> q_bias, k_bias, v_bias;
  WeightMatrix gate, up, down;            // [I,d] [I,d] [d,I]
};

struct Qwen2Weights {
  Qwen2Config config;
  ComputeMode mode = ComputeMode::F32;
  WeightMatrix embed;                     // [V, d]
  std::vector<LayerWeights> layers;
  std::vector<float> final_norm;          // [d]
  WeightMatrix lm_head;                   // [V, d]; the embedding when tied
  size_t resident_bytes = 0;              // bytes of weights we own (excludes mmapped BF16 reuse)
  size_t mapped_bytes = 0;                // bytes used straight from the mmap

  // Owned storage behind the WeightMatrix pointers, and the maps they may point into.
  std::vector<std::vector<float>> owned_f32;
  std::vector<std::vector<uint16_t>> owned_bf16;
  std::vector<std::unique_ptr<SafetensorsFile>> files;
};

// A checkpoint's tensors by name, from DIR/model.safetensors or the shards that
// model.safetensors.index.json lists (each checked against the index); `files` owns the mapped files
// the entries point into.
struct CheckpointTensor {
  const TensorInfo* info;
  const SafetensorsFile* file;
};
std::map<std::string, CheckpointTensor> open_checkpoint_tensors(const std::string& dir, std::vector<std::unique_ptr<SafetensorsFile>>& files);

// Reads DIR/config.json (+generation_config.json) and the safetensors weights (single file or
// sharded with model.safetensors.index.json). Every tensor is checked against the manifest: dtype,
// shape, present, and no tensor left unused. Errors name the file and the tensor.
std::unique_ptr<Qwen2Weights> load_qwen2_weights(const std::string& model_dir, ComputeMode mode);

}  // namespace cc
