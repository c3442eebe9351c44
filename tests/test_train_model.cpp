// The trainable Qwen2: its forward equals the inference engine's on the saved checkpoint, and its
// gradients equal central finite differences of the loss end to end, for entries of every tensor.
#include <cmath>
#include <random>

#include "model/qwen2.hpp"
#include "organism/train_model.hpp"
#include "test_util.hpp"

namespace cc {
namespace {

Qwen2Config tiny_config() {
  test::SmallModel m;
  m.vocab = 40;
  m.d = 16;
  m.mlp = 24;
  m.layers = 2;
  m.heads = 4;
  m.kv = 2;
  m.head_dim = 4;
  return test::spec_of(m).config;
}

// Larger than the training init so the loss surface is not flat.
TrainParams random_params(const Qwen2Config& c, uint64_t seed) {
  TrainParams p = TrainParams::init(c, seed);
  std::mt19937_64 r(seed + 1);
  std::normal_distribution<float> n(0.f, 1.f);
  for (size_t i = 0; i < p.t.size(); ++i)
    for (auto& x : p.t[i]) {
      switch (p.manifest[i].role) {
        case TensorRole::Norm: x = 1.f + 0.2f * n(r); break;
        case TensorRole::Bias: x = 0.2f * n(r); break;
        default: x = n(r) / std::sqrt(float(p.manifest[i].shape[1]));
      }
    }
  return p;
}

TEST(TrainModel, ForwardEqualsTheInferenceEngineOnTheSavedCheckpoint) {
  const Qwen2Config c = tiny_config();
  const TrainParams p = random_params(c, 3);
  test::TempDir dir;
  save_train_params(dir / "m", p, DType::F32);
  auto engine = Qwen2Model::load(dir / "m", ComputeMode::F32);
  const int64_t B = 2, T = 7;
  std::vector<int32_t> tok(size_t(B * T)), tgt(size_t(B * T), -1);
  for (size_t i = 0; i < tok.size(); ++i) tok[i] = int32_t((i * 7 + 3) % 40);
  TrainModel tm;
  int64_t n = 0;
  tm.forward(p, tok.data(), tgt.data(), B, T, &n);
  EXPECT_EQ(n, 0);
  for (int64_t b = 0; b < B; ++b) {
    SeqInput in{std::span<const int32_t>(tok.data() + b * T, size_t(T)), nullptr};
    ForwardOptions fo;
    fo.logits = LogitsMode::All;
    const ForwardOutput out = engine->forward(std::span<const SeqInput>(&in, 1), fo);
    // Two float32 forwards with different batching and kernels: they agree to float32 rounding,
    // relative to the logit's size (floor 1 for logits near 0).
    for (int64_t i = 0; i < T * 40; ++i)
      EXPECT_NEAR(tm.logits()[size_t(b * T * 40 + i)], out.logits[size_t(i)], 1e-5 * std::max(1.0, std::abs(double(out.logits[size_t(i)]))))
          << "b " << b << " i " << i;
  }
}

TEST(TrainModel, GradientsEqualFiniteDifferencesOfTheLoss) {
  const Qwen2Config c = tiny_config();
  TrainParams p = random_params(c, 5);
  const int64_t B = 2, T = 6;
  std::vector<int32_t> tok(size_t(B * T)), tgt(size_t(B * T));
  std::mt19937_64 r(9);
  for (auto& t : tok) t = int32_t(r() % 40);
  for (int64_t i = 0; i < B * T; ++i) tgt[size_t(i)] = (i % T == T - 1) ? -1 : tok[size_t(i + 1)];
  TrainModel tm;
  int64_t n = 0;
  tm.forward(p, tok.data(), tgt.data(), B, T, &n);
  TrainParams g = TrainParams::zeros(c);
  tm.backward(p, g);
  auto mean_loss = [&] {
    TrainModel m2;
    int64_t k = 0;
    const double s = m2.forward(p, tok.data(), tgt.data(), B, T, &k);
    return s / double(k);
  };
  const double h = 1e-2;
  int checked = 0;
  for (size_t ti = 0; ti < p.t.size(); ++ti) {
    // The entry with the largest gradient and one at random.
    size_t big = 0;
    for (size_t j = 0; j < g.t[ti].size(); ++j)
      if (std::fabs(g.t[ti][j]) > std::fabs(g.t[ti][big])) big = j;
    for (size_t j : {big, size_t(r() % p.t[ti].size())}) {
      const float keep = p.t[ti][j];
      p.t[ti][j] = keep + float(h);
      const double up = mean_loss();
      p.t[ti][j] = keep - float(h);
      const double down = mean_loss();
      p.t[ti][j] = keep;
      const double fd = (up - down) / (2 * h), an = g.t[ti][j];
      EXPECT_NEAR(an, fd, 3e-2 * std::fabs(fd) + 2e-4) << p.manifest[ti].hf_name << "[" << j << "]";
      ++checked;
    }
  }
  EXPECT_EQ(checked, int(2 * p.t.size()));
}

TEST(TrainModel, TiedEmbeddingsAndBadTokensAreRefused) {
  Qwen2Config c = tiny_config();
  c.tie_word_embeddings = true;
  test::expect_error([&] { TrainParams::zeros(c); }, {"tie_word_embeddings"});
  c.tie_word_embeddings = false;
  const TrainParams p = TrainParams::init(c, 1);
  TrainModel tm;
  const std::vector<int32_t> tok = {1, 40}, tgt = {40, -1};
  test::expect_error([&] { tm.forward(p, tok.data(), tgt.data(), 1, 2, nullptr); }, {"token id", "outside the vocabulary"});
}

}  // namespace
}  // namespace cc
