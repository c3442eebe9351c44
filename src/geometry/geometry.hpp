// The geometry experiment (PAPER.md §6): per function-vector task and model, the parallelogram
// loss of the word pairs' residual-stream representations after per-task PCA, with bootstrap
// intervals, a shuffled-pairs null, and base-vs-distilled comparisons.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "model/weights.hpp"

namespace cc {

struct GeometryOptions {
  std::string base, distilled;
  std::vector<std::string> more;      // more models; consecutive ones are compared as (base, distilled)
  std::string tokenizer;              // default: each model's own directory
  std::string layer;                  // hook name or layer number; "" = each model's half depth
  std::string datasets;               // folder of task files
  std::vector<std::string> tasks;     // empty = all
  int64_t pca = 20;                   // components (0 = no PCA in the main column)
  std::string word_template = "{word}";
  std::string start = "auto";         // auto: the tokenizer's BOS if it adds one, else <|endoftext|>; none; or an id
  int bootstrap = 1000;               // resamples of the pairs (0 = none)
  uint64_t seed = 0;
  int64_t batch_tokens = 4096;
  ComputeMode mode = ComputeMode::BF16;
  std::string out;
  bool progress = true;
};

// Writes OUT/geometry.json and OUT/geometry.csv; returns the JSON's path.
std::string run_geometry(const GeometryOptions& opt);

}  // namespace cc
