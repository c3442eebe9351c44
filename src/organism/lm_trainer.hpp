// Language-model training for the organism: random windows of a token stream (with a per-token
// loss mask, so SFT can skip prompts), AdamW with warm-up + cosine, clipping, periodic held-out
// evaluation, and a checkpoint from which an interrupted run resumes exactly (the batch of step s
// is a pure function of the seed and s).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "core/json_file.hpp"
#include "organism/train_model.hpp"

namespace cc {

struct TokenStream {
  std::vector<int32_t> tokens;
  std::vector<uint8_t> predict;  // 1: the loss includes predicting this token (same length)
};

struct LmTrainOptions {
  int64_t seq_len = 256, batch = 16, steps = 1000, warmup = 100;
  double lr = 3e-3, min_lr_frac = 0.1, weight_decay = 0.1, beta1 = 0.9, beta2 = 0.95, clip = 1.0;
  uint64_t seed = 0;
  int64_t eval_every = 100, eval_windows = 32;  // held-out windows (fixed) per evaluation
  std::string state_dir;                        // "" = no checkpoints; else trainer_state.safetensors there
  int64_t checkpoint_every = 100;
  int64_t stop_after = -1;                      // >= 0: stop after this many steps of this call, with a checkpoint
  std::string label = "train";                  // progress-bar label
  bool progress = true;
};

struct LmTrainResult {
  std::vector<Json> log;     // one object per eval point: step, lr, train_loss (mean since last), eval_loss, tok/s
  double eval_loss = 0;      // at the end
  double tokens_per_s = 0, gflops = 0;  // this session's training throughput (6·params·tokens FLOPs)
  int64_t resumed_from = 0;  // step the run continued from (0 = fresh)
};

// The organism's schedule for a stage of `steps`: warm-up, evaluations and checkpoints every
// steps/20, 32 held-out windows; the build's stages and `organism finetune` share it.
LmTrainOptions stage_train_options(int64_t steps, double lr, int64_t seq_len, int64_t batch, uint64_t seed, const std::string& state_dir,
                                   const std::string& label, bool progress);

// Mean loss over fixed windows of `eval` (deterministic; the same windows every call).
double evaluate_lm(const TrainParams& p, const TokenStream& eval, int64_t seq_len, int64_t windows);

LmTrainResult train_lm(TrainParams& p, const TokenStream& train, const TokenStream& eval, const LmTrainOptions& opt);

}  // namespace cc
