// Qwen2-family hyper-parameters, parsed and validated once from config.json
// (+ generation_config.json when present).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "core/json_file.hpp"

namespace cc {

struct Qwen2Config {
  int64_t vocab_size = 0;            // 151936 for Qwen2.5 / R1-Distill-Qwen
  int64_t hidden_size = 0;           // d_model, e.g. 1536
  int64_t intermediate_size = 0;     // MLP width, e.g. 8960
  int64_t num_hidden_layers = 0;     // e.g. 28
  int64_t num_attention_heads = 0;   // query heads, e.g. 12
  int64_t num_key_value_heads = 0;   // key/value heads (GQA), e.g. 2
  int64_t head_dim = 0;              // hidden_size / num_attention_heads unless given, e.g. 128
  double rms_norm_eps = 1e-6;        // e.g. 1e-6
  double rope_theta = 10000.0;       // e.g. 10000 (Math-1.5B) or 1e6 (Qwen2.5-14B)
  bool tie_word_embeddings = false;  // true for Qwen2.5-Math-1.5B, false for R1-Distill-1.5B
  int64_t max_position_embeddings = 0;  // e.g. 4096 or 131072
  int64_t bos_token_id = -1;         // -1 when absent
  std::vector<int64_t> eos_token_ids;  // union of config.json and generation_config.json
  std::string torch_dtype;           // "bfloat16" (informational)
  std::string source;                // path of the config.json it came from

  int64_t q_dim() const { return num_attention_heads * head_dim; }
  int64_t kv_dim() const { return num_key_value_heads * head_dim; }
};

// Parses `json` (from file `origin`) and refuses anything the engine does not implement, naming
// the field: another model_type, rope_scaling, sliding windows in use, a hidden_act other than silu.
Qwen2Config parse_qwen2_config(const Json& json, const std::string& origin);

// Reads DIR/config.json and, when present, DIR/generation_config.json.
Qwen2Config load_qwen2_config(const std::string& model_dir);

Json qwen2_config_to_json(const Qwen2Config& c);  // HF layout, as make-test-model writes it

}  // namespace cc
