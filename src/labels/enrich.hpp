// `crosscoder enrich`: sentence-tag enrichment of a crosscoder's features (enrichment.hpp) written
// as OUT/enrichment.jsonl (one line per feature) and OUT/enrichment.json (tags, base rates, counts,
// the tag → category map, and agreement with the lexicon's categories and LLM labels when given).
#pragma once
#include <cstdint>
#include <string>

#include "labels/enrichment.hpp"
#include "labels/sentence_traces.hpp"

namespace cc {

struct EnrichRunOptions {
  std::string crosscoder, sentences, out;
  std::string tokenizer;  // default: the base model's
  std::string analysis;   // optional: its features.jsonl categories (the lexicon's) to compare with
  std::string labels;     // optional: labels.jsonl ({"feature", "category"}) to compare with
  AttributionOptions models;
  EnrichmentOptions stats;
  int64_t seq_len = 256, max_traces = 0;
  double fdr = 0.05;
  double min_ratio = 1.5;  // a category needs the tag's share at least this times its base rate
};

// Returns OUT/enrichment.json's path.
std::string run_enrichment(const EnrichRunOptions& opt);

}  // namespace cc
