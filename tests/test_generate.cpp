// Generation and sampling: greedy = argmax of recomputation, seeds reproduce, EOS stops.
#include <cmath>

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

}  // namespace
}  // namespace cc
