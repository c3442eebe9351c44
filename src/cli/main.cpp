// crosscoder: one binary, subcommands. The only place that catches library errors.
#include <unistd.h>

#include <cstdio>
#include <cstdlib>

#include "cli/commands.hpp"
#include "core/error.hpp"

int main(int argc, char** argv) {
  // OpenBLAS's idle workers spin (sched_yield) for 2^28 cycles after every call before they sleep;
  // on a 2-core machine that spinning competes with our own pool between GEMMs (measured on a
  // calibration-sized L1 training run: 6.3 s system time against 22 s user; with a 2^4-cycle
  // timeout 1.9 s, and 6% less wall time). OpenBLAS reads the timeout from the environment when it
  // loads, before main, so the binary sets it and re-executes itself once; a value the user set is
  // kept, and if the re-exec fails the run goes on with the default.
  if (!std::getenv("OPENBLAS_THREAD_TIMEOUT")) {
    setenv("OPENBLAS_THREAD_TIMEOUT", "4", 1);
    execv("/proc/self/exe", argv);
  }
  CLI::App app{"crosscoder.cpp: compare a base LLM with its reasoning-distilled variant through sparse crosscoders"};
  app.require_subcommand(1);
  app.set_help_all_flag("--help-all", "Show help for all subcommands");
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
