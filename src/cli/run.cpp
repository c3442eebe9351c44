// `crosscoder run CONFIG.toml` (every stage of an experiment, resumable) and `crosscoder demo`
// (the same on the committed model organism, configs/organism.toml, then a summary).
#include <cstdio>
#include <filesystem>

#include "cli/commands.hpp"
#include "core/atomic_file.hpp"
#include "device/device.hpp"
#include "dist/comm.hpp"
#include "pipeline/experiment.hpp"
#include "pipeline/resources.hpp"
#include "pipeline/run_experiment.hpp"
#include "pipeline/run_summary.hpp"

namespace cc::cli {

namespace {
struct RunOpts {
  std::string config, out, until, device;
  std::vector<std::string> sets;
  bool force = false, quiet = false, list = false;
  int threads = -1;
};

void add_common(CLI::App* c, RunOpts& o) {
  c->add_option("--set", o.sets, "Override a setting: SECTION.KEY=VALUE in TOML syntax (repeatable), e.g. harvest.tokens=20000 (default: none)");
  c->add_option("--until", o.until, "Stop after this stage (harvest, train-NAME, analyze, ablate, steer, geometry, report) (default: every stage)");
  c->add_flag("--force", o.force, "Redo every stage even when its outputs are up to date");
  c->add_flag("--list", o.list, "List the stages and whether each is up to date, then exit");
  c->add_flag("--quiet", o.quiet, "No progress bars inside the stages (stage lines are still printed)");
  c->add_option("--threads", o.threads, "Threads (default: [run].threads of the config; 0 = all cores)");
  c->add_option("--device", o.device, "cpu or cuda: where the crosscoders train (docs/GPU.md) (default: [run].device of the config, cpu)")
      ->check(CLI::IsMember({"cpu", "cuda"}));
}

void execute(const RunOpts& o) {
  std::vector<std::string> sets = o.sets;
  if (!o.device.empty()) sets.push_back("run.device=\"" + o.device + "\"");
  Experiment e = load_experiment(o.config, sets, o.out);
  require_device(e.device, "--device");  // before any stage starts
  if (o.threads >= 0) e.threads = o.threads;
  e.progress = !o.quiet;
  if (o.list) {
    if (dist::root())
      for (const auto& n : stage_names(e)) std::printf("%s\n", n.c_str());
    return;
  }
  RunOptions r;
  r.until = o.until;
  r.force = o.force;
  const auto outcomes = run_experiment(e, r);
  if (!dist::root()) return;  // under mpirun rank 0 reports
  const std::string summary = run_summary(e, outcomes);
  write_file_atomic(e.out + "/summary.txt", summary);
  std::printf("%s", summary.c_str());
}
}  // namespace

void register_run(CLI::App& app) {
  auto o = std::make_shared<RunOpts>();
  auto* c = app.add_subcommand("run", "Run every stage of an experiment TOML (harvest, train, analyze, ablate, steer, geometry, report); "
                                      "a re-run skips stages whose settings and inputs are unchanged (docs/RUN.md)");
  c->add_option("config", o->config, "Experiment TOML, e.g. configs/paper-1.5b.toml")->required();
  c->add_option("--out", o->out, "Run folder (default: [run].out of the config, relative to the working directory)");
  add_common(c, *o);
  c->callback([o] { execute(*o); });

  auto d = std::make_shared<RunOpts>();
  d->out = "demo-out";
  auto* m = app.add_subcommand("demo", "The paper end to end on the committed model organism (organism/base vs organism/distilled): "
                                       "`crosscoder run configs/organism.toml`, then a summary");
  m->add_option("--config", d->config, "Experiment TOML (default: configs/organism.toml of the installed or source tree)");
  m->add_option("--out", d->out, "Run folder")->capture_default_str();
  add_common(m, *d);
  m->callback([d] {
    RunOpts o = *d;
    if (o.config.empty()) o.config = default_demo_config();
    execute(o);
  });
}

}  // namespace cc::cli
