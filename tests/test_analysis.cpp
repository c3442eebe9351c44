// Analysis on hand-set crosscoders: known norms give known NRN classes, a feature that fires only
// on "Wait" is labelled self-reflection, Latent Scaling recovers a planted scale, and mismatched
// inputs are refused.
#include <fstream>

#include "analysis/feature_analysis.hpp"
#include "data/lexicon.hpp"
#include "core/atomic_file.hpp"
#include "core/safetensors.hpp"
#include "crosscoder/crosscoder.hpp"
#include "harvest/store_writer.hpp"
#include "test_util.hpp"
#include "tokenizer/tokenizer.hpp"
#include "tokenizer_fixtures.hpp"

namespace cc {
namespace {

// d = 8, F = 3. Feature 0: reads and writes model B's e0 only (NRN 1). Feature 1: decoder norms
// 3 (A) and 1 (B), never fires (NRN 0.25). Feature 2: reads e1 of both models, writes it to both
// with equal norms (NRN 0.5) — and the data put e1 = 1.5 only on " Wait" tokens.
struct Fixture {
  test::TempDir dir;
  int32_t wait_id = 0;
  Fixture() {
    auto tok = Tokenizer::load(test::qwen_tokenizer_json());
    const std::string text =
        "Okay, so 2+2 is 4. Wait, let me double-check that. Wait, yes. So the answer is 4. Hmm, but maybe not. Wait, it is 4.";
    const auto ids = tok->encode(text, false);
    wait_id = tok->encode(" Wait", false).at(0);  // mid-sentence "Wait" is one token with its space
    ActivationBatch b;
    b.d = 8;
    std::mt19937 r(1);
    std::uniform_real_distribution<float> u(0.5f, 2.f);
    for (int rep = 0; rep < 40; ++rep)
      for (size_t k = 0; k < ids.size(); ++k) {
        std::vector<float> x(16, 0.f);
        const float c = u(r);
        x[8 + 0] = c;         // model B, e0
        x[0 + 0] = 0.5f * c;  // model A carries half of it: Latent Scaling should find ν_ε = 0.5
        if (ids[k] == wait_id) x[1] = x[8 + 1] = 1.5f;
        b.acts.insert(b.acts.end(), x.begin(), x.end());
        b.tokens.push_back(ids[k]);
        b.doc.push_back(rep);
        b.pos.push_back(int32_t(k));
        b.corpus.push_back(0);
        ++b.rows;
      }
    write_store(dir / "store", b, {1.0, 1.0});
    CrosscoderParams p;
    p.resize(8, 3);
    p.W_encT[size_t(0 * 16 + 8)] = 1.f;
    p.W_dec[size_t(0 * 16 + 8)] = 1.f;
    p.W_dec[size_t(1 * 16 + 2)] = 3.f;
    p.W_dec[size_t(1 * 16 + 8 + 2)] = 1.f;
    p.b_enc[1] = -1.f;
    p.W_encT[size_t(2 * 16 + 1)] = p.W_encT[size_t(2 * 16 + 8 + 1)] = 0.5f;  // f = 1.5 on "Wait"
    p.W_dec[size_t(2 * 16 + 1)] = p.W_dec[size_t(2 * 16 + 8 + 1)] = 1.f;
    CrosscoderConfig c;
    c.d_in = 8;
    c.dict_size = 3;
    c.hook = "synthetic";
    save_crosscoder(dir / "ckpt", p, c);
  }
  AnalyzeOptions options() {
    AnalyzeOptions o;
    o.crosscoder = dir / "ckpt";
    o.acts = dir / "store";
    o.out = dir / "analysis";
    o.tokenizer = test::qwen_tokenizer_json();
    o.lexicon = std::string(SOURCE_DIR) + "/configs/reasoning_lexicon.toml";
    o.top_n = 10;
    o.context = 3;
    o.progress = false;
    return o;
  }
};

std::vector<Json> features(const std::string& out) {
  std::vector<Json> v;
  std::ifstream in(out + "/features.jsonl");
  std::string line;
  while (std::getline(in, line)) v.push_back(Json::parse(line));
  return v;
}

TEST(Analysis, ClassesCategoriesAndLatentScaling) {
  Fixture fx;
  AnalyzeOptions o = fx.options();
  analyze_crosscoder(o);
  auto f = features(o.out);
  ASSERT_EQ(f.size(), 3u);
  EXPECT_NEAR(f[0]["nrn"].get<double>(), 1.0, 1e-6);
  EXPECT_EQ(f[0]["class"], "distilled-only");
  EXPECT_NEAR(f[1]["nrn"].get<double>(), 0.25, 1e-6);
  EXPECT_EQ(f[1]["class"], "base-only");
  EXPECT_TRUE(f[1]["dead"].get<bool>());
  EXPECT_NEAR(f[2]["nrn"].get<double>(), 0.5, 1e-6);
  EXPECT_EQ(f[2]["class"], "shared");
  EXPECT_NEAR(f[2]["cos_ab"].get<double>(), 1.0, 1e-6);
  // Feature 2 fires exactly on "Wait": its top token and its category.
  ASSERT_FALSE(f[2]["top_tokens"].empty()) << f[2].dump();
  EXPECT_EQ(f[2]["top_tokens"][0]["token"], fx.wait_id);
  EXPECT_DOUBLE_EQ(f[2]["top_tokens"][0]["share"].get<double>(), 1.0);
  EXPECT_EQ(f[2]["category"], "self-reflection");
  EXPECT_NE(f[0]["category"], "self-reflection");
  // Its activation histogram: every firing (all 1.5) in the log10 bin holding 0.176.
  ASSERT_EQ(f[2]["act_hist"].size(), 24u);
  int64_t in_bins = 0;
  for (const Json& n : f[2]["act_hist"]) in_bins += n.get<int64_t>();
  EXPECT_EQ(f[2]["act_hist"][12].get<int64_t>(), in_bins);
  const Json summary = read_json_file(o.out + "/summary.json");
  EXPECT_NEAR(double(in_bins), f[2]["freq"].get<double>() * summary["tokens"].get<double>(), 0.5);
  EXPECT_EQ(in_bins, 40 * 3);  // three "Wait" per text, forty texts
  // Latent Scaling on feature 0: A carries half of B's direction, B is reconstructed exactly.
  EXPECT_NEAR(f[0]["ls_beta_eps"][0].get<double>(), 0.5, 1e-5);
  EXPECT_NEAR(f[0]["ls_beta_eps"][1].get<double>(), 1.0, 1e-5);
  EXPECT_NEAR(f[0]["ls_nu_eps"].get<double>(), 0.5, 1e-5);
  EXPECT_NEAR(f[0]["ls_nu_r"].get<double>(), 0.0, 1e-6);
  // Examples: windows with the centre token and its activation.
  std::ifstream ex(o.out + "/examples.jsonl");
  std::string line;
  int wait_examples = 0;
  while (std::getline(ex, line)) {
    Json e = Json::parse(line);
    if (e["feature"] != 2 || e["kind"] != "top") continue;
    const int c = e["center"];
    EXPECT_EQ(e["tokens"][size_t(c)], fx.wait_id);
    EXPECT_NEAR(e["acts"][size_t(c)].get<double>(), 1.5, 1e-5);  // 0.5 · (1.5 + 1.5)
    ++wait_examples;
  }
  EXPECT_EQ(wait_examples, 10);
  Json cats = read_json_file(o.out + "/categories.json");
  EXPECT_EQ(cats["categories"]["self-reflection"], Json::array({2}));
  Json s = read_json_file(o.out + "/summary.json");
  EXPECT_EQ(s["dead"], 1);
  EXPECT_EQ(s["class_counts"]["shared"], 1);
  EXPECT_GT(s["explained_variance"][1].get<double>(), 0.999);  // B is reconstructed exactly
  EXPECT_LT(s["explained_variance"][0].get<double>(), 0.9);    // A's half of e0 is not
}

// One rule for a feature whose two decoders are zero (decoder_nrn: no NRN): analysis writes a null
// NRN and the class "zero-norm", and keeps it out of the histogram; before, it was called shared (0.5).
TEST(Analysis, ZeroNormFeatureHasNoNrnAndNoClass) {
  EXPECT_FALSE(decoder_nrn(0.0, 0.0).has_value());
  EXPECT_DOUBLE_EQ(*decoder_nrn(3.0, 1.0), 0.25);
  Fixture fx;
  AnalyzeOptions o = fx.options();
  CrosscoderParams p;
  CrosscoderConfig c;
  load_crosscoder(o.crosscoder, p, c);
  for (int64_t i = 0; i < 16; ++i) p.W_dec[size_t(1 * 16 + i)] = 0.f;  // feature 1: both decoders zero
  save_crosscoder(o.crosscoder, p, c);
  analyze_crosscoder(o);
  auto f = features(o.out);
  ASSERT_EQ(f.size(), 3u);
  EXPECT_TRUE(f[1]["nrn"].is_null()) << f[1].dump();
  EXPECT_EQ(f[1]["class"], "zero-norm");
  EXPECT_NEAR(f[0]["nrn"].get<double>(), 1.0, 1e-6);  // the others unchanged
  const std::string csv = read_file(o.out + "/features.csv");
  EXPECT_NE(csv.find("\n1,0,0,,zero-norm,"), std::string::npos) << csv.substr(0, 400);
}

// "What changed": feature 2's distilled decoder turned from e1 to e3 (cos_ab 0, both norms 1), so it
// is "changed" whatever its NRN (0.5) says; its change mass is freq · mean_act · ||d_B − d_A|| =
// (3 "Wait" × 40 texts × 1.5) / N · sqrt(2). Feature 0 (d_A = 0) changes by ||d_B|| = 1 on every row.
TEST(Analysis, ChangedClassAndChangeMass) {
  Fixture fx;
  AnalyzeOptions o = fx.options();
  CrosscoderParams p;
  CrosscoderConfig c;
  load_crosscoder(o.crosscoder, p, c);
  p.W_dec[size_t(2 * 16 + 8 + 1)] = 0.f;
  p.W_dec[size_t(2 * 16 + 8 + 3)] = 1.f;
  save_crosscoder(o.crosscoder, p, c);
  analyze_crosscoder(o);
  auto f = features(o.out);
  const Json s = read_json_file(o.out + "/summary.json");
  const double N = s["tokens"].get<double>();
  ASSERT_EQ(f.size(), 3u);
  EXPECT_NEAR(f[2]["nrn"].get<double>(), 0.5, 1e-6);
  EXPECT_NEAR(f[2]["cos_ab"].get<double>(), 0.0, 1e-9);
  EXPECT_EQ(f[2]["class"], "changed");
  EXPECT_NEAR(f[2]["delta_norm"].get<double>(), std::sqrt(2.0), 1e-6);
  EXPECT_NEAR(f[2]["change_mass"].get<double>(), 3 * 40 * 1.5 / N * std::sqrt(2.0), 1e-6);
  EXPECT_EQ(f[0]["class"], "distilled-only");  // one decoder only: a one-sided feature, not a turned one
  EXPECT_NEAR(f[0]["change_mass"].get<double>(), f[0]["freq"].get<double>() * f[0]["mean_act"].get<double>(), 1e-9);
  EXPECT_GT(f[0]["change_mass"].get<double>(), f[2]["change_mass"].get<double>());
  EXPECT_EQ(f[0]["change_rank"], 1);
  EXPECT_EQ(f[2]["change_rank"], 2);
  EXPECT_TRUE(f[1]["change_rank"].is_null());  // dead: not ranked
  ASSERT_EQ(s["largest_changes"].size(), 2u);
  EXPECT_EQ(s["largest_changes"][1]["feature"], 2);
  EXPECT_EQ(s["class_counts"]["changed"], 1);
  // The rule's two thresholds: a turn above changed_below is not a change of class ...
  o.changed_below = -0.5;
  analyze_crosscoder(o);
  EXPECT_EQ(features(o.out)[2]["class"], "shared");
  // ... nor is a turn where one decoder carries less than changed_min_ratio of the other's norm.
  o.changed_below = 0.7;
  p.W_dec[size_t(2 * 16 + 8 + 3)] = 0.2f;
  save_crosscoder(o.crosscoder, p, c);
  analyze_crosscoder(o);
  EXPECT_EQ(features(o.out)[2]["class"], "base-only");
}

TEST(Analysis, MismatchesAndBadFilesAreRefused) {
  Fixture fx;
  AnalyzeOptions o = fx.options();
  CrosscoderParams p;
  CrosscoderConfig c;
  load_crosscoder(o.crosscoder, p, c);
  c.hook = "blocks.7.hook_resid_pre";
  save_crosscoder(fx.dir / "other", p, c);
  o.crosscoder = fx.dir / "other";
  test::expect_error([&] { analyze_crosscoder(o); }, {"hook", "differs"});
  p.resize(4, 3);
  c.d_in = 4;
  c.hook = "synthetic";
  save_crosscoder(fx.dir / "narrow", p, c);
  o.crosscoder = fx.dir / "narrow";
  test::expect_error([&] { analyze_crosscoder(o); }, {"d_model", "8", "4"});
  Json cfg = read_json_file(fx.dir / "narrow/config.json");
  cfg["dict_size"] = 5;  // config and weights disagree on F
  write_file_atomic(fx.dir / "narrow/config.json", cfg.dump());
  test::expect_error([&] { analyze_crosscoder(o); }, {"crosscoder.safetensors", "W_enc", "wrong shape", "[2,4,5]", "[2,4,3]"});
  write_file_atomic(fx.dir / "narrow/config.json", "{\"d_in\": 4");
  test::expect_error([&] { analyze_crosscoder(o); }, {"config.json", "malformed JSON"});
  write_file_atomic(fx.dir / "lex.toml", "[self-reflection]\nphrases = [\"wait\"\n");
  test::expect_error([&] { load_lexicon(fx.dir / "lex.toml"); }, {"lex.toml", "malformed TOML"});
  write_file_atomic(fx.dir / "lex2.toml", "[deductive]\nwords = [\"so\"]\n");
  test::expect_error([&] { load_lexicon(fx.dir / "lex2.toml"); }, {"deductive.phrases", "missing"});
}

TEST(Analysis, LogitLensPromptsAndLabels) {
  Fixture fx;
  test::SmallModel m;
  m.vocab = 64;
  m.d = 8;
  m.heads = 2;
  m.kv = 1;
  m.head_dim = 4;
  test::make_model(fx.dir / "model", m);
  AnalyzeOptions o = fx.options();
  o.distilled_model = fx.dir / "model";
  o.logit_tokens = 3;
  o.export_prompts = fx.dir / "prompts.jsonl";
  write_file_atomic(fx.dir / "labels.jsonl", "{\"feature\": 2, \"label\": \"self-correction\"}\n\n");
  o.labels = fx.dir / "labels.jsonl";
  analyze_crosscoder(o);
  auto f = features(o.out);
  // Independent: feature 0 writes e0 into B; the top token maximises W_U[t,0] · g[0] (the norm gain).
  SafetensorsFile st(fx.dir / "model/model.safetensors");
  std::vector<float> wu(64 * 8), g(8);
  convert_to_f32(st.find("lm_head.weight")->dtype, st.find("lm_head.weight")->data, wu.data(), wu.size());
  convert_to_f32(st.find("model.norm.weight")->dtype, st.find("model.norm.weight")->data, g.data(), 8);
  int32_t best = 0;
  for (int32_t t = 1; t < 64; ++t)
    if (wu[size_t(t * 8)] * g[0] > wu[size_t(best * 8)] * g[0]) best = t;
  auto tok = Tokenizer::load(test::qwen_tokenizer_json());
  ASSERT_TRUE(f[0].contains("promotes_b"));
  EXPECT_EQ(f[0]["promotes_b"][0], tok->decode({best}));
  EXPECT_FALSE(f[0].contains("promotes_a"));
  EXPECT_EQ(f[2]["label"], "self-correction");
  std::ifstream pr(o.export_prompts);
  std::string line;
  int n = 0;
  while (std::getline(pr, line)) {
    Json j = Json::parse(line);
    if (j["feature"] == 2) {
      EXPECT_NE(j["prompt"].get<std::string>().find("<< Wait>>"), std::string::npos);
    }
    ++n;
  }
  EXPECT_EQ(n, 2);  // alive features only
  write_file_atomic(fx.dir / "labels.jsonl", "{\"feature\": 9, \"label\": \"x\"}\n");
  test::expect_error([&] { analyze_crosscoder(o); }, {"labels.jsonl:1", "out of range"});
}

TEST(Lexicon, MatchesAtWordBoundaries) {
  const Lexicon lx = load_lexicon(std::string(SOURCE_DIR) + "/configs/reasoning_lexicon.toml");
  auto cat = [&](const std::string& t) { int m = lx.match(t); return m < 0 ? std::string() : lx.categories[size_t(m)]; };
  EXPECT_EQ(cat(" Wait, let"), "self-reflection");
  EXPECT_EQ(cat("Therefore the"), "deductive");
  EXPECT_EQ(cat(" so"), "deductive");
  EXPECT_EQ(cat(" some"), "");  // "so" must end at a word boundary
  EXPECT_EQ(cat("Alternatively,"), "alternative");
  EXPECT_EQ(cat(" However"), "contrastive");
  EXPECT_EQ(cat(" Let me check"), "verification");
}

}  // namespace
}  // namespace cc
