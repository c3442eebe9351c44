// Each subcommand registers itself on the CLI11 app; main() only dispatches.
#pragma once
#include <CLI/CLI.hpp>

namespace cc::cli {

void register_forward(CLI::App& app);
void register_generate(CLI::App& app);
void register_make_test_model(CLI::App& app);
void register_tokenize(CLI::App& app);
void register_harvest(CLI::App& app);
void register_train(CLI::App& app);
void register_analyze(CLI::App& app);
void register_ablate(CLI::App& app);
void register_spliced_loss(CLI::App& app);
void register_steer(CLI::App& app);
void register_geometry(CLI::App& app);
void register_report(CLI::App& app);
void register_organism(CLI::App& app);
void register_run(CLI::App& app);  // run and demo
void register_interop(CLI::App& app);  // export and import
void register_enrich(CLI::App& app);
void register_label(CLI::App& app);

}  // namespace cc::cli
