// Forward-pass invariants: KV cache = recomputation, ragged batch = each alone, hooks and early stop,
// a batch's attention = each sequence's alone.
#include <cmath>
#include <cstring>

#include "core/parallel.hpp"
#include "model/layers.hpp"
#include "model/qwen2.hpp"
#include "reference/naive_qwen2.hpp"
#include "test_util.hpp"

namespace cc {
namespace {

using test::SmallModel;
using test::TempDir;

std::vector<int32_t> toks(int64_t n, int64_t vocab, uint64_t seed) {
  std::mt19937_64 r(seed);
  std::vector<int32_t> t(static_cast<size_t>(n));
  for (auto& x : t) x = int32_t(r() % uint64_t(vocab));
  return t;
}

float max_abs_diff(const float* a, const float* b, size_t n) {
  float m = 0;
  for (size_t i = 0; i < n; ++i) m = std::max(m, std::abs(a[i] - b[i]));
  return m;
}

ForwardOutput run(Qwen2Model& m, const std::vector<int32_t>& t, LogitsMode mode = LogitsMode::All,
                  const Hooks* h = nullptr, int stop = -1) {
  SeqInput in{t, nullptr};
  ForwardOptions fo;
  fo.logits = mode;
  fo.hooks = h;
  fo.stop_at_site = stop;
  return m.forward(std::span<const SeqInput>(&in, 1), fo);
}

}  // namespace
void PrintTo(ComputeMode m, std::ostream* os) { *os << (m == ComputeMode::F32 ? "f32" : "bf16"); }
namespace {

class Consistency : public ::testing::TestWithParam<ComputeMode> {
 protected:
  void SetUp() override {
    SmallModel m;
    m.dtype = DType::BF16;
    m.layers = 3;
    test::make_model(dir_.str(), m);
    model_ = Qwen2Model::load(dir_.str(), GetParam());
    vocab_ = m.vocab;
  }
  TempDir dir_;
  std::unique_ptr<Qwen2Model> model_;
  int64_t vocab_ = 0;
};

TEST_P(Consistency, KvCacheDecodingEqualsFullRecomputation) {
  const auto t = toks(24, vocab_, 5);
  auto full = run(*model_, t);
  KvCache cache(model_->config(), 64);
  ForwardOptions fo;
  fo.logits = LogitsMode::All;
  // Prefill 10, then chunks of 1, 1, 5, 1, 6.
  size_t done = 0;
  for (size_t n : {10u, 1u, 1u, 5u, 1u, 6u}) {
    std::vector<int32_t> part(t.begin() + long(done), t.begin() + long(done + n));
    SeqInput in{part, &cache};
    auto out = model_->forward(std::span<const SeqInput>(&in, 1), fo);
    ASSERT_EQ(out.rows, int64_t(n));
    EXPECT_LT(max_abs_diff(out.logits.data(), full.logits.data() + done * size_t(vocab_), n * size_t(vocab_)), 2e-4)
        << "chunk at " << done;
    done += n;
  }
  EXPECT_EQ(cache.length(), 24);
}

TEST_P(Consistency, RaggedBatchEqualsEachSequenceAlone) {
  std::vector<std::vector<int32_t>> seqs = {toks(7, vocab_, 1), toks(1, vocab_, 2), toks(19, vocab_, 3), toks(4, vocab_, 4)};
  std::vector<SeqInput> batch;
  for (auto& s : seqs) batch.push_back({s, nullptr});
  ForwardOptions fo;
  fo.logits = LogitsMode::All;
  auto out = model_->forward(batch, fo);
  size_t row = 0;
  for (auto& s : seqs) {
    auto alone = run(*model_, s);
    EXPECT_LT(max_abs_diff(out.logits.data() + row * size_t(vocab_), alone.logits.data(), s.size() * size_t(vocab_)), 2e-4);
    row += s.size();
  }
  fo.logits = LogitsMode::Last;
  auto last = model_->forward(batch, fo);
  ASSERT_EQ(last.rows, 4);
  row = 0;
  for (size_t b = 0; b < seqs.size(); ++b) {
    row += seqs[b].size();
    EXPECT_LT(max_abs_diff(last.logits.data() + b * size_t(vocab_), out.logits.data() + (row - 1) * size_t(vocab_), size_t(vocab_)), 1e-6);
  }
}

TEST_P(Consistency, StopAtSiteReturnsWhatTheFullPassHadThere) {
  const auto t = toks(13, vocab_, 9);
  for (int site = 0; site <= 3; ++site) {
    std::vector<float> full_x, stop_x;
    Hooks a, b;
    a.add(site, make_capture_hook(&full_x));
    b.add(site, make_capture_hook(&stop_x));
    run(*model_, t, LogitsMode::All, &a);
    auto out = run(*model_, t, LogitsMode::All, &b, site);
    EXPECT_EQ(out.rows, 0);
    ASSERT_EQ(full_x.size(), stop_x.size());
    EXPECT_EQ(full_x, stop_x) << "site " << site;  // bit-identical: the same computation
  }
}

TEST_P(Consistency, HookSitesSeeRowInfo) {
  std::vector<std::vector<int32_t>> seqs = {toks(3, vocab_, 1), toks(2, vocab_, 2)};
  std::vector<SeqInput> batch{{seqs[0], nullptr}, {seqs[1], nullptr}};
  std::vector<RowInfo> seen;
  Hooks h;
  h.add(1, [&](HookContext& c) { seen.assign(c.info.begin(), c.info.end()); });
  ForwardOptions fo;
  fo.hooks = &h;
  model_->forward(batch, fo);
  ASSERT_EQ(seen.size(), 5u);
  EXPECT_EQ(seen[3].seq, 1);
  EXPECT_EQ(seen[3].pos, 0);
  EXPECT_EQ(seen[4].pos, 1);
  EXPECT_EQ(seen[4].token, seqs[1][1]);
}

INSTANTIATE_TEST_SUITE_P(Modes, Consistency, ::testing::Values(ComputeMode::F32, ComputeMode::BF16),
                         [](const auto& i) { return std::string(i.param == ComputeMode::F32 ? "f32" : "bf16"); });

TEST(Hooks, AddingAVectorEqualsTheReferenceDoingItByHand) {
  TempDir d;
  SmallModel m;
  m.layers = 3;
  test::make_model(d.str(), m);
  auto model = Qwen2Model::load(d.str(), ComputeMode::F32);
  const auto t = toks(11, m.vocab, 4);
  std::vector<float> v(static_cast<size_t>(m.d));
  std::vector<double> vd(static_cast<size_t>(m.d));
  for (int64_t i = 0; i < m.d; ++i) vd[size_t(i)] = v[size_t(i)] = 0.5f * float(std::sin(double(i)));
  const int site = 2;
  Hooks h;
  h.add(site, make_add_hook(v));
  auto out = run(*model, t, LogitsMode::All, &h);
  auto want = ref::forward(ref::load(d.str()), t, site, vd);
  auto base = ref::forward(ref::load(d.str()), t);
  double err = 0, moved = 0, scale = 0;
  for (size_t r = 0; r < t.size(); ++r)
    for (int64_t j = 0; j < m.vocab; ++j) {
      err = std::max(err, std::abs(double(out.logits[r * size_t(m.vocab) + size_t(j)]) - want.logits[r][size_t(j)]));
      moved = std::max(moved, std::abs(want.logits[r][size_t(j)] - base.logits[r][size_t(j)]));
      scale = std::max(scale, std::abs(want.logits[r][size_t(j)]));
    }
  EXPECT_LT(err / scale, 1e-4);
  EXPECT_GT(moved / scale, 1e-2);  // the hook really changed the output
}

TEST(Hooks, SiteNames) {
  EXPECT_EQ(parse_hook_site("blocks.14.hook_resid_pre", 28), 14);
  EXPECT_EQ(parse_hook_site("blocks.27.hook_resid_post", 28), 28);
  EXPECT_EQ(parse_hook_site("blocks.13.hook_resid_post", 28), 14);
  EXPECT_EQ(parse_hook_site("7", 28), 7);
  EXPECT_EQ(hook_site_name(28, 28), "blocks.27.hook_resid_post");
  test::expect_error([] { parse_hook_site("blocks.28.hook_resid_pre", 28); }, {"outside the model"});
  test::expect_error([] { parse_hook_site("mlp.3", 28); }, {"not a hook name"});
}

TEST(Forward, BadTokenIdAndFullCache) {
  TempDir d;
  SmallModel m;
  test::make_model(d.str(), m);
  auto model = Qwen2Model::load(d.str(), ComputeMode::F32);
  test::expect_error([&] { run(*model, {1, 2, int32_t(m.vocab)}); }, {"token id", "outside the vocabulary"});
  KvCache cache(model->config(), 4);
  std::vector<int32_t> t = {1, 2, 3, 4, 5};
  SeqInput in{t, &cache};
  test::expect_error([&] { model->forward(std::span<const SeqInput>(&in, 1)); }, {"KV cache", "full"});
}

}  // namespace
}  // namespace cc

