// Agreement between two ways of giving features a reasoning category (lexicon, sentence-tag
// enrichment, LLM labels): on the features both assessed, how often they give the same answer
// ("none" counts as an answer), Cohen's κ for that (chance-corrected), and on the features both
// gave a real category, the share that match.
#pragma once
#include <cstdint>
#include <map>
#include <string>

#include "core/json_file.hpp"

namespace cc {

// feature → category ("" = assessed, no category).
using CategoryMap = std::map<int64_t, std::string>;

struct Agreement {
  int64_t assessed = 0;       // features in both maps
  double observed = 0;        // share with the same answer among them
  double kappa = 0;           // Cohen's κ over them (NaN when chance agreement is 1)
  int64_t both_labelled = 0;  // features both gave a non-empty category
  double labelled_match = 0;  // share of those with the same category (NaN when none)
  Json to_json() const;
};

Agreement category_agreement(const CategoryMap& a, const CategoryMap& b);

}  // namespace cc
