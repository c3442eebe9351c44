// Where a feature's reasoning category comes from: the three methods' files, read into one
// feature → category map, so the agreement table and the ablation's category sets read them alike.
//   lexicon:    ANALYSIS/features.jsonl's "category" (the lexicon on the activating tokens); dead
//               features were not assessed
//   enrichment: ENRICH/enrichment.jsonl's "category" of the features it tested (sentence tags)
//   labels:     labels.jsonl's "category" from `crosscoder label` ("none" = assessed, no category)
#pragma once
#include <string>

#include "labels/agreement.hpp"

namespace cc {

enum class CategorySource { None, Lexicon, Enrichment, Labels };

// "none" | "lexicon" | "enrichment" | "labels"; anything else fails naming `what` (an option or key).
CategorySource parse_category_source(const std::string& name, const std::string& what);
const char* category_source_name(CategorySource s);

CategoryMap lexicon_categories(const std::string& analysis_dir);
CategoryMap enrichment_categories(const std::string& enrichment_dir);
CategoryMap labelled_categories(const std::string& labels_jsonl);

}  // namespace cc
