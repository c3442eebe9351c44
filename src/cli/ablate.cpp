// `crosscoder ablate`: zero-ablate reasoning features in both models, measure target-logit changes.
#include <cstdio>

#include "cli/commands.hpp"
#include "pipeline/resources.hpp"
#include "core/parallel.hpp"
#include "interventions/ablation.hpp"

namespace cc::cli {

void register_ablate(CLI::App& app) {
  struct Opts {
    AblateOptions a;
    std::vector<std::string> corpora;
    std::string dtype = "bf16";
    int threads = 0;
    bool quiet = false;
  };
  auto o = std::make_shared<Opts>();
  AblateOptions& a = o->a;
  auto* s = app.add_subcommand("ablate", "Ablate top-k% NRN>0.5 features per reasoning category (with random and shared controls) "
                                         "and measure the target-token logit change in both models");
  s->add_option("--crosscoder", a.crosscoder, "Checkpoint directory (its hook is where features are ablated)")->required();
  s->add_option("--base", a.base, "Base model directory (model A)")->required();
  s->add_option("--distilled", a.distilled, "Distilled model directory (model B)")->required();
  s->add_option("--corpus", o->corpora, "PATH[:FIELD][@WEIGHT][#TEMPLATE], repeatable (as for harvest)")->required();
  s->add_option("--out", a.out, "Output directory (ablation.json, ablation.csv)")->required();
  s->add_option("--analysis", a.analysis, "Analysis directory: take the shared NRN range from its summary.json (default: the shared range [0.3, 0.7])");
  s->add_option("--tokenizer", a.tokenizer, "tokenizer.json or its folder (default: the base model's)");
  s->add_option("--lexicon", a.lexicon, "Categories and their target tokens (default: configs/reasoning_lexicon.toml)");
  s->add_option("--category", a.categories, "Only these categories (repeatable; default: all with a target)");
  s->add_option("--k", a.ks, "Top-k percentages of the NRN pool to ablate")->delimiter(',')->capture_default_str();
  s->add_option("--sequences", a.sequences, "Packed sequences searched for target positions")->capture_default_str();
  s->add_option("--seq-len", a.seq_len, "Tokens per sequence")->capture_default_str();
  s->add_option("--positions", a.positions, "Evaluation positions per category")->capture_default_str();
  s->add_option("--rank-positions", a.rank_positions, "Held-out positions per category that rank features by firing frequency")
      ->capture_default_str();
  s->add_option("--nrn-above", a.nrn_above, "Ablated pool: features with NRN above this")->capture_default_str();
  s->add_option("--shared-low", a.shared_low, "Shared control: NRN at least this")->capture_default_str();
  s->add_option("--shared-high", a.shared_high, "Shared control: NRN at most this")->capture_default_str();
  s->add_option("--seed", a.seed, "Seed for document order, positions and the random control")->capture_default_str();
  s->add_option("--eval-fraction", a.eval_fraction, "Held-out share of documents, as at harvest: positions come from those only")
      ->capture_default_str();
  s->add_option("--held-out", a.held_out_list, "The harvest's held-out list, if it had one (default: none; the hash split alone)");
  s->add_option("--batch-tokens", a.batch_tokens, "Rows per forward call")->capture_default_str();
  s->add_option("--dtype", o->dtype, "Model compute mode: f32 or bf16")->check(CLI::IsMember({"f32", "bf16"}))->capture_default_str();
  s->add_flag("--quiet", o->quiet, "No progress bar");
  s->add_option("--threads", o->threads, "Threads (0 = all cores)")->capture_default_str();
  s->callback([o] {
    set_num_threads(o->threads);
    for (const auto& c : o->corpora) o->a.corpora.push_back(parse_corpus_spec(c));
    o->a.mode = compute_mode_from_name(o->dtype);
    o->a.progress = !o->quiet;
    if (o->a.lexicon.empty()) o->a.lexicon = default_lexicon();
    const std::string path = run_ablation(o->a);
    std::printf("ablation written to %s (and ablation.csv)\n", path.c_str());
  });
}

}  // namespace cc::cli
