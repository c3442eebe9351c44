// The steering experiment (PAPER.md §5): generate from the distilled model with a crosscoder
// feature's decoder direction added at the hook, over a grid of ALPHA, prompts and seeds, and
// measure how it thinks: tokens until </think> and in total, reasoning-word counts per lexicon
// category, the extracted answer and whether it is correct.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "data/prompts.hpp"
#include "model/weights.hpp"

namespace cc {

struct SteerSweepOptions {
  std::string crosscoder, model, out;
  std::string tokenizer;           // default: the model's
  std::string feature;             // an index, or a category name (needs analysis)
  std::string analysis;            // analysis directory (categories.json, features.jsonl)
  std::string lexicon;             // e.g. configs/reasoning_lexicon.toml (the CLI fills the default)
  std::vector<double> alphas = {0};
  std::string prompts;             // JSONL (question|problem|prompt [+ answer]) or text (one per line); "" = defaults
  int problems = 20;               // problems of problems_file added to "What is 5-1?" when prompts is ""
  std::string problems_file;       // e.g. data/math/gsm8k_test.jsonl (the CLI fills the default)
  std::string chat = "r1-distill";
  int samples = 2;                 // sampled runs per (alpha, prompt), seeds 1..samples; plus one greedy
  bool greedy = true;
  float temperature = 0.6f, top_p = 0.95f;
  int64_t max_new_tokens = 1024;
  int slice = 1;                   // decoder slice: 1 = distilled (B), 0 = base (A)
  bool generated_only = false;     // steer generated positions only
  bool resume = false;             // keep the finished runs of OUT/transcripts.jsonl
  int batch_runs = 8;              // runs of one prompt decoded together (1..kMaxDecodeRows); results do not depend on it
  ComputeMode mode = ComputeMode::BF16;
  bool progress = true;
};

// Resolves --feature: a non-negative integer, or a category of analysis/categories.json (its first
// feature with NRN > 0.5, else its first). Errors list the categories there.
int64_t resolve_steer_feature(const std::string& feature, const std::string& analysis, std::string* why = nullptr);

// Writes OUT/steer.json, OUT/steer.csv and OUT/transcripts.jsonl; returns steer.json's path.
std::string run_steer_sweep(const SteerSweepOptions& opt);

}  // namespace cc
