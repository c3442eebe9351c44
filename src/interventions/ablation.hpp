// Feature ablation (PAPER.md §4): zero-ablate crosscoder features at the hook in each model and
// measure how the logit of a reasoning category's target token changes where that token comes next.
#pragma once
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "core/stats.hpp"
#include "crosscoder/crosscoder.hpp"
#include "data/corpus.hpp"
#include "labels/category_sets.hpp"
#include "model/weights.hpp"

namespace cc {

struct AblateOptions {
  std::string crosscoder, base, distilled, out;
  std::string tokenizer;  // default: the base model's
  std::string lexicon;    // categories and their target tokens, e.g. configs/reasoning_lexicon.toml (the CLI fills the default)
  std::string analysis;   // optional: take the shared-class NRN range from its summary.json
  std::vector<CorpusSpec> corpora;
  std::vector<std::string> categories;                   // empty: every category with a target token
  // Which features count for a category. None: the whole NRN > nrn_above pool, ranked by firing
  // frequency at the category's positions (the paper's recipe). Otherwise only the pool's features
  // one method assigned to the category (lexicon: analysis's features.jsonl; enrichment: the
  // enrichment folder; labels: labels.jsonl), and an "other" control from the rest of the pool.
  CategorySource categories_from = CategorySource::None;
  std::string enrichment;  // categories_from enrichment: `crosscoder enrich`'s output folder
  std::string labels;      // categories_from labels: `crosscoder label`'s labels.jsonl
  std::vector<double> ks = {0.5, 1, 2, 5, 10, 20};       // top k% of the NRN > nrn_above features
  int64_t sequences = 256, seq_len = 512;                // packed token sequences searched for positions
  int positions = 100;                                   // evaluation positions per category
  int rank_positions = 1000;                             // other positions, for the firing frequencies
  double nrn_above = 0.5;                                // the ablated pool: NRN above this
  double shared_low = 0.3, shared_high = 0.7;            // the shared control: NRN in this range
  uint64_t seed = 0;
  double eval_fraction = 0.1;  // positions come from held-out documents only (the harvest's split)
  std::string held_out_list;   // the harvest's held-out list, if it had one (PackOptions::held_out_list)
  int64_t batch_tokens = 4096;                           // rows per forward call
  ComputeMode mode = ComputeMode::BF16;
  bool progress = true;
};

// Writes OUT/ablation.json and OUT/ablation.csv; returns the JSON's path.
std::string run_ablation(const AblateOptions& opt);

// The headline's statistic: the mean of a[i] − b[i] (the same positions under two conditions) with a
// 95% bootstrap interval over the positions' units (their sequences); significant when the interval
// excludes 0.
struct PairedEffect {
  double mean = 0;
  Interval ci;
  bool significant = false;
};
PairedEffect paired_effect(const std::vector<double>& a, const std::vector<double>& b, const std::vector<int64_t>& unit, uint64_t seed);

// x (model m's stream at the hook, raw units) -= Σ_e [mask[idx[e]]] val[e] · W_dec[idx[e], m] / s_m:
// the ablation of one position whose active features are (idx, val); mask null means all of them.
void subtract_features(const CrosscoderParams& p, const CrosscoderConfig& c, int m, std::span<const int32_t> idx,
                       std::span<const float> val, const uint8_t* mask, float* x);

}  // namespace cc
