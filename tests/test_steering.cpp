// Steering hooks: α · W_dec[i, B] / s_B added at the crosscoder's hook, equal to adding the same
// vector by hand; generated-only steering leaves the prompt alone; bad specs are refused.
#include "crosscoder/crosscoder.hpp"
#include "interventions/steering.hpp"
#include "model/generate.hpp"
#include "test_util.hpp"

namespace cc {
namespace {

struct SteerFixture {
  test::TempDir dir;
  std::unique_ptr<Qwen2Model> model;
  std::vector<float> u;  // W_dec[2, B, :]
  SteerFixture() {
    test::SmallModel m;
    m.d = 16;
    m.heads = 2;
    m.kv = 1;
    m.head_dim = 8;
    m.layers = 3;
    test::make_model(dir / "model", m);
    model = Qwen2Model::load(dir / "model", ComputeMode::F32);
    CrosscoderParams p;
    crosscoder_init(p, 16, 4, 1.0, 3);
    CrosscoderConfig c;
    c.d_in = 16;
    c.dict_size = 4;
    c.hook = "blocks.1.hook_resid_pre";
    c.norm_factors = {2.0, 4.0};
    save_crosscoder(dir / "ckpt", p, c);
    u.assign(p.W_dec.begin() + 2 * 32 + 16, p.W_dec.begin() + 2 * 32 + 32);
  }
  std::vector<float> logits(const Hooks* h, const std::vector<int32_t>& t) {
    SeqInput in{t, nullptr};
    ForwardOptions fo;
    fo.logits = LogitsMode::All;
    fo.hooks = h;
    return model->forward(std::span<const SeqInput>(&in, 1), fo).logits;
  }
};

TEST(Steering, EqualsAddingTheScaledDecoderRowByHand) {
  SteerFixture fx;
  Hooks steer, manual;
  add_steering_hooks(steer, {parse_steer(fx.dir / "ckpt" + ":2:3.5")}, 3, 16);
  std::vector<float> v(16);
  for (int i = 0; i < 16; ++i) v[size_t(i)] = fx.u[size_t(i)] / 4.0f;  // s_B = 4
  manual.add(1, make_add_hook(v, 3.5f));
  const std::vector<int32_t> t = {1, 5, 9, 2};
  const auto a = fx.logits(&steer, t), b = fx.logits(&manual, t), none = fx.logits(nullptr, t);
  EXPECT_EQ(a, b);
  EXPECT_NE(a, none);
}

TEST(Steering, GeneratedOnlyLeavesThePromptAlone) {
  SteerFixture fx;
  const std::vector<int32_t> prompt = {3, 4, 5};
  Hooks h;
  add_steering_hooks(h, {parse_steer(fx.dir / "ckpt" + ":2:40")}, 3, 16, int32_t(prompt.size()));
  GenerateOptions g;
  g.max_new_tokens = 6;
  const auto plain = generate(*fx.model, prompt, g);
  g.hooks = &h;
  const auto steered = generate(*fx.model, prompt, g);
  EXPECT_EQ(steered.tokens[0], plain.tokens[0]);  // chosen from the prompt's last position: unsteered
  EXPECT_NE(steered.tokens, plain.tokens);        // a large α changes what follows
}

TEST(Steering, BadSpecsAreRefused) {
  SteerFixture fx;
  test::expect_error([] { parse_steer("ckpt:x:1"); }, {"--steer", "feature"});
  test::expect_error([] { parse_steer("ckpt:1"); }, {"CKPT:FEATURE:ALPHA"});
  test::expect_error([] { parse_steer("ckpt:1:2:C"); }, {"slice"});
  Hooks h;
  test::expect_error([&] { add_steering_hooks(h, {parse_steer(fx.dir / "ckpt" + ":9:1")}, 3, 16); }, {"feature 9", "out of range"});
  test::expect_error([&] { add_steering_hooks(h, {parse_steer(fx.dir / "ckpt" + ":1:1")}, 3, 32); }, {"d_in", "hidden_size"});
  EXPECT_EQ(parse_steer("c:1:-2.5:A").model, 0);
}

}  // namespace
}  // namespace cc
