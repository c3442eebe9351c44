// `crosscoder report`: one self-contained HTML file from a run's outputs.
#include <cstdio>

#include "cli/commands.hpp"
#include "pipeline/resources.hpp"
#include "core/strings.hpp"
#include "report/report.hpp"

namespace cc::cli {

void register_report(CLI::App& app) {
  auto o = std::make_shared<ReportOptions>();
  auto* c = app.add_subcommand("report", "Build one self-contained HTML report (figures, feature browser) from a run's outputs");
  c->add_option("--run", o->run, "Folder whose subfolders hold the outputs (crosscoder, analysis, ablation, steer, geometry, store) (default: none; then name the folders with the options below)");
  c->add_option("--out", o->out, "HTML file to write")->required();
  c->add_option("--crosscoder", o->crosscoder, "Crosscoder checkpoint (overrides discovery) (default: found under --run)");
  c->add_option("--analysis", o->analysis, "Analysis folder (overrides discovery) (default: found under --run)");
  c->add_option("--ablation", o->ablation, "Ablation folder (overrides discovery) (default: found under --run)");
  c->add_option("--steer", o->steer, "Steering folder (overrides discovery) (default: found under --run)");
  c->add_option("--geometry", o->geometry, "Geometry folder (overrides discovery) (default: found under --run)");
  c->add_option("--store", o->store, "Activation store (overrides discovery) (default: found under --run)");
  c->add_option("--assets", o->assets, "Folder with app.js, style.css and node_modules/vega* (default: the installed or source report/)");
  c->add_option("--top-examples", o->top_examples, "Max-activating contexts per feature dashboard")->capture_default_str();
  c->add_option("--sample-examples", o->sample_examples, "Sampled contexts per feature dashboard")->capture_default_str();
  c->add_option("--context", o->context, "Tokens either side kept per context")->capture_default_str();
  c->add_option("--transcript-chars", o->transcript_chars, "Characters kept per steering transcript")->capture_default_str();
  c->callback([o] {
    if (o->assets.empty()) o->assets = default_report_assets();
    const size_t bytes = write_report(*o);
    std::printf("report written to %s (%s)\n", o->out.c_str(), human_bytes(double(bytes)).c_str());
  });
}

}  // namespace cc::cli
