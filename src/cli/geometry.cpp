// `crosscoder geometry`: parallelogram loss of function-vector word pairs, base vs distilled.
#include <cstdio>

#include "cli/commands.hpp"
#include "dist/comm.hpp"
#include "cli/compute_option.hpp"
#include "core/parallel.hpp"
#include "geometry/geometry.hpp"

namespace cc::cli {

void register_geometry(CLI::App& app) {
  struct Opts {
    GeometryOptions g;
    std::string dtype = "bf16";
    int threads = 0;
    bool quiet = false;
  };
  auto o = std::make_shared<Opts>();
  GeometryOptions& g = o->g;
  auto* c = app.add_subcommand("geometry", "Parallelogram loss of function-vector word pairs per task, base vs distilled");
  c->add_option("--base", g.base, "Base model directory")->required();
  c->add_option("--distilled", g.distilled, "Distilled model directory")->required();
  c->add_option("--more-models", g.more, "More models; consecutive ones are also compared as (base, distilled) pairs (default: none)");
  c->add_option("--layer,--hook", g.layer, "Hook: layer L (= blocks.L.hook_resid_pre) or a hook name (default: each model's half depth)");
  c->add_option("--datasets", g.datasets, "Folder of word-pair task files ([{\"input\": a, \"output\": b}, ...])")->required();
  c->add_option("--task", g.tasks, "Only these tasks (file stems; repeatable; default: all)");
  c->add_option("--pca", g.pca, "Principal components per task (0 = none)")->capture_default_str();
  c->add_option("--template", g.word_template, "How a word is written before tokenising")->capture_default_str();
  c->add_option("--start", g.start, "Start token: auto (the tokenizer's BOS, else <|endoftext|>), none, or an id")->capture_default_str();
  c->add_option("--tokenizer", g.tokenizer, "tokenizer.json or its folder for every model (default: each model's)");
  c->add_option("--bootstrap", g.bootstrap, "Bootstrap resamples of the pairs")->capture_default_str();
  c->add_option("--seed", g.seed, "Seed for the bootstrap and the shuffled null")->capture_default_str();
  c->add_option("--batch-tokens", g.batch_tokens, "Tokens per forward call")->capture_default_str();
  c->add_option("--out", g.out, "Output directory (geometry.json, geometry.csv)")->required();
  add_compute_option(c, o->dtype);
  c->add_flag("--quiet", o->quiet, "No progress bar");
  c->add_option("--threads", o->threads, "Threads (0 = all cores)")->capture_default_str();
  c->footer("Under `mpirun -np N` the models, then the tasks, are dealt to the ranks and rank 0 writes the results: "
            "the same files as one process writes with the same threads per rank (docs/DISTRIBUTED.md).");
  c->callback([o] {
    set_num_threads(o->threads);
    o->g.mode = compute_mode_from_name(o->dtype);
    o->g.progress = !o->quiet;
    const std::string path = run_geometry(o->g);
    if (dist::root())  // under mpirun rank 0 wrote the results
      std::printf("geometry written to %s (and geometry.csv)\n", path.c_str());
  });
}

}  // namespace cc::cli
