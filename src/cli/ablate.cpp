// `crosscoder ablate`: zero-ablate reasoning features in both models, measure target-logit changes.
#include <cstdio>

#include "cli/commands.hpp"
#include "dist/comm.hpp"
#include "pipeline/resources.hpp"
#include "cli/pair_options.hpp"
#include "interventions/ablation.hpp"

namespace cc::cli {

void register_ablate(CLI::App& app) {
  struct Opts {
    AblateOptions a;
    PairCli pair;
    std::string categories_from = "none";
  };
  auto o = std::make_shared<Opts>();
  AblateOptions& a = o->a;
  auto* s = app.add_subcommand("ablate", "Ablate top-k% NRN>0.5 features per reasoning category (with random and shared controls) "
                                         "and measure the target-token logit change in both models");
  add_pair_options(s, a, o->pair, "features are ablated");
  s->add_option("--out", a.out, "Output directory (ablation.json, ablation.csv)")->required();
  s->add_option("--analysis", a.analysis, "Analysis directory: take the shared NRN range from its summary.json (default: the shared range [0.3, 0.7])");
  s->add_option("--lexicon", a.lexicon, "Categories and their target tokens (default: configs/reasoning_lexicon.toml)");
  s->add_option("--category", a.categories, "Only these categories (repeatable; default: all with a target)");
  s->add_option("--categories-from", o->categories_from,
                 "Which features a category's top sets come from: none (every NRN pool feature, ranked by firing frequency at the "
                 "category's positions), lexicon (--analysis), enrichment (--enrichment) or labels (--labels): the pool's features "
                 "that method puts in the category, with an extra 'other' control from the rest of the pool")
      ->check(CLI::IsMember({"none", "lexicon", "enrichment", "labels"}))
      ->capture_default_str();
  s->add_option("--enrichment", a.enrichment, "`crosscoder enrich` output folder (for --categories-from enrichment) (default: none)");
  s->add_option("--labels", a.labels, "`crosscoder label` labels.jsonl (for --categories-from labels) (default: none)");
  s->add_option("--k", a.ks, "Top-k percentages of the NRN pool to ablate")->delimiter(',')->capture_default_str();
  s->add_option("--sequences", a.sequences, "Packed sequences searched for target positions")->capture_default_str();
  s->add_option("--positions", a.positions, "Evaluation positions per category")->capture_default_str();
  s->add_option("--rank-positions", a.rank_positions, "Held-out positions per category that rank features by firing frequency")
      ->capture_default_str();
  s->add_option("--nrn-above", a.nrn_above, "Ablated pool: features with NRN above this")->capture_default_str();
  s->add_option("--shared-low", a.shared_low, "Shared control: NRN at least this")->capture_default_str();
  s->add_option("--shared-high", a.shared_high, "Shared control: NRN at most this")->capture_default_str();
  s->add_option("--seed", a.seed, "Seed for document order, positions and the random control")->capture_default_str();
  s->footer("Under `mpirun -np N` the forward passes of the conditions are dealt to the ranks and rank 0 writes the results: "
            "the same files as one process writes with the same threads per rank (docs/DISTRIBUTED.md).");
  s->callback([o] {
    apply_pair_options(o->a, o->pair);
    o->a.categories_from = parse_category_source(o->categories_from, "--categories-from");
    if (o->a.lexicon.empty()) o->a.lexicon = default_lexicon();
    const std::string path = run_ablation(o->a);
    if (dist::root())  // under mpirun rank 0 wrote the results
      std::printf("ablation written to %s (and ablation.csv)\n", path.c_str());
  });
}

}  // namespace cc::cli
