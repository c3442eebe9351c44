// Generation and sampling: greedy = argmax of recomputation, seeds reproduce, EOS stops.
#include <cmath>

#include <set>

#include "core/error.hpp"
#include "model/generate.hpp"
#include "test_util.hpp"

namespace cc {
namespace {

using test::SmallModel;
using test::TempDir;

TEST(Generate, GreedyEqualsArgmaxOfFullRecomputation) {
  TempDir d;
  SmallModel m;
  test::make_model(d.str(), m);
  auto model = Qwen2Model::load(d.str(), ComputeMode::F32);
  std::vector<int32_t> prompt = {3, 14, 15, 92};
  GenerateOptions g;
  g.max_new_tokens = 12;
  std::vector<int32_t> streamed;
  auto res = generate(*model, prompt, g, [&](int32_t t) { streamed.push_back(t); });
  ASSERT_EQ(res.tokens.size(), 12u);
  EXPECT_EQ(streamed, res.tokens);
  std::vector<int32_t> seq = prompt;
  for (int32_t t : res.tokens) {
    SeqInput in{seq, nullptr};
    auto out = model->forward(std::span<const SeqInput>(&in, 1));
    EXPECT_EQ(argmax(out.logits.data(), out.vocab), t);
    seq.push_back(t);
  }
}

TEST(Generate, SeededSamplingReproducesAndSeedsDiffer) {
  TempDir d;
  SmallModel m;
  test::make_model(d.str(), m);
  auto model = Qwen2Model::load(d.str(), ComputeMode::BF16);
  std::vector<int32_t> prompt = {1, 2, 3};
  GenerateOptions g;
  g.max_new_tokens = 20;
  g.sampling = {1.0f, 0, 1.f, 42};
  auto a = generate(*model, prompt, g);
  auto b = generate(*model, prompt, g);
  EXPECT_EQ(a.tokens, b.tokens);
  g.sampling.seed = 43;
  auto c = generate(*model, prompt, g);
  EXPECT_NE(a.tokens, c.tokens);
  g.sampling = {0.7f, 1, 1.f, 7};  // top-k 1 is greedy whatever the temperature
  auto k1 = generate(*model, prompt, g);
  GenerateOptions greedy;
  greedy.max_new_tokens = 20;
  EXPECT_EQ(k1.tokens, generate(*model, prompt, greedy).tokens);
}

TEST(Generate, StopsOnEos) {
  TempDir d;
  SmallModel m;
  test::make_model(d.str(), m);
  auto model = Qwen2Model::load(d.str(), ComputeMode::F32);
  std::vector<int32_t> prompt = {5, 6};
  GenerateOptions g;
  g.max_new_tokens = 10;
  auto free_run = generate(*model, prompt, g);
  g.stop_ids = {free_run.tokens[3]};
  auto stopped = generate(*model, prompt, g);
  EXPECT_TRUE(stopped.stopped_on_eos);
  // Stops at the first occurrence of the stop id, which it emits.
  size_t first = size_t(std::find(free_run.tokens.begin(), free_run.tokens.end(), free_run.tokens[3]) - free_run.tokens.begin());
  EXPECT_EQ(stopped.tokens.size(), first + 1);
}

TEST(Sampler, FrequenciesFollowSoftmaxWithTopP) {
  // logits for 4 tokens; T = 1 → p = softmax; top_p = 0.8 keeps the smallest prefix with mass >= 0.8.
  const float logits[4] = {2.0f, 1.0f, 0.5f, -1.0f};
  double p[4], z = 0;
  for (int i = 0; i < 4; ++i) z += (p[i] = std::exp(double(logits[i])));
  for (double& x : p) x /= z;  // ≈ .61 .22 .14 .03 → top-p .8 keeps {0,1}
  Sampler s({1.0f, 0, 0.8f, 123});
  int counts[4] = {0, 0, 0, 0};
  const int N = 40000;
  for (int i = 0; i < N; ++i) counts[s.sample(logits, 4)]++;
  EXPECT_EQ(counts[2] + counts[3], 0);
  const double want0 = p[0] / (p[0] + p[1]);
  EXPECT_NEAR(double(counts[0]) / N, want0, 0.01);  // binomial sd ≈ 0.002
}

TEST(Sampler, RejectsBadParametersAndNaN) {
  test::expect_error([] { Sampler s({-1.f, 0, 1.f, 0}); }, {"temperature"});
  test::expect_error([] { Sampler s({1.f, 0, 0.f, 0}); }, {"top_p"});
  const float bad[3] = {0.f, NAN, 1.f};
  Sampler s({1.f, 0, 1.f, 0});
  test::expect_error([&] { s.sample(bad, 3); }, {"NaN"});
}

// A batch of runs decoded together returns, run by run, exactly what each run returns alone: greedy
// and sampled, with and without steering hooks (one from the prompt on, one on generated positions
// only), prompts of different lengths (one long enough for the prefill GEMM), runs that stop on a
// stop id at different steps while the rest go on; in every compute mode. d = 48 leaves a tail
// after the kernels' 32-wide chunks.
TEST(GenerateBatch, EqualsEachRunGeneratedAlone) {
  TempDir d;
  SmallModel m;
  m.d = 48;
  m.mlp = 80;
  m.head_dim = 12;
  m.dtype = DType::BF16;
  test::make_model(d.str(), m);
  std::vector<float> v(size_t(m.d));
  for (size_t i = 0; i < v.size(); ++i) v[i] = std::sin(float(i));
  Hooks from_start, generated_only;
  from_start.add(1, make_add_hook(v, 2.f, 0));
  generated_only.add(2, make_add_hook(v, -3.f, 5));
  std::vector<std::vector<int32_t>> prompts = {{1, 2, 3}, {7}, {4, 5, 6, 7, 8}, {9, 9}, {}, {3, 1, 4, 1, 5}};
  for (int i = 0; i < 20; ++i) prompts[4].push_back(int32_t((i * 7) % 90 + 1));
  for (ComputeMode mode : {ComputeMode::F32, ComputeMode::BF16, ComputeMode::BF16Act}) {
    auto model = Qwen2Model::load(d.str(), mode);
    std::vector<GenerateRequest> runs;
    for (size_t i = 0; i < prompts.size(); ++i) {
      GenerateRequest r;
      r.prompt = prompts[i];
      r.sampling = i % 2 ? SamplingParams{0.9f, 0, 0.95f, uint64_t(i)} : SamplingParams{};
      r.hooks = i == 1 || i == 4 ? &from_start : i == 5 ? &generated_only : nullptr;
      runs.push_back(r);
    }
    const int64_t max_new = 24;
    // A stop id some runs emit along the way: the 4th token run 0 makes alone.
    GenerateOptions probe;
    probe.max_new_tokens = max_new;
    const int32_t stop = generate(*model, prompts[0], probe).tokens[3];
    const std::vector<int64_t> stops = {stop};
    const auto batch = generate_batch(*model, runs, max_new, stops);
    ASSERT_EQ(batch.size(), runs.size());
    std::set<size_t> lengths;
    for (size_t i = 0; i < runs.size(); ++i) {
      GenerateOptions g;
      g.max_new_tokens = max_new;
      g.sampling = runs[i].sampling;
      g.hooks = runs[i].hooks;
      g.stop_ids = stops;
      const auto alone = generate(*model, runs[i].prompt, g);
      EXPECT_EQ(batch[i].tokens, alone.tokens) << compute_mode_name(mode) << " run " << i;
      EXPECT_EQ(batch[i].stopped_on_eos, alone.stopped_on_eos) << compute_mode_name(mode) << " run " << i;
      lengths.insert(alone.tokens.size());
    }
    EXPECT_GE(lengths.size(), 2u) << "every run stopped at the same step: the test does not exercise rows leaving";
    // The hooks matter: without them the steered runs generate something else.
    auto plain = runs;
    for (auto& r : plain) r.hooks = nullptr;
    const auto unsteered = generate_batch(*model, plain, max_new, stops);
    EXPECT_NE(unsteered[4].tokens, batch[4].tokens) << compute_mode_name(mode);
  }
}

TEST(GenerateBatch, RefusesTooManyRunsAndEmptyPrompts) {
  TempDir d;
  SmallModel m;
  test::make_model(d.str(), m);
  auto model = Qwen2Model::load(d.str(), ComputeMode::F32);
  std::vector<int32_t> p = {1, 2};
  std::vector<GenerateRequest> many(size_t(kMaxDecodeRows + 1), GenerateRequest{p, {}, nullptr});
  EXPECT_THROW(generate_batch(*model, many, 4, {}), Error);
  std::vector<GenerateRequest> empty = {GenerateRequest{{}, {}, nullptr}};
  EXPECT_THROW(generate_batch(*model, empty, 4, {}), Error);
}

}  // namespace
}  // namespace cc
