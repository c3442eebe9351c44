// `crosscoder run`: the paper's stages in order (harvest, train each crosscoder, analyse, ablate,
// steer, geometry, report) over one Experiment, resumable at stage granularity (stage_record.hpp)
// and, inside harvest, training and steering, at the granularity those commands resume at.
#pragma once
#include <string>
#include <vector>

#include "core/resource_usage.hpp"
#include "pipeline/experiment.hpp"

namespace cc {

struct RunOptions {
  std::string until;     // stop after this stage ("" = run all)
  bool force = false;    // redo every stage
};

struct StageOutcome {
  std::string name;
  bool skipped = false;  // done before under the same fingerprint
  double seconds = 0;    // this invocation (skipped: the recorded time of the run that did it)
  std::string note;      // e.g. the steered feature
  ResourceUsage usage;   // CPU time and page faults of this invocation's run of the stage
};

std::vector<std::string> stage_names(const Experiment& e);
std::vector<StageOutcome> run_experiment(const Experiment& e, const RunOptions& opt);

}  // namespace cc
