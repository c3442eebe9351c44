// A fine-tuned copy of a Qwen2 model on plain text: the null pair of issue 19. "Reasoning
// distillation introduced reasoning features" is only a finding if a fine-tune of the same budget
// (steps, batch, learning rate and schedule of the organism's distillation) on text with no
// reasoning in it does not produce them too; `organism finetune` builds that control.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace cc {

struct FinetuneOptions {
  std::string model, out;
  std::vector<std::string> texts;  // plain-text files, cut into documents of blank-line separated blocks
  int64_t steps = 500, seq_len = 256, batch = 16;  // the organism's distillation budget
  double lr = 1e-3;
  uint64_t seed = 1;
  double eval_fraction = 0.05;
  bool progress = true;
};

// Writes OUT (config, tokenizer, BF16 weights, finetune.json with the data, budget, held-out loss
// before and after and the relative weight change); checkpoints under OUT/.state so an interrupted
// run continues. Returns finetune.json's path.
std::string finetune_model(const FinetuneOptions& opt);

}  // namespace cc
