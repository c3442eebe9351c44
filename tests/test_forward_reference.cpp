// The fast forward against the naive double-precision reference, over many configurations.
#include <cmath>

#include "model/gemm_bf16.hpp"
#include "model/qwen2.hpp"
#include "reference/naive_qwen2.hpp"
#include "test_util.hpp"

namespace cc {
namespace {

using test::SmallModel;
using test::TempDir;

struct Case {
  std::string name;
  SmallModel m;
  ComputeMode mode;
};

std::vector<int32_t> random_tokens(int64_t n, int64_t vocab, uint64_t seed) {
  std::mt19937_64 r(seed);
  std::vector<int32_t> t(static_cast<size_t>(n));
  for (auto& x : t) x = int32_t(r() % uint64_t(vocab));
  return t;
}

// Largest |a-b| relative to the largest |b| of the row set.
double rel_err(const std::vector<float>& a, const std::vector<std::vector<double>>& b) {
  double num = 0, den = 0;
  size_t k = 0;
  for (const auto& row : b)
    for (double v : row) {
      num = std::max(num, std::abs(double(a[k++]) - v));
      den = std::max(den, std::abs(v));
    }
  return num / den;
}

// A BF16 model wide enough for the GEMM paths (d 64, MLP 160, 4 heads of 16), written to dir.
SmallModel make_bf16_model(const std::string& dir) {
  SmallModel m;
  m.dtype = DType::BF16;
  m.d = 64;
  m.mlp = 160;
  m.heads = 4;
  m.head_dim = 16;
  test::make_model(dir, m);
  return m;
}

void PrintTo(const Case& c, std::ostream* os) { *os << c.name; }

class ForwardVsReference : public ::testing::TestWithParam<Case> {};

TEST_P(ForwardVsReference, LogitsAndResidualsAgree) {
  const Case& c = GetParam();
  TempDir d;
  test::make_model(d.str(), c.m);
  auto model = Qwen2Model::load(d.str(), c.mode);
  ref::Model rm = ref::load(d.str());
  const auto toks = random_tokens(37, c.m.vocab, c.m.seed + 7);
  auto want = ref::forward(rm, toks);

  Hooks hooks;
  std::vector<std::vector<float>> resid(size_t(c.m.layers + 1));
  for (int s = 0; s <= c.m.layers; ++s) hooks.add(s, make_capture_hook(&resid[size_t(s)]));
  SeqInput in{toks, nullptr};
  ForwardOptions fo;
  fo.logits = LogitsMode::All;
  fo.hooks = &hooks;
  auto out = model->forward(std::span<const SeqInput>(&in, 1), fo);
  ASSERT_EQ(out.rows, int64_t(toks.size()));
  // f32 arithmetic on O(1) activations through a few layers: ~1e-6 relative; 1e-4 leaves margin
  // while any semantic slip (RoPE halves, GQA grouping, bias, eps, causal mask) gives O(1).
  EXPECT_LT(rel_err(out.logits, want.logits), 1e-4) << c.name;
  for (int s = 0; s <= c.m.layers; ++s) EXPECT_LT(rel_err(resid[size_t(s)], want.resid[size_t(s)]), 1e-4) << c.name << " site " << s;
}

std::vector<Case> cases() {
  std::vector<Case> v;
  auto add = [&](std::string n, SmallModel m, ComputeMode mode = ComputeMode::F32) { v.push_back({std::move(n), m, mode}); };
  SmallModel m;
  add("untied_gqa2_hd8_f32", m);
  m.tied = true;
  add("tied", m);
  m = {};
  m.kv = 4;
  add("gqa_1to1", m);
  m = {};
  m.heads = 6;
  m.kv = 1;
  m.head_dim = 64;
  m.d = 48;
  add("gqa_6to1_hd64", m);
  m = {};
  m.heads = 2;
  m.kv = 1;
  m.head_dim = 128;
  m.d = 64;
  add("hd128", m);
  m = {};
  m.theta = 1e6;
  add("theta_1e6", m);
  m = {};
  m.dtype = DType::F16;
  add("f16_weights", m);
  m = {};
  m.dtype = DType::BF16;
  add("bf16_weights_f32_compute", m);
  add("bf16_weights_bf16_compute", m, ComputeMode::BF16);
  m.shards = 3;
  m.tied = true;
  add("sharded_tied_bf16", m, ComputeMode::BF16);
  m = {};
  m.layers = 4;
  m.heads = 12;
  m.kv = 2;
  m.head_dim = 16;
  m.d = 96;
  m.shards = 2;
  add("qwen_like_6to1_sharded", m);
  return v;
}

INSTANTIATE_TEST_SUITE_P(Configs, ForwardVsReference, ::testing::ValuesIn(cases()),
                         [](const auto& info) { return info.param.name; });

TEST(ForwardVsReference, LongSequenceCrossesAttentionBlocks) {
  // 300 tokens: query blocks of 256 and a key range that grows across blocks.
  TempDir d;
  SmallModel m;
  m.layers = 1;
  test::make_model(d.str(), m);
  auto model = Qwen2Model::load(d.str(), ComputeMode::F32);
  const auto toks = random_tokens(300, m.vocab, 3);
  auto want = ref::forward(ref::load(d.str()), toks);
  SeqInput in{toks, nullptr};
  ForwardOptions fo;
  fo.logits = LogitsMode::All;
  auto out = model->forward(std::span<const SeqInput>(&in, 1), fo);
  EXPECT_LT(rel_err(out.logits, want.logits), 1e-4);
}

TEST(ForwardVsReference, BF16ComputeMatchesF32OnBF16Weights) {
  // Same BF16 weights, activations in f32 either way: the two modes must agree closely.
  TempDir d;
  const SmallModel m = make_bf16_model(d.str());
  auto a = Qwen2Model::load(d.str(), ComputeMode::F32);
  auto b = Qwen2Model::load(d.str(), ComputeMode::BF16);
  for (int64_t T : {1, 3, 20}) {  // gemv path (< 8 rows) and panel-sgemm path
    const auto toks = random_tokens(T, m.vocab, uint64_t(T));
    SeqInput in{toks, nullptr};
    ForwardOptions fo;
    fo.logits = LogitsMode::All;
    auto oa = a->forward(std::span<const SeqInput>(&in, 1), fo);
    auto ob = b->forward(std::span<const SeqInput>(&in, 1), fo);
    double num = 0, den = 0;
    for (size_t i = 0; i < oa.logits.size(); ++i) {
      num = std::max(num, double(std::abs(oa.logits[i] - ob.logits[i])));
      den = std::max(den, double(std::abs(oa.logits[i])));
    }
    EXPECT_LT(num / den, 1e-5) << "T=" << T;
  }
}

TEST(ForwardVsReference, Bf16ActStaysNearF32AndItsTwoPathsAgree) {
  // bf16-act rounds every GEMM input to BF16: logits move by about BF16's precision (2^-8), not
  // more; and oneDNN's path and the forced sgemm fallback compute the same thing, f32 summation
  // order apart. That order can move a value across a BF16 rounding boundary at the next GEMM's
  // input, which then differs by one BF16 step, so the paths are compared on the mean difference
  // (a few such flips barely move it; a wrong kernel would move it by the mode's whole error).
  TempDir d;
  const SmallModel m = make_bf16_model(d.str());
  auto exact = Qwen2Model::load(d.str(), ComputeMode::BF16);
  auto fast = Qwen2Model::load(d.str(), ComputeMode::BF16Act);
  for (int64_t T : {3, 40}) {  // GEMV rows and GEMM rows
    const auto toks = random_tokens(T, m.vocab, uint64_t(T) + 7);
    SeqInput in{toks, nullptr};
    ForwardOptions fo;
    fo.logits = LogitsMode::All;
    auto want = exact->forward(std::span<const SeqInput>(&in, 1), fo).logits;
    set_bf16_gemm_path(Bf16GemmPath::Auto);
    auto native = fast->forward(std::span<const SeqInput>(&in, 1), fo).logits;
    set_bf16_gemm_path(Bf16GemmPath::Fallback);
    auto fallback = fast->forward(std::span<const SeqInput>(&in, 1), fo).logits;
    set_bf16_gemm_path(Bf16GemmPath::Auto);
    double num_mode = 0, den = 0, mean_mode = 0, mean_path = 0, mean_abs = 0;
    for (size_t i = 0; i < want.size(); ++i) {
      num_mode = std::max(num_mode, double(std::abs(native[i] - want[i])));
      den = std::max(den, double(std::abs(want[i])));
      mean_mode += std::abs(native[i] - want[i]);
      mean_path += std::abs(native[i] - fallback[i]);
      mean_abs += std::abs(want[i]);
    }
    EXPECT_GT(num_mode / den, 1e-5) << "T=" << T << ": bf16-act computed the exact mode's numbers";
    EXPECT_LT(num_mode / den, 3e-2) << "T=" << T;
    EXPECT_LT(mean_path, 0.1 * mean_mode) << "T=" << T << " " << bf16_gemm_path_name();
    EXPECT_LT(mean_path / mean_abs, 1e-3) << "T=" << T << " " << bf16_gemm_path_name();
  }
}

}  // namespace
}  // namespace cc
