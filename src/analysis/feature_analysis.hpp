// Per-feature analysis of a trained crosscoder over an activation store, in two streaming passes
// with memory bounded by O(F · top_n) plus one chunk of rows:
//   pass 1: firing frequency, mean/max activation, top-N activations (row indices), a seeded
//           reservoir sample of other activating rows, Latent Scaling sums, explained variance;
//   pass 2: the ±K-token context window of every kept example, with the feature's activation on
//           each token of the window.
// Then decoder norms, NRN, class, A/B decoder cosine, encoder norm, token profile, reasoning
// category, what changed (delta = d_B − d_A, change mass = freq · mean_act · ||delta||, the
// "changed" class), and (with the models) the next tokens each decoder direction promotes and
// suppresses. Writes features.csv/.jsonl, examples.jsonl, categories.json, summary.json.
#pragma once
#include <string>

namespace cc {

struct AnalyzeOptions {
  std::string crosscoder;        // checkpoint directory
  std::string acts;              // activation store
  std::string out;               // output directory
  std::string tokenizer;         // default: the store manifest's tokenizer
  std::string lexicon;           // e.g. configs/reasoning_lexicon.toml (the CLI fills the default)
  int64_t max_tokens = -1;       // rows of the store to analyse (-1 = all)
  int top_n = 20;                // max-activating examples per feature
  int samples = 5;               // extra examples sampled from all activations
  int context = 8;               // tokens of context either side
  double base_only_below = 0.3;  // NRN < this: base-only
  double distilled_only_above = 0.7;  // NRN > this: distilled-only; in between: shared
  double category_majority = 0.5;     // share of top examples on one category to label a feature
  // "changed": both decoders carry weight (the smaller norm >= changed_min_ratio of the larger) but
  // point different ways (cos_ab < changed_below). Such a feature is a change of direction, which
  // the NRN alone reads as shared or one-sided (issue 19); the class overrides the NRN classes.
  double changed_below = 0.7;
  double changed_min_ratio = 0.25;
  int changes_listed = 20;            // summary.json's "largest_changes": features by change mass
  int64_t chunk_rows = 1024;
  std::string base_model, distilled_model;  // optional: promoted/suppressed next tokens per model
  int logit_tokens = 10;                    // how many promoted and suppressed tokens to list
  std::string export_prompts;               // optional: write one LLM-labelling prompt per feature (JSONL)
  std::string labels;                       // optional: JSONL {"feature": i, "label": "..."} merged into the tables
  bool progress = true;
};

void analyze_crosscoder(const AnalyzeOptions& opt);

}  // namespace cc
