// The pair as an evaluation inside the models sees it (ablation, spliced loss): both models at a
// crosscoder's hook, over the held-out documents of the evaluation's corpora, packed the way the
// harvest packed them (its eval_fraction and held-out list), so no evaluated position comes from a
// document a crosscoder was trained on.
#pragma once
#include <memory>
#include <string>

#include "core/error.hpp"
#include "crosscoder/crosscoder.hpp"
#include "harvest/pair_harvester.hpp"

namespace cc {

// Opt: AblateOptions or SplicedLossOptions (base, distilled, tokenizer, corpora, seq_len, seed,
// eval_fraction, held_out_list, mode); c has a hook. ccfg names the crosscoder's config.json in errors.
template <class Opt>
std::unique_ptr<PairHarvester> open_held_out_pair(const Opt& opt, const CrosscoderConfig& c, const std::string& ccfg) {
  HarvestConfig hc;
  hc.base_dir = opt.base;
  hc.distilled_dir = opt.distilled;
  hc.tokenizer = opt.tokenizer;
  hc.hook = c.hook;
  hc.corpora = opt.corpora;
  hc.pack.seq_len = opt.seq_len;
  hc.pack.seed = opt.seed;
  hc.pack.eval_fraction = opt.eval_fraction;
  hc.pack.held_out_list = opt.held_out_list;
  if (opt.eval_fraction > 0 || !opt.held_out_list.empty()) hc.pack.only_split = 1;  // held-out documents only
  hc.mode = opt.mode;
  auto pair = std::make_unique<PairHarvester>(hc);
  if (pair->d_model() != c.d_in)
    fail(ccfg, "d_in", "does not match the models' hidden_size", std::to_string(pair->d_model()), std::to_string(c.d_in));
  return pair;
}

}  // namespace cc
