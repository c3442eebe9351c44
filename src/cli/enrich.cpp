// `crosscoder enrich`: which sentence functions each feature fires on, against the sentence-tagged
// R1-distill traces (src/labels/enrichment.hpp has the statistic; docs/ANALYSIS.md the tag map).
#include <cstdio>

#include "cli/commands.hpp"
#include "cli/compute_option.hpp"
#include "core/parallel.hpp"
#include "labels/enrich.hpp"
#include "pipeline/resources.hpp"

namespace cc::cli {

void register_enrich(CLI::App& app) {
  struct Opts {
    EnrichRunOptions e;
    std::string dtype = "bf16";
    int threads = 0;
    bool quiet = false;
  };
  auto o = std::make_shared<Opts>();
  EnrichRunOptions& e = o->e;
  auto* s = app.add_subcommand("enrich", "Sentence-tag enrichment of a crosscoder's features (permutation test, FDR) and category agreement");
  s->add_option("--crosscoder", e.crosscoder, "Checkpoint directory")->required();
  s->add_option("--base", e.models.base, "Base model directory (model A)")->required();
  s->add_option("--distilled", e.models.distilled, "Distilled model directory (model B)")->required();
  s->add_option("--out", e.out, "Output directory (enrichment.jsonl, enrichment.json)")->required();
  s->add_option("--sentences", e.sentences,
                "Sentence-tagged traces, JSONL {trace_id, chunk_idx, sentence, function_tags} "
                "(default: data/reasoning_traces/thought_anchors_sentence_labels.jsonl)");
  s->add_option("--tokenizer", e.tokenizer, "tokenizer.json or its folder (default: the base model's)");
  s->add_option("--analysis", e.analysis, "Analysis folder whose lexicon categories to compare with (default: none)");
  s->add_option("--labels", e.labels, "labels.jsonl ({\"feature\", \"category\"}) to compare with (default: none)");
  s->add_option("--permutations", e.stats.permutations, "Most permutations per test (Monte Carlo p >= 1/(1+this))")->capture_default_str();
  s->add_option("--min-sentences", e.stats.min_sentences, "Test a feature only when active in this many sentences")->capture_default_str();
  s->add_option("--fdr", e.fdr, "Benjamini-Hochberg level for a significant (feature, tag)")->capture_default_str();
  s->add_option("--min-ratio", e.min_ratio, "A category needs its tag's activation share at least this times the tag's token share")
      ->capture_default_str();
  s->add_option("--seq-len", e.seq_len, "Tokens per forward window, start token included")->capture_default_str();
  s->add_option("--max-traces", e.max_traces, "Use the first N traces (0 = all)")->capture_default_str();
  s->add_option("--seed", e.stats.seed, "Permutation seed")->capture_default_str();
  add_compute_option(s, o->dtype);
  s->add_flag("--quiet", o->quiet, "No progress bar");
  s->add_option("--threads", o->threads, "Threads (0 = all cores)")->capture_default_str();
  s->callback([o] {
    set_num_threads(o->threads);
    o->e.models.mode = compute_mode_from_name(o->dtype);
    o->e.models.progress = !o->quiet;
    if (o->e.sentences.empty()) o->e.sentences = resource_path("data/reasoning_traces/thought_anchors_sentence_labels.jsonl");
    std::printf("enrichment written to %s\n", run_enrichment(o->e).c_str());
  });
}

}  // namespace cc::cli
