// Calibration (issue 19, docs/CALIBRATION.md): the pipeline run on pairs whose answer is known.
//   planted   (base, base + a planted mechanism): a crosscoder must find the plant as a change
//             (a feature whose d_B − d_A points along u, among the largest changes, not base-only),
//             ablating it must remove the mechanism in the planted model and not in the base model,
//             steering the base model with its change must transplant the mechanism, and Latent
//             Scaling must call it specific to the planted model;
//   concept   (base, base + one direction planted after any of several triggers): the same checks;
//             the signature (one feature for all triggers or one per trigger, its class) is reported
//             per architecture;
//   identical (base, base): nothing changed, so (almost) every alive feature must be shared and
//             ablating the largest "change" must act the same in both models (equivalence margin);
//   finetuned (base, base fine-tuned on plain text with the distillation's budget) beside
//   reference (base, distilled) under the same crosscoders: no checks, the numbers side by side, so
//             a reader sees how much of the real pair's difference a reasoning-free fine-tune makes too.
// Each pair is harvested, each crosscoder trained and analysed with the project's own stages;
// OUT/calibration.json holds every check with its figure, threshold and verdict.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "analysis/feature_analysis.hpp"
#include "core/json_file.hpp"
#include "crosscoder/crosscoder.hpp"
#include "data/corpus.hpp"
#include "model/weights.hpp"

namespace cc {

struct CalibrationCrosscoder {
  std::string name;  // e.g. "l1"; folders PAIR/crosscoder-NAME and PAIR/analysis-NAME
  CrosscoderConfig cfg;
  int64_t buffer_rows = 65536;
};

struct CalibrationThresholds {
  double min_cos = 0.9;          // cos(d_B − d_A, u) of the plant's feature
  int64_t max_rank = 10;         // its rank by change mass
  double max_base_effect = 0.25; // |ablation effect in the base model| / |effect in the planted model|
  double max_nu = 0.5;           // Latent Scaling ν_ε = β_A / β_B of the plant's feature
  double null_max_share = 0.005; // identical pair: alive features not shared
  double equivalence_margin = 0.05;  // identical pair: |distilled − base ablation effect| 95% CI inside ± this (nats)
};

struct CalibrationOptions {
  std::string base;       // the model planted into; both sides of the identical pair
  std::string out;
  std::string hook;       // "" = half depth
  // The plant (organism/plant.hpp).
  std::vector<std::string> triggers = {" number"};
  std::string target = " Wait";
  double strength_in = 1.0, strength_out = 8.0;
  uint64_t plant_seed = 0;
  std::vector<std::string> concept_triggers;  // the concept plant's triggers (empty: no concept pair)
  uint64_t concept_seed = 1;                  // its direction's seed (another direction than the token plant's)
  std::string finetuned, reference;           // the null pair's fine-tuned model and the real distilled model ("" = none)
  // The harvest of each pair.
  std::vector<CorpusSpec> corpora;
  int64_t tokens = 80000, seq_len = 256;
  int batch_seqs = 8;
  uint64_t seed = 0;
  double eval_fraction = 0.1;
  std::string held_out_list;
  std::vector<CalibrationCrosscoder> crosscoders;
  AnalyzeOptions analysis;  // thresholds and sizes of the analysis (crosscoder/acts/out are set per run)
  // The interventions at trigger positions of held-out sequences of these corpora (default: the harvest's).
  std::vector<CorpusSpec> probe_corpora;
  int64_t sequences = 64;
  std::vector<double> alphas = {0, 0.25, 0.5, 1};
  CalibrationThresholds thresholds;
  bool identical_null = true;
  bool resume = false;  // keep a finished store or crosscoder under OUT (same settings, else an error) and continue a partial one
  ComputeMode mode = ComputeMode::BF16;
  bool progress = true;
};

// Every setting that determines the output (for a run's stage fingerprint; files' stamps not included).
Json calibration_settings(const CalibrationOptions& opt);

// Runs everything under OUT and writes OUT/calibration.json; returns its path.
std::string run_calibration(const CalibrationOptions& opt);

// Reads a calibration.json and checks the fields its readers use (checks, passed, pairs → crosscoder
// → checks[] of {check, figure, threshold, pass}); a damaged file is a cc::Error naming it.
Json read_calibration_json(const std::string& path);

}  // namespace cc
