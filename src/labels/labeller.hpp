// `crosscoder label`: LLM labels for an analysis folder's features, each checked by a detection
// score (issue 23). Per feature: a labelling prompt from its top and sampled contexts
// (label_prompt.hpp), then a detection prompt with the label and a shuffled mix of held-out
// activating contexts (ones the labeller was not shown) and non-activating ones (other features'
// contexts where this feature's activation at the marked token is 0, checked with the crosscoder on
// the store's row); the score is the balanced accuracy of the answer.
//
// OUT/labels.jsonl gets one line per labelled feature as it completes (flushed and synced, so a kill
// loses only requests in flight; a torn last line is dropped on resume), features already there are
// skipped; OUT/cache.jsonl keeps every reply by the hash of (labeller, prompt), so a rerun asks
// nothing twice; OUT/failed.jsonl lists features that got no usable answer (retried by the next run);
// OUT/usage.json totals tokens and cost over labels.jsonl.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "labels/chat_backend.hpp"

namespace cc {

struct LabelOptions {
  std::string analysis, out;
  std::string crosscoder, acts;  // for non-activating contexts (default: the analysis's summary.json)
  std::vector<int64_t> features;       // these features (default: every alive feature passing the filters)
  std::vector<std::string> classes;    // only these NRN classes
  std::vector<std::string> categories; // only these lexicon categories
  double nrn_min = 0, nrn_max = 1;
  int64_t limit = 0;                   // at most this many (0 = all), in feature order
  int shown_top = 10, shown_samples = 3;  // contexts in the labelling prompt
  int detect_positive = 5, detect_negative = 5;
  bool detection = true;
  int64_t max_tokens = 256;
  double price_in = 0, price_out = 0;  // per million prompt / completion tokens
  uint64_t seed = 0;
  bool progress = true;
};

struct LabelRunStats {
  int64_t labelled = 0, skipped = 0, failed = 0, requests = 0, cache_hits = 0;
};

LabelRunStats run_labelling(const LabelOptions& opt, ChatBackend& backend);

}  // namespace cc
