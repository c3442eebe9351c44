// Sentence-tag enrichment and category agreement (issue 23): a planted one-tag feature is found, a
// feature that tracks tokens or traces is not, the p-values of unrelated features are uniform, the
// FDR adjustment equals its definition computed by brute force, and κ equals a hand computation.
#include <cmath>
#include <fstream>
#include <random>

#include "core/stats.hpp"
#include "labels/agreement.hpp"
#include "labels/enrichment.hpp"
#include "labels/sentence_traces.hpp"
#include "test_util.hpp"
#include "tokenizer/tokenizer.hpp"

namespace cc {
namespace {

TEST(Stats, BenjaminiHochbergEqualsItsDefinition) {
  std::mt19937_64 rng(5);
  std::uniform_real_distribution<double> u(0, 1);
  std::vector<double> p(60);
  for (auto& x : p) x = u(rng) * u(rng);
  p[7] = p[8];  // a tie
  const auto q = benjamini_hochberg(p);
  const double n = double(p.size());
  for (size_t i = 0; i < p.size(); ++i) {
    double want = 1;  // min over every p_j >= p_i of p_j · n / rank(p_j), rank = #{k: p_k <= p_j}
    for (size_t j = 0; j < p.size(); ++j) {
      if (p[j] < p[i]) continue;
      double rank = 0;
      for (double pk : p) rank += pk <= p[j];
      want = std::min(want, p[j] * n / rank);
    }
    EXPECT_NEAR(q[i], want, 1e-12) << i;
  }
  const auto small = benjamini_hochberg({0.01, 0.04, 0.03, 0.005});
  EXPECT_NEAR(small[0], 0.02, 1e-12);
  EXPECT_NEAR(small[1], 0.04, 1e-12);
  EXPECT_NEAR(small[2], 0.04, 1e-12);
  EXPECT_NEAR(small[3], 0.02, 1e-12);
}

// 30 traces of 40 sentences, tags (bit 0/1/2) drawn at random, 5-30 tokens each; in traces 0-2
// tag 0 is common (70%), so a feature of those traces is confounded with tag 0 across traces.
SentenceSet synthetic_sentences(uint64_t seed) {
  SentenceSet s;
  s.tag_names = {"uncertainty_management", "self_checking", "active_computation"};
  std::mt19937_64 rng(seed);
  for (int t = 0; t < 30; ++t)
    for (int k = 0; k < 40; ++k) {
      const bool skewed = t < 3 && rng() % 10 < 7;
      s.tags.push_back(uint8_t(1u << (skewed ? 0 : rng() % 3)));
      s.trace.push_back(t);
      s.tokens.push_back(int32_t(5 + rng() % 26));
    }
  return s;
}

FeatureMass feature_from(const SentenceSet& s, const std::function<double(size_t)>& mass_of) {
  FeatureMass f;
  for (size_t i = 0; i < s.size(); ++i)
    if (const double m = mass_of(i); m > 0) {
      f.sentence.push_back(int32_t(i));
      f.mass.push_back(float(m));
    }
  return f;
}

TEST(Enrichment, FindsAPlantedTagAndNothingInATokenTrackingFeature) {
  const SentenceSet s = synthetic_sentences(1);
  std::mt19937_64 rng(2);
  std::uniform_real_distribution<double> u(0.5, 1.5);
  // planted: fires only in self_checking sentences; tokens: mass proportional to length everywhere;
  // trace: fires in every sentence of traces 0-2 only (a trace effect, not a tag effect).
  std::vector<FeatureMass> f = {feature_from(s, [&](size_t i) { return (s.tags[i] & 2) ? u(rng) : 0.0; }),
                                feature_from(s, [&](size_t i) { return s.tokens[i] * u(rng); }),
                                feature_from(s, [&](size_t i) { return s.trace[i] < 3 ? u(rng) * s.tokens[i] : 0.0; })};
  EnrichmentOptions opt;
  opt.permutations = 2000;
  const auto r = tag_enrichment(s, f, opt);
  EXPECT_LT(r[0][1].p, 0.01);
  EXPECT_LT(r[0][1].q, 0.05);
  EXPECT_GT(r[0][1].ratio, 2.0);
  EXPECT_EQ(enriched_category(r[0], s.tag_names, 0.05, 1.5), "verification");
  for (int j = 1; j <= 2; ++j)
    for (int g = 0; g < 3; ++g) EXPECT_GT(r[size_t(j)][size_t(g)].q, 0.05) << "feature " << j << " tag " << g;
  EXPECT_EQ(enriched_category(r[1], s.tag_names, 0.05, 1.5), "");
  // The planted feature's tag is refused when the effect is asked to be larger than it is.
  EXPECT_EQ(enriched_category(r[0], s.tag_names, 0.05, r[0][1].ratio * 1.01), "");
}

TEST(Enrichment, UnrelatedFeaturesGiveUniformPValues) {
  const SentenceSet s = synthetic_sentences(3);
  std::mt19937_64 rng(4);
  std::uniform_real_distribution<double> u(0, 1);
  std::vector<FeatureMass> f;
  for (int j = 0; j < 150; ++j) f.push_back(feature_from(s, [&](size_t) { return u(rng) < 0.2 ? u(rng) : 0.0; }));
  EnrichmentOptions opt;
  opt.permutations = 400;
  const auto r = tag_enrichment(s, f, opt);
  int below = 0, n = 0;
  for (const auto& tags : r)
    for (const auto& t : tags) {
      below += t.p < 0.05;
      n += t.tested;
    }
  EXPECT_EQ(n, 450);
  EXPECT_LT(below, 45);  // expected 22.5 (5%); Binomial(450, 0.05) exceeds 44 with probability < 1e-4
  EXPECT_GT(below, 5);   // and the test is not trivially conservative
}

TEST(Agreement, KappaEqualsAHandComputation) {
  const CategoryMap a = {{1, "x"}, {2, "x"}, {3, ""}, {4, "y"}};
  const CategoryMap b = {{1, "x"}, {2, ""}, {3, ""}, {4, "y"}, {5, "x"}};
  const Agreement g = category_agreement(a, b);
  EXPECT_EQ(g.assessed, 4);
  EXPECT_DOUBLE_EQ(g.observed, 0.75);
  EXPECT_NEAR(g.kappa, (0.75 - 0.3125) / (1 - 0.3125), 1e-12);  // chance: .5·.25 + .25·.5 + .25·.25
  EXPECT_EQ(g.both_labelled, 2);
  EXPECT_DOUBLE_EQ(g.labelled_match, 1.0);
}

TEST(SentenceTraces, EveryTokenBelongsToItsSentence) {
  test::TempDir d;
  const std::string path = d.str() + "/s.jsonl";
  std::ofstream(path) << R"({"trace_id": "t1", "chunk_idx": 1, "sentence": "Wait, is that right?", "function_tags": ["self_checking"]})" "\n"
                      << R"({"trace_id": "t1", "chunk_idx": 0, "sentence": "First we add the numbers.", "function_tags": ["plan_generation"]})" "\n"
                      << R"({"trace_id": "t2", "chunk_idx": 0, "sentence": "The sum is 7.", "function_tags": []})" "\n";
  const auto tok = Tokenizer::load(std::string(SOURCE_DIR) + "/organism/base");
  const TaggedTraces t = load_tagged_traces(path, *tok, 6, 4096, 0);
  ASSERT_EQ(t.sentences.size(), 3u);
  EXPECT_EQ(t.sentences.tag_names, (std::vector<std::string>{"plan_generation", "self_checking"}));
  EXPECT_EQ(t.sentences.tags, (std::vector<uint8_t>{1, 2, 0}));  // chunk 0 first within t1
  std::vector<int32_t> counted(3, 0);
  for (size_t w = 0; w < t.windows.size(); ++w) {
    EXPECT_LE(t.windows[w].size(), 6u);
    EXPECT_EQ(t.windows[w][0], 4096);
    EXPECT_EQ(t.sentence[w][0], -1);
    for (size_t k = 1; k < t.windows[w].size(); ++k) ++counted[size_t(t.sentence[w][k])];
  }
  for (size_t i = 0; i < 3; ++i) EXPECT_EQ(counted[i], t.sentences.tokens[i]);
  EXPECT_EQ(t.sentences.tokens[1], int32_t(tok->encode(" Wait, is that right?", false).size()));
  std::ofstream(path, std::ios::app) << R"({"trace_id": "t3", "sentence": "no index"})" "\n";
  test::expect_error([&] { load_tagged_traces(path, *tok, 6, 4096, 0); }, {"s.jsonl:4", "chunk_idx"});
}

}  // namespace
}  // namespace cc
