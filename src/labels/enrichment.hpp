// Sentence-tag enrichment (issue 23): which sentence functions a feature's activation falls on,
// against an independent labelled set (data/reasoning_traces/thought_anchors_sentence_labels.jsonl:
// real R1-distill traces whose sentences carry function tags).
//
// For feature j and tag g, over sentences s with n_s tokens and activation mass m_sj = Σ_{t∈s} f_tj:
//   share_jg  = Σ_{s tagged g} m_sj / Σ_s m_sj           (where the feature's activation goes)
//   base_g    = Σ_{s tagged g} n_s / Σ_s n_s             (where the tokens are)
//   ratio_jg  = share_jg / base_g
//   p_jg      = P(share ≥ observed) when the tag sets are permuted among the sentences of each trace
//               (so a feature that simply fires more in some traces is not enriched by that), by
//               Monte Carlo: (1 + permutations reaching the observed sum) / (1 + permutations). The
//               permuted sums of every feature and tag are one product per block of permutations,
//               [permutations × tags, sentences] 0/1 indicators times [sentences, features] masses;
//   q_jg      = Benjamini–Hochberg over every tested (feature, tag).
// A feature is tested only when it is active in at least min_sentences sentences.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace cc {

struct SentenceSet {
  std::vector<std::string> tag_names;  // at most 8: each sentence's tags are a bit mask
  std::vector<uint8_t> tags;           // [S] bit g set: the sentence carries tag_names[g]
  std::vector<int32_t> trace;          // [S] its trace; a trace's sentences are contiguous
  std::vector<int32_t> tokens;         // [S] tokens attributed to it
  size_t size() const { return tags.size(); }
};

// One feature's activation mass per sentence, sentences with mass > 0 only.
struct FeatureMass {
  std::vector<int32_t> sentence;
  std::vector<float> mass;
};

struct EnrichmentOptions {
  int64_t permutations = 10000;
  int64_t min_sentences = 5;
  uint64_t seed = 0;
};

struct TagEnrichment {
  double share = 0, base_rate = 0, ratio = 0;
  double p = 1, q = 1;
  bool tested = false;
};

// [F][tags] results; q filled across everything tested.
std::vector<std::vector<TagEnrichment>> tag_enrichment(const SentenceSet& s, const std::vector<FeatureMass>& features,
                                                       const EnrichmentOptions& opt);

// The null control: the same sentences with their tag sets shuffled across the whole set (traces
// ignored), which leaves every feature's masses and every tag's frequency as they are and breaks any
// tie between a tag and what the sentence says. Enrichment found there is the method's false alarm.
SentenceSet with_shuffled_tags(const SentenceSet& s, uint64_t seed);

// The paper's five categories from the tags (docs/ANALYSIS.md): uncertainty_management →
// self-reflection, self_checking → verification, result_consolidation → deductive, plan_generation →
// alternative; other tags map to none ("" returned).
std::string category_of_tag(const std::string& tag);

// A feature's category by enrichment: the mapped category of its most enriched tag among those both
// significant (q <= fdr) and large (ratio >= min_ratio: with thousands of sentences a 10% excess is
// significant, and a category should mean more); "" when there is none or that tag maps to no
// category (a weaker tag is not promoted: a computation feature is not called deductive for a side effect).
std::string enriched_category(const std::vector<TagEnrichment>& tags, const std::vector<std::string>& tag_names, double fdr,
                              double min_ratio);

}  // namespace cc
