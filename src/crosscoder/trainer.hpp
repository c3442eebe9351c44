// Crosscoder training loop: reads an activation store through the shuffle buffer, scales inputs by
// the store's norm factors, runs the sparse step, clips, steps Adam with the paper's schedules
// (λ warm-up over the first 5% of steps, lr linear decay over the last 20%), tracks dead
// features, logs metrics, and checkpoints atomically so a killed run resumes bit-identically.
#pragma once
#include <string>

#include "crosscoder/crosscoder.hpp"
#include "crosscoder/evaluate.hpp"
#include "device/device.hpp"

namespace cc {

struct TrainOptions {
  std::string acts;              // activation store
  std::string out;               // checkpoint directory
  bool resume = false;           // continue from out/trainer_state.safetensors
  std::string init;              // start from this checkpoint's weights
  bool shuffle = true;           // --no-shuffle reads the store in order
  int64_t buffer_rows = 65536;   // shuffle buffer (memory: rows × 2 × d × 4 bytes)
  int64_t save_every = 1000;     // steps between checkpoints
  int64_t log_every = 50;        // steps between train_log.jsonl lines
  int64_t max_steps = -1;        // --steps: stop early (the schedule still follows num_tokens)
  int64_t eval_rows = 65536;     // held-out rows measured after training (OUT/eval.json); -1 = all
  bool progress = true;
  Device device = Device::Cpu;   // cuda: each step's products on the GPU (crosscoder_step_cuda; one process)
};

struct TrainSummary {
  int64_t steps = 0;
  double loss = 0, l0 = 0, ev_a = 0, ev_b = 0, dead_frac = 0, tokens_per_s = 0;  // the last training batch
  EvalMetrics eval;  // held-out rows, inference encoder (also written to OUT/eval.json)
};

TrainSummary train_crosscoder(CrosscoderConfig cfg, const TrainOptions& opt);

// lr and λ multipliers of the schedule at `step` of `steps`.
double lr_at(const CrosscoderConfig& c, int64_t step, int64_t steps);
double l1_at(const CrosscoderConfig& c, int64_t step, int64_t steps);

}  // namespace cc
