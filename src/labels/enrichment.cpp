#include "labels/enrichment.hpp"

#include <algorithm>
#include <bit>
#include <random>

#include "core/error.hpp"
#include "core/parallel.hpp"
#include "core/stats.hpp"

namespace cc {

// Each permutation's tag masks [P][S]: the tag sets shuffled among the sentences of each trace.
static std::vector<uint8_t> permuted_masks(const SentenceSet& s, int64_t P, uint64_t seed) {
  const size_t S = s.size();
  std::vector<uint8_t> masks(size_t(P) * S);
  parallel_for(P, 16, [&](int64_t b, int64_t e) {
    for (int64_t p = b; p < e; ++p) {
      uint8_t* m = masks.data() + size_t(p) * S;
      std::copy(s.tags.begin(), s.tags.end(), m);
      std::mt19937_64 rng(seed ^ (0x9E3779B97F4A7C15ull * uint64_t(p + 1)));
      for (size_t lo = 0; lo < S;) {
        size_t hi = lo;
        while (hi < S && s.trace[hi] == s.trace[lo]) ++hi;
        for (size_t i = hi - 1; i > lo; --i) std::swap(m[i], m[lo + rng() % (i - lo + 1)]);
        lo = hi;
      }
    }
  });
  return masks;
}

static void add_tags(uint8_t mask, double mass, double* sums) {
  for (uint32_t m = mask; m; m &= m - 1) sums[std::countr_zero(m)] += mass;
}

// One feature against the permutations, every tag at once until each has stop_after exceedances.
static std::vector<TagEnrichment> test_feature(const SentenceSet& s, const FeatureMass& f, const std::vector<double>& base,
                                               const std::vector<uint8_t>& masks, const EnrichmentOptions& opt) {
  const size_t G = s.tag_names.size(), S = s.size();
  std::vector<TagEnrichment> out(G);
  double total = 0, obs[8] = {0};
  for (size_t i = 0; i < f.sentence.size(); ++i) {
    total += f.mass[i];
    add_tags(s.tags[size_t(f.sentence[i])], f.mass[i], obs);
  }
  for (size_t g = 0; g < G; ++g) {
    out[g].base_rate = base[g];
    out[g].share = total > 0 ? obs[g] / total : 0;
    out[g].ratio = base[g] > 0 ? out[g].share / base[g] : 0;
    out[g].tested = int64_t(f.sentence.size()) >= opt.min_sentences && base[g] > 0 && total > 0;
  }
  int64_t hits[8] = {0};
  bool open[8];
  for (size_t g = 0; g < G; ++g) open[g] = out[g].tested;
  for (int64_t p = 0; p < opt.permutations && std::any_of(open, open + G, [](bool b) { return b; }); ++p) {
    const uint8_t* m = masks.data() + size_t(p) * S;
    double sums[8] = {0};
    for (size_t i = 0; i < f.sentence.size(); ++i) add_tags(m[f.sentence[i]], f.mass[i], sums);
    for (size_t g = 0; g < G; ++g) {
      if (!open[g]) continue;
      out[g].permutations_run = p + 1;
      if (sums[g] >= obs[g] * (1 - 1e-12)) ++hits[g];  // ties count against the feature
      if (hits[g] >= opt.stop_after) open[g] = false;
    }
  }
  for (size_t g = 0; g < G; ++g) {
    if (!out[g].tested) continue;
    out[g].p = hits[g] >= opt.stop_after ? double(hits[g]) / double(out[g].permutations_run)
                                         : double(1 + hits[g]) / double(1 + opt.permutations);
  }
  return out;
}

std::vector<std::vector<TagEnrichment>> tag_enrichment(const SentenceSet& s, const std::vector<FeatureMass>& features,
                                                       const EnrichmentOptions& opt) {
  const size_t G = s.tag_names.size();
  if (G == 0 || G > 8) fail("", "sentence tags", "must number 1 to 8", "1..8", std::to_string(G));
  if (opt.permutations < 1 || opt.stop_after < 1) fail("", "permutations", "must be positive", ">= 1", std::to_string(opt.permutations));
  std::vector<double> base(G, 0.0);
  double tokens = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    tokens += s.tokens[i];
    add_tags(s.tags[i], s.tokens[i], base.data());
  }
  for (auto& b : base) b = tokens > 0 ? b / tokens : 0;
  const std::vector<uint8_t> masks = permuted_masks(s, opt.permutations, opt.seed);
  std::vector<std::vector<TagEnrichment>> out(features.size());
  parallel_for(int64_t(features.size()), 1, [&](int64_t b, int64_t e) {
    for (int64_t j = b; j < e; ++j) out[size_t(j)] = test_feature(s, features[size_t(j)], base, masks, opt);
  });
  std::vector<double> p;
  for (const auto& f : out)
    for (const auto& t : f)
      if (t.tested) p.push_back(t.p);
  const std::vector<double> q = benjamini_hochberg(p);
  size_t k = 0;
  for (auto& f : out)
    for (auto& t : f)
      if (t.tested) t.q = q[k++];
  return out;
}

std::string category_of_tag(const std::string& tag) {
  if (tag == "uncertainty_management") return "self-reflection";
  if (tag == "self_checking") return "verification";
  if (tag == "result_consolidation") return "deductive";
  if (tag == "plan_generation") return "alternative";
  return "";
}

std::string enriched_category(const std::vector<TagEnrichment>& tags, const std::vector<std::string>& tag_names, double fdr,
                              double min_ratio) {
  int best = -1;
  for (size_t g = 0; g < tags.size(); ++g)
    if (tags[g].tested && tags[g].q <= fdr && tags[g].ratio >= min_ratio && tags[g].ratio > 1 &&
        (best < 0 || tags[g].ratio > tags[size_t(best)].ratio))
      best = int(g);
  return best < 0 ? "" : category_of_tag(tag_names[size_t(best)]);
}

}  // namespace cc
