// The steering sweep and its parts: answer extraction and matching, reasoning-word counts, ALPHA = 0
// reproducing plain generation token for token, a direction the unembedding maps to token t raising
// t's probability monotonically, resume after an interruption, and clear errors.
#include <cmath>
#include <fstream>

#include "data/lexicon.hpp"
#include "core/json_file.hpp"
#include "crosscoder/crosscoder.hpp"
#include "data/answer.hpp"
#include "interventions/steer_sweep.hpp"
#include "interventions/steering.hpp"
#include "model/generate.hpp"
#include "model/linear.hpp"
#include "model/sampling.hpp"
#include "pair_fixture.hpp"
#include "test_util.hpp"
#include "tokenizer/chat_template.hpp"

namespace cc {
namespace {

TEST(Answer, ExtractsTheLastBoxedElseTheLastNumber) {
  EXPECT_EQ(extract_answer("so \\boxed{3} no wait \\boxed{\\frac{1}{2}} done").value(), "\\frac{1}{2}");
  EXPECT_EQ(extract_answer("<think>maybe \\boxed{7}</think> The answer is 1,234.").value(), "1,234");
  EXPECT_EQ(extract_answer("<think>12</think>\\boxed{12}").value(), "12");
  EXPECT_EQ(extract_answer("it is -3.5 or 4").value(), "4");
  EXPECT_FALSE(extract_answer("no digits here").has_value());
  EXPECT_EQ(reference_answer("She makes 9 * 2 = $<<9*2=18>>18.\n#### 18"), "18");
  EXPECT_EQ(reference_answer("\\frac{1}{2}"), "\\frac{1}{2}");
}

TEST(Answer, MatchesNumbersByValueAndTextAfterNormalising) {
  EXPECT_TRUE(answers_match("1,234", "1234"));
  EXPECT_TRUE(answers_match("$18.00", "18"));
  EXPECT_TRUE(answers_match("\\dfrac{1}{2}", "0.5"));
  EXPECT_TRUE(answers_match("1/4", "0.25"));
  EXPECT_TRUE(answers_match("\\left( 3, \\frac{\\pi}{2} \\right)", "(3,\\frac{\\pi}{2})"));
  EXPECT_TRUE(answers_match("\\text{Evelyn}", "Evelyn"));
  EXPECT_FALSE(answers_match("17", "18"));
  EXPECT_FALSE(answers_match("x+1", "x-1"));
}

TEST(Lexicon, CountsWholeWordsAndTheLongestPhraseOnce) {
  test::TempDir dir;
  std::ofstream(dir / "lex.toml") << "[reflect]\nphrases = [\"wait\", \"let me double-check\"]\n"
                                  << "[verify]\nphrases = [\"double-check\", \"check\"]\n";
  const Lexicon lx = load_lexicon(dir / "lex.toml");
  const auto n = lx.count("Wait, WAIT. It awaited... Let me double-check; check it, recheck, double-check.");
  EXPECT_EQ(n[size_t(lx.find("reflect"))], 3);  // wait, WAIT, let me double-check (not "awaited")
  EXPECT_EQ(n[size_t(lx.find("verify"))], 2);   // check, double-check (not "recheck")
  EXPECT_EQ(lx.find("nope"), -1);
}

struct SweepFixture {
  test::PairFixture pair{32, 4};
  std::string ckpt = pair.dir / "ckpt", prompts = pair.dir / "prompts.txt";
  SweepFixture() {
    CrosscoderParams p;
    crosscoder_init(p, 32, 8, 1.0, 5);
    CrosscoderConfig c;
    c.d_in = 32;
    c.dict_size = 8;
    c.hook = "blocks.2.hook_resid_pre";
    c.norm_factors = {0.5, 0.25};
    save_crosscoder(ckpt, p, c);
    std::ofstream(prompts) << "What is 5-1?\n\nName a river.\n";
  }
  SteerSweepOptions options(const std::string& out) const {
    SteerSweepOptions o;
    o.crosscoder = ckpt;
    o.model = pair.b;
    o.out = out;
    o.feature = "3";
    o.alphas = {0, 40};
    o.prompts = prompts;
    o.lexicon = std::string(SOURCE_DIR) + "/configs/reasoning_lexicon.toml";
    o.samples = 1;
    o.max_new_tokens = 10;
    o.mode = ComputeMode::F32;
    o.progress = false;
    return o;
  }
};

std::vector<Json> read_lines(const std::string& path) {
  std::vector<Json> v;
  std::ifstream f(path);
  std::string line;
  while (std::getline(f, line))
    if (!line.empty()) v.push_back(Json::parse(line));
  return v;
}

TEST(SteerSweep, AlphaZeroReproducesPlainGenerationAndSteeringChangesIt) {
  SweepFixture fx;
  const SteerSweepOptions o = fx.options(fx.pair.dir / "out");
  const Json r = read_json_file(run_steer_sweep(o));
  EXPECT_EQ(r["table"].size(), 4u);  // 2 alphas x {greedy, sampled}
  const auto lines = read_lines(fx.pair.dir / "out/transcripts.jsonl");
  ASSERT_EQ(lines.size(), 2u * 2u * 2u);  // alphas x prompts x (greedy + 1 sample)
  auto tok = Tokenizer::load(fx.pair.b);
  auto model = Qwen2Model::load(fx.pair.b, ComputeMode::F32);
  const std::vector<std::string> qs = {"What is 5-1?", "Name a river."};
  std::map<std::string, std::string> text_at;
  for (const Json& j : lines) {
    const size_t pi = j["prompt"];
    const int seed = j["seed"];
    text_at[std::to_string(j["alpha"].get<double>()) + "/" + std::to_string(pi) + "/" + std::to_string(seed)] = j["text"];
    if (j["alpha"].get<double>() != 0) continue;
    GenerateOptions g;
    g.max_new_tokens = 10;
    g.sampling = seed == 0 ? SamplingParams{} : SamplingParams{0.6f, 0, 0.95f, uint64_t(seed)};
    g.stop_ids = model->config().eos_token_ids;
    const auto ids = encode_prompt(*tok, qs[pi], "r1-distill");
    const GenerateResult plain = generate(*model, ids, g);
    EXPECT_EQ(j["text"].get<std::string>(), tok->decode(plain.tokens)) << "prompt " << pi << " seed " << seed;
    EXPECT_EQ(j["tokens"].get<size_t>(), plain.tokens.size());
  }
  int differ = 0;
  for (const char* k : {"/0/0", "/1/0", "/0/1", "/1/1"}) differ += text_at[std::to_string(0.0) + k] != text_at[std::to_string(40.0) + k];
  EXPECT_GT(differ, 0) << "steering with alpha 40 changed nothing";
  EXPECT_GT(r["generation_tokens_per_s"].get<double>(), 0);

  // The contrast of alpha 40 with alpha 0 in generated tokens, recomputed from the transcripts:
  // the mean over runs of (tokens at 40 − tokens at 0, same prompt and seed).
  std::map<std::string, double> tokens_at;
  for (const Json& j : lines)
    tokens_at[std::to_string(j["alpha"].get<double>()) + "/" + std::to_string(j["prompt"].get<size_t>()) + "/" +
              std::to_string(j["seed"].get<int>())] = j["tokens"].get<double>();
  double want = 0;
  for (const char* k : {"/0/0", "/1/0", "/0/1", "/1/1"}) want += (tokens_at[std::to_string(40.0) + k] - tokens_at[std::to_string(0.0) + k]) / 4;
  bool seen = false;
  for (const Json& c : r["contrasts"]) {
    if (c["metric"] != "tokens") continue;
    seen = true;
    EXPECT_EQ(c["alpha"].get<double>(), 40.0);
    EXPECT_EQ(c["runs"].get<int>(), 4);
    EXPECT_EQ(c["prompts"].get<int>(), 2);
    EXPECT_NEAR(c["mean_diff"].get<double>(), want, 1e-12);
    EXPECT_LE(c["ci95"][0].get<double>(), c["ci95"][1].get<double>());
    EXPECT_FALSE(c["significant"].get<bool>());  // two prompts cannot reach p < 0.05 (sign test minimum 0.5)
  }
  EXPECT_TRUE(seen);
}

TEST(SteerSweep, ADirectionTheUnembeddingMapsToTRaisesItsProbabilityMonotonically) {
  test::TempDir dir;
  test::SmallModel sm;
  sm.layers = 3;
  test::make_model(dir / "model", sm);
  auto model = Qwen2Model::load(dir / "model", ComputeMode::F32);
  const int64_t d = sm.d, L = sm.layers;
  const int32_t t = 17;
  // Feature 1's distilled decoder row: s_B · (g ⊙ W_U[t]), at the last hook site (before the final norm).
  std::vector<float> u(static_cast<size_t>(d));
  weight_row_f32(model->weights().lm_head, t, u.data());
  for (int64_t i = 0; i < d; ++i) u[size_t(i)] *= model->weights().final_norm[size_t(i)];
  CrosscoderParams p;
  crosscoder_init(p, d, 4, 1.0, 1);
  CrosscoderConfig c;
  c.d_in = d;
  c.dict_size = 4;
  c.hook = "blocks." + std::to_string(L - 1) + ".hook_resid_post";
  c.norm_factors = {1.0, 0.5};
  for (int64_t i = 0; i < d; ++i) p.W_dec[size_t(1 * 2 * d + d + i)] = 0.5f * u[size_t(i)];
  save_crosscoder(dir / "ckpt", p, c);
  const SteeringVector sv = load_steering_vector(dir / "ckpt", 1, 1, L, d);
  EXPECT_EQ(sv.site, L);
  const std::vector<int32_t> prompt = {5, 9, 33, 2};
  double last = -1, first = -1;
  for (double alpha : {0.0, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0}) {
    Hooks h;
    h.add(sv.site, make_add_hook(sv.v, float(alpha)));
    SeqInput in{prompt, nullptr};
    ForwardOptions fo;
    fo.hooks = &h;
    const ForwardOutput out = model->forward(std::span<const SeqInput>(&in, 1), fo);
    double mx = -1e30, z = 0;
    for (float v : out.logits) mx = std::max(mx, double(v));
    for (float v : out.logits) z += std::exp(double(v) - mx);
    const double prob = std::exp(double(out.logits[size_t(t)]) - mx) / z;
    EXPECT_GT(prob, last) << "alpha " << alpha;
    if (alpha == 16.0) {
      EXPECT_EQ(argmax(out.logits.data(), out.vocab), t);
    }
    if (first < 0) first = prob;
    last = prob;
  }
  // Where the normalised stream points along u, t is the likeliest token.
  EXPECT_GT(last, 10 * first) << first;
}

TEST(SteerSweep, DecodeBatchSizeDoesNotChangeAnyTranscript) {
  // Runs of one prompt decode together (--batch-runs); each run's text must be what it is alone.
  SweepFixture fx;
  SteerSweepOptions o = fx.options(fx.pair.dir / "batched");
  o.samples = 2;
  run_steer_sweep(o);
  o.out = fx.pair.dir / "alone";
  o.batch_runs = 1;
  run_steer_sweep(o);
  std::map<std::string, std::string> batched, alone;
  for (const Json& j : read_lines(fx.pair.dir / "batched/transcripts.jsonl")) batched[Json({j["alpha"], j["prompt"], j["seed"]}).dump()] = j["text"];
  for (const Json& j : read_lines(fx.pair.dir / "alone/transcripts.jsonl")) alone[Json({j["alpha"], j["prompt"], j["seed"]}).dump()] = j["text"];
  EXPECT_EQ(batched.size(), 2u * 2u * 3u);
  EXPECT_EQ(batched, alone);
  o.batch_runs = int(kMaxDecodeRows) + 1;
  test::expect_error([&] { run_steer_sweep(o); }, {"--batch-runs", "out of range"});
}

TEST(SteerSweep, ResumesAfterATornWriteAndRefusesToOverwrite) {
  SweepFixture fx;
  SteerSweepOptions o = fx.options(fx.pair.dir / "out");
  o.alphas = {0};
  run_steer_sweep(o);
  const std::string tp = fx.pair.dir / "out/transcripts.jsonl";
  auto first = read_lines(tp);
  ASSERT_EQ(first.size(), 4u);
  test::expect_error([&] { run_steer_sweep(o); }, {"transcripts.jsonl", "already exists", "--resume"});
  std::ofstream(tp, std::ios::app) << "{\"alpha\": 40, \"prom";  // killed mid-write
  o.alphas = {0, 40};
  o.resume = true;
  const Json r = read_json_file(run_steer_sweep(o));
  const auto all = read_lines(tp);
  ASSERT_EQ(all.size(), 8u);
  for (size_t i = 0; i < first.size(); ++i) EXPECT_EQ(all[i]["seconds"], first[i]["seconds"]);  // kept, not regenerated
  EXPECT_EQ(r["generated_tokens_this_session"].get<int64_t>(),
            all[4]["tokens"].get<int64_t>() + all[5]["tokens"].get<int64_t>() + all[6]["tokens"].get<int64_t>() +
                all[7]["tokens"].get<int64_t>());
  o.max_new_tokens = 11;
  test::expect_error([&] { run_steer_sweep(o); }, {"sweep_settings.json", "max_new_tokens", "cannot resume"});
}

TEST(SteerSweep, UnknownFeaturesAndCategoriesAreRefused) {
  SweepFixture fx;
  SteerSweepOptions o = fx.options(fx.pair.dir / "out");
  o.feature = "8";
  test::expect_error([&] { run_steer_sweep(o); }, {"ckpt/config.json", "feature 8", "out of range"});
  o.feature = "self-reflection";
  test::expect_error([&] { run_steer_sweep(o); }, {"--feature self-reflection", "--analysis"});
  std::filesystem::create_directories(fx.pair.dir / "an");
  std::ofstream(fx.pair.dir / "an/categories.json") << R"({"categories": {"deductive": [5, 2], "alternative": []}})";
  std::ofstream(fx.pair.dir / "an/features.jsonl") << R"({"feature": 5, "nrn": 0.2})" << "\n" << R"({"feature": 2, "nrn": 0.9})" << "\n";
  o.analysis = fx.pair.dir / "an";
  test::expect_error([&] { run_steer_sweep(o); }, {"categories.json", "'self-reflection'", "does not exist", "deductive"});
  o.feature = "alternative";
  test::expect_error([&] { run_steer_sweep(o); }, {"'alternative'", "has no feature"});
  std::string why;
  EXPECT_EQ(resolve_steer_feature("deductive", o.analysis, &why), 2);  // the first with NRN > 0.5
  EXPECT_NE(why.find("NRN > 0.5"), std::string::npos);
  std::ofstream(fx.pair.dir / "bad.jsonl") << R"({"question": "ok"})" << "\n" << R"({"q": 1})" << "\n";
  test::expect_error([&] { load_steer_prompts(fx.pair.dir / "bad.jsonl"); }, {"bad.jsonl:2", "question"});
}

}  // namespace
}  // namespace cc
