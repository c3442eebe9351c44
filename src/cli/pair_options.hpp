// The options shared by the commands that evaluate a crosscoder inside the two models (ablate,
// spliced-loss): the pair, the corpora whose held-out documents are read, and how to run.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "cli/compute_option.hpp"

#include "core/parallel.hpp"
#include "data/corpus.hpp"
#include "model/weights.hpp"

namespace cc::cli {

struct PairCli {
  std::vector<std::string> corpora;
  std::string dtype = "bf16";
  int threads = 0;
  bool quiet = false;
};

// Opt has crosscoder, base, distilled, tokenizer, seq_len, seed, eval_fraction, held_out_list,
// batch_tokens (AblateOptions, SplicedLossOptions). hook_use: what happens at the crosscoder's hook.
template <class Opt>
void add_pair_options(CLI::App* s, Opt& a, PairCli& c, const std::string& hook_use) {
  s->add_option("--crosscoder", a.crosscoder, "Checkpoint directory (its hook is where " + hook_use + ")")->required();
  s->add_option("--base", a.base, "Base model directory (model A)")->required();
  s->add_option("--distilled", a.distilled, "Distilled model directory (model B)")->required();
  s->add_option("--corpus", c.corpora, "PATH[:FIELD][@WEIGHT][#TEMPLATE], repeatable (as for harvest)")->required();
  s->add_option("--tokenizer", a.tokenizer, "tokenizer.json or its folder (default: the base model's)");
  s->add_option("--seq-len", a.seq_len, "Tokens per sequence")->capture_default_str();
  s->add_option("--eval-fraction", a.eval_fraction, "Held-out share of documents, as at harvest: only those are read")
      ->capture_default_str();
  s->add_option("--held-out", a.held_out_list, "The harvest's held-out list, if it had one (default: none; the hash split alone)");
  s->add_option("--batch-tokens", a.batch_tokens, "Rows per forward call")->capture_default_str();
  add_compute_option(s, c.dtype);
  s->add_flag("--quiet", c.quiet, "No progress bar");
  s->add_option("--threads", c.threads, "Threads (0 = all cores)")->capture_default_str();
}

// In the command's callback: threads, corpora, compute mode and progress into the options.
template <class Opt>
void apply_pair_options(Opt& a, const PairCli& c) {
  set_num_threads(c.threads);
  for (const auto& s : c.corpora) a.corpora.push_back(parse_corpus_spec(s));
  a.mode = compute_mode_from_name(c.dtype);
  a.progress = !c.quiet;
}

}  // namespace cc::cli
