#include "labels/enrichment.hpp"

#include <cblas.h>

#include <algorithm>
#include <array>
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

// Per tested feature (columns of a block), how many permutations give each tag a sum of masses at
// least the observed one. Sums are floats from one sgemm, the observed ones from the same product
// with the identity permutation, so equal sets of sentences give equal sums; a tie counts against.
static void count_exceedances(const SentenceSet& s, const std::vector<FeatureMass>& features, const std::vector<int64_t>& block,
                              const std::vector<uint8_t>& masks, int64_t P, std::vector<std::array<int64_t, 8>>& hits) {
  const int64_t S = int64_t(s.size()), G = int64_t(s.tag_names.size()), nb = int64_t(block.size());
  std::vector<float> M(size_t(S * nb), 0.f);  // [S, nb]
  for (int64_t c = 0; c < nb; ++c) {
    const FeatureMass& f = features[size_t(block[size_t(c)])];
    for (size_t i = 0; i < f.sentence.size(); ++i) M[size_t(f.sentence[i] * nb + c)] = f.mass[i];
  }
  constexpr int64_t kChunk = 64;  // permutations per product
  std::vector<float> ind(size_t((kChunk + 1) * G * S)), sums(size_t((kChunk + 1) * G * nb));
  auto fill = [&](int64_t row, const uint8_t* mask) {  // G indicator rows for one assignment of tags
    for (int64_t g = 0; g < G; ++g)
      for (int64_t i = 0; i < S; ++i) ind[size_t(((row * G) + g) * S + i)] = float((mask[i] >> g) & 1u);
  };
  fill(0, s.tags.data());
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, int(G), int(nb), int(S), 1.f, ind.data(), int(S), M.data(), int(nb), 0.f,
              sums.data(), int(nb));
  const std::vector<float> observed(sums.begin(), sums.begin() + G * nb);
  for (int64_t p0 = 0; p0 < P; p0 += kChunk) {
    const int64_t n = std::min(kChunk, P - p0);
    for (int64_t k = 0; k < n; ++k) fill(k, masks.data() + size_t((p0 + k) * S));
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, int(n * G), int(nb), int(S), 1.f, ind.data(), int(S), M.data(), int(nb),
                0.f, sums.data(), int(nb));
    for (int64_t k = 0; k < n; ++k)
      for (int64_t g = 0; g < G; ++g)
        for (int64_t c = 0; c < nb; ++c)
          hits[size_t(block[size_t(c)])][size_t(g)] += sums[size_t((k * G + g) * nb + c)] >= observed[size_t(g * nb + c)];
  }
}

// Observed shares and ratios of one feature; which tags it is tested on.
static std::vector<TagEnrichment> observe(const SentenceSet& s, const FeatureMass& f, const std::vector<double>& base, int64_t min_sentences) {
  const size_t G = s.tag_names.size();
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
    out[g].tested = int64_t(f.sentence.size()) >= min_sentences && base[g] > 0 && total > 0;
  }
  return out;
}

std::vector<std::vector<TagEnrichment>> tag_enrichment(const SentenceSet& s, const std::vector<FeatureMass>& features,
                                                       const EnrichmentOptions& opt) {
  const size_t G = s.tag_names.size();
  if (G == 0 || G > 8) fail("", "sentence tags", "must number 1 to 8", "1..8", std::to_string(G));
  if (opt.permutations < 1) fail("", "permutations", "must be positive", ">= 1", std::to_string(opt.permutations));
  std::vector<double> base(G, 0.0);
  double tokens = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    tokens += s.tokens[i];
    add_tags(s.tags[i], s.tokens[i], base.data());
  }
  for (auto& b : base) b = tokens > 0 ? b / tokens : 0;
  const std::vector<uint8_t> masks = permuted_masks(s, opt.permutations, opt.seed);
  std::vector<std::vector<TagEnrichment>> out(features.size());
  std::vector<int64_t> tested;
  for (size_t j = 0; j < features.size(); ++j) {
    out[j] = observe(s, features[j], base, opt.min_sentences);
    if (std::any_of(out[j].begin(), out[j].end(), [](const TagEnrichment& t) { return t.tested; })) tested.push_back(int64_t(j));
  }
  std::vector<std::array<int64_t, 8>> hits(features.size(), std::array<int64_t, 8>{});
  constexpr size_t kBlock = 1024;  // features per product: [sentences, 1024] floats
  for (size_t b0 = 0; b0 < tested.size(); b0 += kBlock) {
    const std::vector<int64_t> block(tested.begin() + long(b0), tested.begin() + long(std::min(tested.size(), b0 + kBlock)));
    count_exceedances(s, features, block, masks, opt.permutations, hits);
  }
  for (size_t j = 0; j < features.size(); ++j)
    for (size_t g = 0; g < G; ++g)
      if (out[j][g].tested) out[j][g].p = double(1 + hits[j][g]) / double(1 + opt.permutations);
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

SentenceSet with_shuffled_tags(const SentenceSet& s, uint64_t seed) {
  SentenceSet out = s;
  std::mt19937_64 rng(seed);
  for (size_t i = out.tags.size(); i > 1; --i) std::swap(out.tags[i - 1], out.tags[rng() % i]);
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
