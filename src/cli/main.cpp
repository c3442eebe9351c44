// crosscoder: one binary, subcommands. The only place that catches library errors.
#include <cstdio>
#include <string>

#include "cli/commands.hpp"
#include "core/blas_environment.hpp"
#include "core/cpu_features.hpp"
#include "core/error.hpp"
#include "dist/comm.hpp"

namespace {
// The subcommands that split their work across MPI ranks. Under mpirun main refuses the others,
// which would run N times over the same files.
bool runs_distributed(const char* subcommand) {
  const std::string c = subcommand;
  return c == "harvest" || c == "train" || c == "analyze" || c == "ablate" || c == "steer" || c == "geometry" || c == "run" ||
         c == "demo";
}
}  // namespace

int main(int argc, char** argv) {
  cc::reexec_with_blas_environment(argv);  // OpenBLAS's thread timeout and kernels (core/blas_environment.cpp)
  cc::dist::init(&argc, &argv);            // MPI ranks, when started by mpirun (dist/comm.hpp)
  CLI::App app{"crosscoder.cpp: compare a base LLM with its reasoning-distilled variant through sparse crosscoders"};
  app.require_subcommand(1);
  app.set_help_all_flag("--help-all", "Show help for all subcommands");
  // The version with what the arithmetic runs on: a figure or a bug report means little without them.
  app.set_version_flag("--version", [] {
    return std::string("crosscoder.cpp ") + CROSSCODER_VERSION + "; OpenBLAS core " + cc::blas_core_name() +
           "; CPU " + cc::cpu_feature_summary() +
           (cc::dist::built_with_mpi() ? "; MPI" : "; no MPI");
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
  cc::cli::register_interop(app);
  cc::cli::register_enrich(app);
  cc::cli::register_label(app);
  // With several ranks an error ends the whole job (MPI_Abort): the other ranks would otherwise
  // wait for this one in their next collective call forever.
  // (abort_job alone knows the job's size: inside dist::root_alone rank 0 runs as a job of one.)
  auto failed = [](const char* what, int code) -> int { cc::dist::abort_job(what, code); };
  if (cc::dist::size() > 1 && argc > 1 && argv[1][0] != '-' && !runs_distributed(argv[1])) {
    // Every rank sees the same arguments, so all end here: no abort needed, one message.
    if (cc::dist::root())
      std::fprintf(stderr, "error: `%s` does not run under mpirun (only `harvest`, `train`, `analyze`, `ablate`, `steer`, `geometry`, `run` and `demo` split their work across ranks); run it as one process\n",
                   argv[1]);
    cc::dist::finalize();
    return 1;
  }
  int rc = 0;
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    rc = app.exit(e);
  } catch (const cc::Error& e) {
    return failed(e.what(), 1);
  } catch (const std::exception& e) {
    return failed(e.what(), 2);
  }
  cc::dist::finalize();
  return rc;
}
