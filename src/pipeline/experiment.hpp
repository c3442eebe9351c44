// One experiment = one TOML file with every setting of every stage (docs/RUN.md). Loading resolves
// paths against the file's folder, applies --set overrides, checks every key and fills the option
// structs of the library's commands, so `crosscoder run` and the single commands share one code path.
#pragma once
#include <string>
#include <utility>
#include <vector>

#include "analysis/feature_analysis.hpp"
#include "calibration/calibration.hpp"
#include "crosscoder/crosscoder.hpp"
#include "crosscoder/trainer.hpp"
#include "geometry/geometry.hpp"
#include "harvest/pair_harvester.hpp"
#include "harvest/store_writer.hpp"
#include "interventions/ablation.hpp"
#include "interventions/spliced_loss.hpp"
#include "interventions/steer_sweep.hpp"
#include "labels/enrich.hpp"
#include "report/report.hpp"

namespace cc {

struct NamedCrosscoder {
  std::string name;  // the [crosscoder.NAME] table; output folder crosscoder-NAME
  CrosscoderConfig cfg;
  TrainOptions train;
};

struct Experiment {
  std::string file;                 // the TOML file
  std::string out;                  // run folder
  int threads = 0;
  Device device = Device::Cpu;  // [run] device: where the crosscoders train (the other stages run on the CPU)
  bool progress = true;             // progress bars inside the stages
  HarvestConfig harvest;            // models, hook, corpora, packing
  StoreOptions store;
  std::vector<NamedCrosscoder> crosscoders;
  std::string analysis_of;          // which crosscoder analyse/ablate/steer use
  AnalyzeOptions analyze;
  bool spliced_loss_on = true, ablate_on = true, steer_on = true, geometry_on = true;
  // Every crosscoder's spliced loss (CROSSCODER/spliced_loss.json); the crosscoder and out fields
  // are filled per crosscoder by the run.
  SplicedLossOptions spliced_loss;
  AblateOptions ablate;
  SteerSweepOptions steer;
  std::vector<std::string> steer_features;  // tried in order: the first that resolves is steered
  GeometryOptions geometry;
  bool enrich_on = false;           // [enrichment] enabled: sentence-tag enrichment of the analysed crosscoder
  EnrichRunOptions enrich;
  ReportOptions report;
  bool pair_on = true;              // false: a calibration-only config (no [models]): only the calibration stage runs
  bool calibration_on = false;      // [calibration] present
  CalibrationOptions calibration;
};

// overrides: "section.key=value" with value in TOML syntax (bare words are taken as strings).
// out_override replaces [run].out when not empty.
Experiment load_experiment(const std::string& path, const std::vector<std::string>& overrides = {},
                           const std::string& out_override = "");

}  // namespace cc
