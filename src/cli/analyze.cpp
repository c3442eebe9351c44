// `crosscoder analyze`: per-feature tables, max-activating contexts and reasoning categories.
#include <cstdio>

#include "analysis/feature_analysis.hpp"
#include "cli/commands.hpp"
#include "dist/comm.hpp"
#include "pipeline/resources.hpp"
#include "core/parallel.hpp"

namespace cc::cli {

void register_analyze(CLI::App& app) {
  struct Opts {
    AnalyzeOptions a;
    int threads = 0;
    bool quiet = false;
  };
  auto o = std::make_shared<Opts>();
  AnalyzeOptions& a = o->a;
  auto* s = app.add_subcommand("analyze", "Analyse a crosscoder: NRN classes, contexts, categories, Latent Scaling");
  s->add_option("--crosscoder", a.crosscoder, "Checkpoint directory")->required();
  s->add_option("--acts", a.acts, "Activation store")->required();
  s->add_option("--out", a.out, "Output directory for the tables")->required();
  s->add_option("--tokenizer", a.tokenizer, "tokenizer.json or its folder (default: the store's)");
  s->add_option("--lexicon", a.lexicon, "Reasoning-category lexicon (default: configs/reasoning_lexicon.toml)");
  s->add_option("--tokens", a.max_tokens, "Store rows to analyse (-1 = all)")->capture_default_str();
  s->add_option("--top", a.top_n, "Max-activating examples per feature")->capture_default_str();
  s->add_option("--samples", a.samples, "Extra examples sampled over all activations")->capture_default_str();
  s->add_option("--context", a.context, "Tokens of context either side")->capture_default_str();
  s->add_option("--base-only-below", a.base_only_below, "NRN below this: base-only")->capture_default_str();
  s->add_option("--distilled-only-above", a.distilled_only_above, "NRN above this: distilled-only")->capture_default_str();
  s->add_option("--changed-below", a.changed_below, "cos(d_A, d_B) below this, both decoders alive: class 'changed'")->capture_default_str();
  s->add_option("--changed-min-ratio", a.changed_min_ratio, "Smaller decoder norm over the larger at least this for 'changed'")->capture_default_str();
  s->add_option("--majority", a.category_majority, "Share of top examples on one category to label a feature")->capture_default_str();
  s->add_option("--base", a.base_model, "Base model directory: list the next tokens each feature promotes/suppresses in A (default: no logit lens)");
  s->add_option("--distilled", a.distilled_model, "Distilled model directory: the same for B (default: no logit lens)");
  s->add_option("--logit-tokens", a.logit_tokens, "Promoted and suppressed tokens listed per feature")->capture_default_str();
  s->add_option("--export-prompts", a.export_prompts, "Write one LLM-labelling prompt per alive feature to this JSONL (default: not written)");
  s->add_option("--labels", a.labels, "Merge labels from this JSONL ({\"feature\": i, \"label\": \"...\"} per line) (default: none)");
  s->add_flag("--quiet", o->quiet, "No progress bar");
  s->add_option("--threads", o->threads, "Threads (0 = all cores)")->capture_default_str();
  s->footer("Under `mpirun -np N` each rank analyses its slice of the dictionary over every row and rank 0 writes the tables: "
            "the same files, byte for byte, as one process writes (with --base/--distilled: for the same threads per rank; docs/DISTRIBUTED.md).");
  s->callback([o] {
    set_num_threads(o->threads);
    o->a.progress = !o->quiet;
    if (o->a.lexicon.empty()) o->a.lexicon = default_lexicon();
    analyze_crosscoder(o->a);
    if (dist::root())  // under mpirun rank 0 wrote the results
      std::printf("analysis written to %s (features.csv, features.jsonl, examples.jsonl, categories.json, summary.json)\n",
                o->a.out.c_str());
  });
}

}  // namespace cc::cli
