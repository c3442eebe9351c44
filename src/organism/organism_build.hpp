// `crosscoder organism build`: tokenizer → base LM (pre-training on general text + plain GSM8K)
// → distilled LM (the base fine-tuned on R1-style traces), saved as ordinary HF checkpoints with
// BUILD.md / build.json recording settings, data sizes, curves, held-out losses and how both
// models think when prompted in the R1 template.
#pragma once
#include <cstdint>
#include <string>

namespace cc {

struct OrganismOptions {
  std::string out = "organism";
  std::string data;              // the project's data/ folder (the CLI fills the default)
  std::string lexicon;           // words counted in the generation check, e.g. configs/reasoning_lexicon.toml
  uint64_t seed = 0;
  int64_t vocab = 4096;          // BPE vocabulary (special tokens come on top)
  int64_t d_model = 256, layers = 4, heads = 8, kv_heads = 2, d_mlp = 640;
  int64_t seq_len = 256, batch = 16;
  int64_t base_steps = 1500, distill_steps = 500;  // ~50 min on 2 cores at the default shape
  double base_lr = 3e-3, distill_lr = 1e-3;
  int64_t eval_prompts = 50;     // "What is 5-1?" + GSM8K test questions for the generation check
  int64_t max_new_tokens = 200;
  bool progress = true;
};

// Returns the path of build.json.
std::string build_organism(const OrganismOptions& opt);

}  // namespace cc
