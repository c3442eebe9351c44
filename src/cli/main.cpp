// crosscoder: one binary, subcommands. The only place that catches library errors.
#include <cstdio>

#include "cli/commands.hpp"
#include "core/blas_environment.hpp"
#include "core/cpu_features.hpp"
#include "core/error.hpp"

int main(int argc, char** argv) {
  cc::reexec_with_blas_environment(argv);  // OpenBLAS's thread timeout and kernels (core/blas_environment.cpp)
  CLI::App app{"crosscoder.cpp: compare a base LLM with its reasoning-distilled variant through sparse crosscoders"};
  app.require_subcommand(1);
  app.set_help_all_flag("--help-all", "Show help for all subcommands");
  // The version with what the arithmetic runs on: a figure or a bug report means little without them.
  app.set_version_flag("--version", [] {
    return std::string("crosscoder.cpp ") + CROSSCODER_VERSION + "; OpenBLAS core " + cc::blas_core_name() +
           "; CPU " + cc::cpu_feature_summary();
  });
  cc::cli::register_forward(app);
  cc::cli::register_generate(app);
  cc::cli::register_make_test_model(app);
  cc::cli::register_tokenize(app);
  cc::cli::register_harvest(app);
  cc::cli::register_train(app);
  cc::cli::register_analyze(app);
  cc::cli::register_ablate(app);
  cc::cli::register_spliced_loss(app);
  cc::cli::register_steer(app);
  cc::cli::register_geometry(app);
  cc::cli::register_report(app);
  cc::cli::register_organism(app);
  cc::cli::register_run(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const cc::Error& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 2;
  }
  return 0;
}
