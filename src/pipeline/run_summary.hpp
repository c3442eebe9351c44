// The short, human summary `crosscoder demo` / `crosscoder run` print at the end, read back from the
// stage outputs in the run folder (so a resumed run summarises exactly what is on disk).
#pragma once
#include <string>
#include <vector>

#include "pipeline/experiment.hpp"
#include "pipeline/run_experiment.hpp"

namespace cc {

std::string run_summary(const Experiment& e, const std::vector<StageOutcome>& stages);

}  // namespace cc
