// A trainable Qwen2: F32 parameters in tensor-manifest order, a forward pass built from the
// engine's layer kernels (model/layers.hpp, model/linear.hpp) that keeps what the backward needs,
// and the backward built from model/layers_backward.hpp. Saved as an ordinary HF checkpoint, the
// parameters load into Qwen2Model and give the same logits (tests/test_train_model.cpp).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "core/dtype.hpp"
#include "model/config.hpp"
#include "model/tensor_manifest.hpp"

namespace cc {

struct TrainParams {
  Qwen2Config config;                    // untied embeddings (the organism's checkpoints are)
  std::vector<TensorSpec> manifest;      // the engine's list: names, shapes, roles
  std::vector<std::vector<float>> t;     // one buffer per manifest entry, same order

  struct Layer {
    size_t ln1, q, qb, k, kb, v, vb, o, ln2, gate, up, down;  // indices into t
  };
  size_t embed = 0, final_norm = 0, lm_head = 0;
  std::vector<Layer> layers;

  // Zeroed buffers shaped like the manifest of c (refuses tied embeddings).
  static TrainParams zeros(const Qwen2Config& c);
  // GPT-2 style init: matrices ~ N(0, 0.02²) (o_proj and down_proj scaled by 1/sqrt(2·layers)),
  // embeddings N(0, 0.02²), norms 1, biases 0.
  static TrainParams init(const Qwen2Config& c, uint64_t seed);
  void zero();
  size_t numel() const;
};

// Writes config.json, generation_config.json and model.safetensors (dtype F32 or BF16), atomically.
void save_train_params(const std::string& dir, const TrainParams& p, DType dtype);
// The inverse: a checkpoint written by save_train_params (or any Qwen2 checkpoint, single file or
// sharded) as F32 parameters; errors name the file and the tensor that is missing or misshapen. A
// checkpoint with tied embeddings is refused unless `untie`: then lm_head starts as a copy of the
// embedding and the parameters describe the same model untied (a plant edits the two apart).
TrainParams load_train_params(const std::string& dir, bool untie = false);

// Rounds every parameter to BF16 and back: the values a BF16 checkpoint of p holds.
void round_to_bf16(TrainParams& p);

class TrainModel {
 public:
  // forward over B sequences of T tokens each (positions 0..T-1), rows b·T + t. targets[b·T + t]
  // is the next token or -1 (ignored). Returns the summed loss; *count = targets used.
  double forward(const TrainParams& p, const int32_t* tokens, const int32_t* targets, int64_t B, int64_t T, int64_t* count);
  // Adds d(mean loss)/d(params) of the last forward into grads (sized like p).
  void backward(const TrainParams& p, TrainParams& grads);
  const std::vector<float>& logits() const { return logits_; }  // [B·T, V] of the last forward

 private:
  struct LayerActs {
    std::vector<float> x, h1, q, k, v, att, xmid, h2, gate, up, act;
  };
  int64_t B_ = 0, T_ = 0;
  std::vector<int32_t> tokens_, targets_;
  std::vector<LayerActs> acts_;
  std::vector<float> xf_, hf_, logits_, cos_, sin_, scratch_;
};

}  // namespace cc