namespace cc {
namespace {

// Causal attention of one sequence in double precision: query row i (position past + i) against
// keys 0..past+i, head h reading kv head h / (n_heads / n_kv). Rows of q/out are n_heads * hd wide,
// of k/v n_kv * hd.
std::vector<double> attention_reference(const std::vector<float>& q, const std::vector<float>& k, const std::vector<float>& v,
                                        int64_t Tq, int64_t past, int64_t nh, int64_t nkv, int64_t hd) {
  std::vector<double> out(size_t(Tq * nh * hd), 0.0);
  for (int64_t h = 0; h < nh; ++h) {
    const int64_t g = h / (nh / nkv);
    for (int64_t i = 0; i < Tq; ++i) {
      const int64_t keys = past + i + 1;
      std::vector<double> s(static_cast<size_t>(keys));
      double mx = -INFINITY, sum = 0;
      for (int64_t j = 0; j < keys; ++j) {
        double dot = 0;
        for (int64_t c = 0; c < hd; ++c) dot += double(q[size_t((i * nh + h) * hd + c)]) * k[size_t((j * nkv + g) * hd + c)];
        s[size_t(j)] = dot / std::sqrt(double(hd));
        mx = std::max(mx, s[size_t(j)]);
      }
      for (double& e : s) sum += (e = std::exp(e - mx));
      for (int64_t j = 0; j < keys; ++j)
        for (int64_t c = 0; c < hd; ++c) out[size_t((i * nh + h) * hd + c)] += s[size_t(j)] / sum * v[size_t((j * nkv + g) * hd + c)];
    }
  }
  return out;
}

// Every attention path against the double reference: the plain loops (one or two query rows, or a
// short sequence of at most 16 keys) and the blocked sgemm path, on both sides of each boundary.
TEST(Attention, EveryPathMatchesADoubleReference) {
  set_num_threads(2);
  const int64_t nh = 8, nkv = 2, hd = 16, qd = nh * hd, kvd = nkv * hd;
  struct Case {
    int64_t Tq, past;
  };
  const std::vector<Case> cases = {{3, 0}, {2, 40}, {3, 40}, {10, 0}, {16, 0}, {5, 11}, {17, 0}, {5, 12}, {300, 0}};
  std::mt19937_64 r(11);
  std::normal_distribution<float> n01;
  for (const Case& c : cases) {
    auto fill = [&](int64_t n) {
      std::vector<float> x(static_cast<size_t>(n));
      for (float& e : x) e = 2.f * n01(r);  // scores of a few units: softmax far from uniform
      return x;
    };
    const auto q = fill(c.Tq * qd), k = fill((c.past + c.Tq) * kvd), v = fill((c.past + c.Tq) * kvd);
    std::vector<float> out(q.size(), NAN);
    attention_forward(out.data(), qd, q.data(), qd, k.data(), v.data(), kvd, c.Tq, c.past, nh, nkv, hd);
    const std::vector<double> want = attention_reference(q, k, v, c.Tq, c.past, nh, nkv, hd);
    double err = 0;
    for (size_t i = 0; i < out.size(); ++i) err = std::max(err, std::abs(double(out[i]) - want[i]));
    EXPECT_LT(err, 1e-5) << "Tq " << c.Tq << " past " << c.past;
  }
}

// One pool call for a batch's attention, split by score count, must give each sequence exactly what
// it gets alone: sequences of the direct path (<= 2 rows, or <= 16 keys), of the blocked path (300
// rows: two query blocks), with and without a cache prefix. Outputs start as NaN so a unit left out
// shows.
TEST(Attention, BatchEqualsEachSequenceAloneBitForBit) {
  set_num_threads(2);
  const int64_t nh = 8, nkv = 2, hd = 16, qd = nh * hd, kvd = nkv * hd;
  struct Case {
    int64_t Tq, past;
  };
  const std::vector<Case> cases = {{3, 0}, {300, 0}, {1, 40}, {7, 0}, {4, 9}, {20, 300}};
  std::mt19937_64 r(5);
  std::normal_distribution<float> n01;
  std::vector<std::vector<float>> q, k, v, batch_out, alone_out;
  for (const Case& c : cases) {
    auto fill = [&](int64_t n) {
      std::vector<float> x(static_cast<size_t>(n));
      for (float& e : x) e = n01(r);
      return x;
    };
    q.push_back(fill(c.Tq * qd));
    k.push_back(fill((c.past + c.Tq) * kvd));
    v.push_back(fill((c.past + c.Tq) * kvd));
    batch_out.emplace_back(size_t(c.Tq * qd), NAN);
    alone_out.emplace_back(size_t(c.Tq * qd), NAN);
  }
  std::vector<AttentionSeq> seqs;
  for (size_t i = 0; i < cases.size(); ++i)
    seqs.push_back({batch_out[i].data(), q[i].data(), k[i].data(), v[i].data(), cases[i].Tq, cases[i].past});
  attention_forward_batch(seqs, {qd, qd, kvd, nh, nkv, hd});
  for (size_t i = 0; i < cases.size(); ++i) {
    attention_forward(alone_out[i].data(), qd, q[i].data(), qd, k[i].data(), v[i].data(), kvd, cases[i].Tq, cases[i].past, nh,
                      nkv, hd);
    for (float x : alone_out[i]) ASSERT_TRUE(std::isfinite(x)) << "sequence " << i;
    EXPECT_EQ(0, std::memcmp(batch_out[i].data(), alone_out[i].data(), batch_out[i].size() * sizeof(float))) << "sequence " << i;
  }
}

}  // namespace
}  // namespace cc
