// The organism's optimiser and training loop: AdamW equals its formula, the schedule has its
// shape, training lowers held-out loss on a learnable stream, and an interrupted run resumed from
// its checkpoint ends with bit-identical parameters.
#include <cmath>
#include <random>

#include "organism/adamw.hpp"
#include "organism/lm_trainer.hpp"
#include "test_util.hpp"

namespace cc {
namespace {

Qwen2Config tiny() {
  test::SmallModel m;
  m.vocab = 24;
  m.d = 16;
  m.mlp = 32;
  m.layers = 2;
  m.heads = 2;
  m.kv = 1;
  m.head_dim = 8;
  return test::spec_of(m).config;
}

// A stream with structure: a repeated 6-token motif with one random token in each.
TokenStream motif_stream(size_t n, uint64_t seed) {
  TokenStream s;
  std::mt19937_64 r(seed);
  const int32_t motif[] = {3, 7, 11, 0, 5, 9};
  for (size_t i = 0; i < n; ++i) {
    const int32_t t = motif[i % 6];
    s.tokens.push_back(t == 0 ? int32_t(12 + r() % 12) : t);
    s.predict.push_back(1);
  }
  return s;
}

TEST(AdamW, OneStepEqualsTheFormula) {
  TrainParams p = TrainParams::init(tiny(), 1), g = TrainParams::zeros(tiny());
  for (size_t k = 0; k < g.t.size(); ++k)
    for (size_t i = 0; i < g.t[k].size(); ++i) g.t[k][i] = float(std::sin(double(k * 31 + i)));
  const TrainParams before = p;
  AdamWState s;
  s.init(p);
  const double lr = 0.01, b1 = 0.9, b2 = 0.95, wd = 0.1, eps = 1e-8;
  adamw_step(p, g, s, lr, b1, b2, wd, eps);
  for (size_t k = 0; k < p.t.size(); ++k) {
    const bool decay = p.manifest[k].shape.size() == 2;
    for (size_t i : {size_t(0), p.t[k].size() - 1}) {
      const double gr = g.t[k][i], m = (1 - b1) * gr / (1 - b1), v = (1 - b2) * gr * gr / (1 - b2);
      const double w = double(before.t[k][i]) * (decay ? 1 - lr * wd : 1.0) - lr * m / (std::sqrt(v) + eps);
      // One float32 update vs the formula in double: float32 rounding of w (~6e-8 relative) plus of
      // the step lr·m/√v (≤ lr), a few ulps with FMA or without; 1e-5 relative to max(|w|, lr) covers
      // them and is 100x below a missing weight decay (lr·wd·w = 1e-3·w).
      EXPECT_NEAR(p.t[k][i], w, 1e-5 * std::max(std::abs(w), lr)) << p.manifest[k].hf_name;
    }
  }
}

TEST(AdamW, WarmupThenCosine) {
  EXPECT_NEAR(warmup_cosine_lr(0, 100, 10, 1.0, 0.1), 0.1, 1e-12);
  EXPECT_NEAR(warmup_cosine_lr(9, 100, 10, 1.0, 0.1), 1.0, 1e-12);
  EXPECT_NEAR(warmup_cosine_lr(10, 100, 10, 1.0, 0.1), 1.0, 1e-12);
  EXPECT_NEAR(warmup_cosine_lr(55, 100, 10, 1.0, 0.1), 0.55, 1e-12);
  EXPECT_NEAR(warmup_cosine_lr(100, 100, 10, 1.0, 0.1), 0.1, 1e-12);
}

LmTrainOptions opts(int64_t steps) {
  LmTrainOptions o;
  o.seq_len = 24;
  o.batch = 8;
  o.steps = steps;
  o.warmup = 10;
  o.lr = 1e-2;
  o.eval_every = 20;
  o.eval_windows = 16;
  o.checkpoint_every = 10;
  o.seed = 3;
  o.progress = false;
  return o;
}

TEST(LmTrainer, LowersHeldOutLossOnAStructuredStream) {
  TrainParams p = TrainParams::init(tiny(), 2);
  const TokenStream train = motif_stream(20000, 1), eval = motif_stream(3000, 2);
  const double before = evaluate_lm(p, eval, 24, 16);
  EXPECT_NEAR(before, std::log(24.0), 0.1);  // untrained: about uniform over the vocabulary
  const LmTrainResult r = train_lm(p, train, eval, opts(200));
  // Five of six tokens are determined by the motif, the sixth is uniform over 12: the floor is
  // ln(12)/6 = 0.41 nats per token.
  EXPECT_LT(r.eval_loss, 0.8) << "from " << before;
  EXPECT_EQ(r.log.size(), 10u);
  EXPECT_GT(r.tokens_per_s, 0);
}

TEST(LmTrainer, ResumedRunEqualsUninterruptedBitForBit) {
  const TokenStream train = motif_stream(5000, 1), eval = motif_stream(1000, 2);
  test::TempDir dir;
  TrainParams a = TrainParams::init(tiny(), 4);
  LmTrainOptions o = opts(40);
  train_lm(a, train, eval, o);
  TrainParams b = TrainParams::init(tiny(), 4);
  o.state_dir = dir / "state";
  o.stop_after = 25;  // "killed" after 25 steps (the checkpoint is written there)
  EXPECT_EQ(train_lm(b, train, eval, o).resumed_from, 0);
  TrainParams c = TrainParams::init(tiny(), 99);  // a fresh process: everything comes from the state file
  o.stop_after = -1;
  const LmTrainResult r = train_lm(c, train, eval, o);
  EXPECT_EQ(r.resumed_from, 25);
  for (size_t k = 0; k < a.t.size(); ++k) EXPECT_EQ(a.t[k], c.t[k]) << a.manifest[k].hf_name;
  o.lr = 2e-2;
  test::expect_error([&] { train_lm(c, train, eval, o); }, {"trainer_state.safetensors", "settings.lr", "cannot resume"});
  TokenStream tiny_stream = motif_stream(10, 1);
  test::expect_error([&] { train_lm(c, tiny_stream, eval, opts(5)); }, {"training token stream", "shorter than one training window"});
}

}  // namespace
}  // namespace cc
