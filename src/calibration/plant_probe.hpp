// Measurements of a planted mechanism (organism/plant.hpp) through a trained crosscoder, for the
// calibration checks (docs/CALIBRATION.md):
//   plant_direction   u, the mean of s_B·x_B − s_A·x_A over the store's trigger rows: what the plant
//                     put into the stream at the hook, in the crosscoder's units (the first layers
//                     transform the planted v, so u, not v, is what a feature must find);
//   attribute_plant   the feature that carries u: the largest Σ_trigger rows f_j · (d_B − d_A)_j · û;
//   probe_triggers    on held-out packed sequences, log p(target) at every trigger position in both
//                     models, clean, with a feature zero-ablated, and in the base model steered by
//                     α · f_j · (d_B − d_A)_j / s_A (the feature's change transplanted).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "crosscoder/crosscoder.hpp"
#include "data/corpus.hpp"
#include "harvest/activation_store.hpp"
#include "model/weights.hpp"

namespace cc {

// The store's trigger rows (every split: u and the attribution describe the models, nothing is
// fitted to them; at most 20,000), scaled into the crosscoder's units, [rows, 2d]. Read once and
// passed to the measurements below.
std::vector<float> trigger_rows(const ActivationStore& store, const CrosscoderConfig& c, const std::vector<int32_t>& triggers);

struct PlantDirection {
  std::vector<double> u;  // [d], crosscoder units
  int64_t rows = 0;       // trigger rows averaged
};
// X: trigger_rows; origin names the store in the error when there is none.
PlantDirection plant_direction(const std::vector<float>& X, int64_t d, const std::string& origin);

struct PlantAttribution {
  int64_t feature = -1;         // argmax of the attribution; -1 when no feature fires on a trigger
  double attribution = 0;       // its Σ f · delta·û over the trigger rows / rows
  double share = 0;             // its part of the positive attributions of all features
  double cos_u = 0;             // cos(d_B − d_A, u) of that feature
  double cos_u_distilled = 0;   // cos(d_B, u)
  double trigger_firing = 0;    // share of trigger rows where it fires
  int64_t control = -1;         // another feature active there whose removal in the distilled model,
  double control_ratio = 0;     // Σ f · ||d_B||, is closest to this one's (log ratio); its ratio to it
};
PlantAttribution attribute_plant(const std::vector<float>& X, const CrosscoderParams& p, const CrosscoderConfig& c,
                                 const PlantDirection& u);

struct TriggerProbeOptions {
  std::string base, distilled, tokenizer;
  std::vector<CorpusSpec> corpora;
  int64_t sequences = 64, seq_len = 256;
  uint64_t seed = 0;
  double eval_fraction = 0.1;   // the harvest's split: trigger positions come from held-out documents only
  std::string held_out_list;
  ComputeMode mode = ComputeMode::BF16;
  std::vector<int32_t> triggers;
  int32_t target = 0;
  int64_t feature = 0, control = -1;   // the ablated feature and its control (-1: none)
  std::vector<double> alphas;          // steering of the base model by the feature's change
};

struct TriggerProbe {
  int64_t positions = 0, sequences = 0;
  std::vector<int64_t> unit;                           // [positions] the packed sequence of each (bootstrap unit)
  std::vector<double> clean[2], ablated[2], control[2];  // [model][positions] log p(target)
  std::vector<std::vector<double>> steered;            // [alpha][positions] the base model's log p(target)
  double removed[2] = {0, 0}, control_removed[2] = {0, 0};  // Σ f · ||d_m|| over the positions
};
TriggerProbe probe_triggers(const CrosscoderParams& p, const CrosscoderConfig& c, const std::string& ccfg, const TriggerProbeOptions& opt);

}  // namespace cc
