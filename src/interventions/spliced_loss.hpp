// The crosscoder in the models' own loop (docs/CROSSCODER.md, "Spliced loss"): how much of each
// model's next-token prediction survives when its residual stream at the hook is replaced by the
// crosscoder's reconstruction. On packed held-out sequences, at every position the harvest keeps
// (start, separator and special tokens are never replaced or scored) that has a next token:
//   clean   CE_m:  the model as it is;
//   spliced CE_m:  the stream at the hook replaced by x̂_m / s_m (decoded from both models' streams
//                  there, with the inference encoder: θ for BatchTopK);
//   zero    CE_m:  the stream at the hook set to 0;
//   KL_m = mean over positions of KL(p_clean || p_spliced), and the same for zero;
//   loss recovered_m = (CE_zero − CE_spliced) / (CE_zero − CE_clean)   (1 = lossless, 0 = no better
//                  than deleting the stream).
// Each mean is a ratio of sums over sequences; its 95% interval is a bootstrap over sequences.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "core/json_file.hpp"
#include "core/stats.hpp"
#include "data/corpus.hpp"
#include "model/weights.hpp"

namespace cc {

struct SplicedLossOptions {
  std::string crosscoder, base, distilled;
  std::string tokenizer;  // default: the base model's
  std::string out;        // the JSON written; default: CROSSCODER/spliced_loss.json
  std::vector<CorpusSpec> corpora;
  int64_t sequences = 32, seq_len = 512;  // held-out packed sequences scored
  uint64_t seed = 0;
  double eval_fraction = 0.1;  // the harvest's split: only documents it held out are scored
  std::string held_out_list;   // the harvest's held-out list, if it had one (PackOptions::held_out_list)
  // Rows per forward call (fewer when the vocabulary is large). 1024, not 4096: every row holds
  // four vocabulary-wide logit rows and a dictionary-wide feature row at once, and at 4096 the
  // demo's stage peaked at 514 MB instead of 199 MB, its kernel time (zeroing those fresh pages)
  // 0.50-0.81 s instead of 0.13-0.21 s of ~6 s; results equal to 1e-8.
  int64_t batch_tokens = 1024;
  int bootstrap = 1000;
  ComputeMode mode = ComputeMode::BF16;
  bool progress = true;
};

struct SplicedLossModel {
  double ce_clean = 0, ce_spliced = 0, ce_zero = 0;  // mean next-token cross-entropy, nats
  double kl_spliced = 0, kl_zero = 0;                // mean KL(p_clean || p), nats
  double recovered = 0;                              // (ce_zero − ce_spliced) / (ce_zero − ce_clean)
  Interval ce_increase_ci, kl_spliced_ci, recovered_ci;  // 95%, bootstrap over sequences
};

struct SplicedLoss {
  int64_t sequences = 0, positions = 0;  // scored
  bool held_out = true;                  // false: eval_fraction 0, so the sequences may be training data
  SplicedLossModel model[2];             // 0 = base (A), 1 = distilled (B)
  std::string path;                      // where the JSON was written
  Json to_json() const;
};

// Scores opt.sequences held-out sequences and writes the JSON (atomically) to opt.out.
SplicedLoss run_spliced_loss(const SplicedLossOptions& opt);

}  // namespace cc
