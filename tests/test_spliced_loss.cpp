// The spliced loss: its three losses and KL equal a plain recomputation (one sequence at a time,
// from the embeddings, log-softmax in double); a lossless crosscoder recovers the whole loss and a
// crosscoder that decodes nothing recovers none; bad pairs are refused.
#include <algorithm>
#include <cmath>

#include "core/error.hpp"
#include "core/json_file.hpp"
#include "crosscoder/step.hpp"
#include "crosscoder_fixture.hpp"
#include "data/packer.hpp"
#include "interventions/spliced_loss.hpp"
#include "model/qwen2.hpp"
#include "pair_fixture.hpp"
#include "test_util.hpp"

namespace cc {
namespace {

struct SplicedFixture {
  test::PairFixture pair{32, 4};
  std::string ckpt = pair.dir / "ckpt";
  CrosscoderParams p;
  CrosscoderConfig c;
  SplicedFixture() {
    test::make_crosscoder(p, c, 32, 64, "blocks.2.hook_resid_pre");
    save_crosscoder(ckpt, p, c);
  }
  SplicedLossOptions options() const {
    SplicedLossOptions o;
    o.crosscoder = ckpt;
    o.base = pair.a;
    o.distilled = pair.b;
    o.out = pair.dir / "spliced.json";
    o.corpora = {parse_corpus_spec(pair.jsonl + ":question+trace@1"), parse_corpus_spec(pair.txt + "@1")};
    o.sequences = 5;
    o.seq_len = 64;
    o.eval_fraction = 0.5;  // the fixture's corpora are small
    o.batch_tokens = 150;   // several batches of whole sequences
    o.bootstrap = 200;
    o.mode = ComputeMode::F32;
    o.progress = false;
    return o;
  }
};

// −log p(next) and KL(clean ‖ this) of one row of logits against the clean row, the plain way.
struct RowLoss {
  double ce, kl;
};
RowLoss row_loss(const float* clean, const float* l, int64_t V, int32_t next) {
  double zc = 0, zl = 0;
  for (int64_t v = 0; v < V; ++v) {
    zc += std::exp(double(clean[v]));
    zl += std::exp(double(l[v]));
  }
  double kl = 0;
  for (int64_t v = 0; v < V; ++v) {
    const double a = double(clean[v]) - std::log(zc), b = double(l[v]) - std::log(zl);
    kl += std::exp(a) * (a - b);
  }
  return {std::log(zl) - double(l[next]), kl};
}

TEST(SplicedLoss, EqualsPlainForwardPassesFromTheEmbeddings) {
  SplicedFixture fx;
  const SplicedLossOptions o = fx.options();
  const SplicedLoss r = run_spliced_loss(o);
  const Json j = read_json_file(o.out);

  // The same held-out sequences, packed independently.
  PackOptions po;
  po.seq_len = o.seq_len;
  po.seed = o.seed;
  po.eval_fraction = o.eval_fraction;
  po.only_split = 1;
  const std::vector<PackedSequence> seqs = test::pack_sequences(fx.pair.a + "/tokenizer.json", o.corpora, po, o.sequences);
  auto A = Qwen2Model::load(fx.pair.a, ComputeMode::F32), B = Qwen2Model::load(fx.pair.b, ComputeMode::F32);
  const int64_t d = 32, D2 = 64, F = 64;
  const int site = 2;

  double sum[2][5] = {};  // per model: ce clean, spliced, zero; kl spliced, zero
  int64_t n = 0;
  for (int64_t s = 0; s < o.sequences; ++s) {
    const PackedSequence& q = seqs[size_t(s)];
    for (size_t t = 0; t < q.split.size(); ++t)
      if (q.keep[t]) {
        ASSERT_EQ(q.split[t], 1) << "a scored sequence holds a training document";
      }
    SeqInput in{q.tokens, nullptr};
    const int64_t T = int64_t(q.tokens.size());
    const std::vector<float> xs[2] = {test::stream_at(*A, site, q.tokens), test::stream_at(*B, site, q.tokens)};
    std::vector<float> X(size_t(T * D2)), f;
    for (int64_t t = 0; t < T; ++t)
      for (int m = 0; m < 2; ++m)
        for (int64_t i = 0; i < d; ++i) X[size_t(t * D2 + m * d + i)] = xs[m][size_t(t * d + i)] * float(fx.c.norm_factors[size_t(m)]);
    crosscoder_encode(fx.p, fx.c, X.data(), T, f);
    for (int m = 0; m < 2; ++m) {
      // x̂_m / s_m = (b_dec + Σ_i f_i W_dec[i, m]) / s_m, in double.
      std::vector<float> xhat(size_t(T * d));
      for (int64_t t = 0; t < T; ++t)
        for (int64_t k = 0; k < d; ++k) {
          double v = fx.p.b_dec[size_t(m * d + k)];
          for (int64_t i = 0; i < F; ++i) v += double(f[size_t(t * F + i)]) * fx.p.W_dec[size_t(i * D2 + m * d + k)];
          xhat[size_t(t * d + k)] = float(v / fx.c.norm_factors[size_t(m)]);
        }
      auto scored = [&](int64_t t) { return q.keep[size_t(t)] && t + 1 < T; };
      auto logits = [&](int how) {  // 0 clean, 1 spliced, 2 zero
        Hooks h;
        if (how > 0)
          h.add(site, [&](HookContext& ctx) {
            for (int64_t t = 0; t < ctx.rows; ++t)
              if (scored(t))
                for (int64_t k = 0; k < d; ++k) ctx.x[t * d + k] = how == 1 ? xhat[size_t(t * d + k)] : 0.f;
          });
        ForwardOptions fo;
        fo.logits = LogitsMode::All;
        fo.hooks = &h;
        return (m == 0 ? *A : *B).forward(std::span<const SeqInput>(&in, 1), fo);
      };
      const ForwardOutput out[3] = {logits(0), logits(1), logits(2)};
      const int64_t V = out[0].vocab;
      for (int64_t t = 0; t < T; ++t) {
        if (!scored(t)) continue;
        n += m == 0;
        for (int k = 0; k < 3; ++k) {
          const RowLoss rl = row_loss(out[0].logits.data() + t * V, out[k].logits.data() + t * V, V, q.tokens[size_t(t + 1)]);
          sum[m][k] += rl.ce;
          if (k > 0) sum[m][2 + k] += rl.kl;
        }
      }
    }
  }
  ASSERT_GT(n, 100);
  EXPECT_EQ(r.positions, n);
  EXPECT_EQ(j["positions"].get<int64_t>(), n);
  EXPECT_TRUE(j["held_out"].get<bool>());
  for (int m = 0; m < 2; ++m) {
    const SplicedLossModel& x = r.model[m];
    const double want[5] = {sum[m][0] / double(n), sum[m][1] / double(n), sum[m][2] / double(n), sum[m][3] / double(n),
                            sum[m][4] / double(n)};
    const double got[5] = {x.ce_clean, x.ce_spliced, x.ce_zero, x.kl_spliced, x.kl_zero};
    // Both sides are float32 forwards of the same tokens, batched differently (the tool resumes at
    // the hook over several sequences; this runs each from the embeddings), so the logits agree to
    // float32 rounding (~1e-6 relative); means of ~11-nat losses then agree far inside 1e-5
    // relative. KL is a difference of such terms: 1e-5 of the cross-entropy's scale bounds it.
    for (int k = 0; k < 5; ++k) EXPECT_NEAR(got[k], want[k], 1e-5 * want[0]) << "model " << m << " quantity " << k;
    EXPECT_NEAR(x.recovered, (want[2] - want[1]) / (want[2] - want[0]), 1e-3) << "model " << m;
    EXPECT_LE(x.recovered_ci.lo, x.recovered_ci.hi);
    EXPECT_LE(x.ce_increase_ci.lo, x.ce_increase_ci.hi);
    const Json& jm = j[m == 0 ? "base" : "distilled"];
    EXPECT_DOUBLE_EQ(jm["ce_spliced"].get<double>(), x.ce_spliced);
  }
}

TEST(SplicedLoss, LosslessCrosscoderRecoversAllAndOneThatDecodesNothingRecoversNone) {
  SplicedFixture fx;
  const int64_t d = 32, D2 = 64, F = 4 * d;
  // Features ±e_i per model and dimension: ReLU(x_i) − ReLU(−x_i) = x_i, so x̂ = x exactly.
  CrosscoderParams p;
  p.resize(d, F);
  std::fill(p.W_encT.begin(), p.W_encT.end(), 0.f);
  std::fill(p.W_dec.begin(), p.W_dec.end(), 0.f);
  std::fill(p.b_enc.begin(), p.b_enc.end(), 0.f);
  std::fill(p.b_dec.begin(), p.b_dec.end(), 0.f);
  for (int64_t e = 0; e < D2; ++e)
    for (int sign = 0; sign < 2; ++sign) {
      const int64_t i = 2 * e + sign;
      p.W_encT[size_t(i * D2 + e)] = sign ? -1.f : 1.f;
      p.W_dec[size_t(i * D2 + e)] = sign ? -1.f : 1.f;
    }
  CrosscoderConfig c = fx.c;
  c.dict_size = F;
  save_crosscoder(fx.ckpt, p, c);
  const SplicedLoss lossless = run_spliced_loss(fx.options());
  for (int m = 0; m < 2; ++m) {
    const SplicedLossModel& x = lossless.model[m];
    EXPECT_NEAR(x.ce_spliced, x.ce_clean, 1e-5 * x.ce_clean) << "model " << m;
    EXPECT_LT(x.kl_spliced, 1e-6) << "model " << m;
    EXPECT_NEAR(x.recovered, 1.0, 1e-4) << "model " << m;
    EXPECT_GT(x.kl_zero, 1e-3) << "model " << m;  // the zero-ablation, by contrast, changes the output
  }
  // Nothing decoded (W_dec = 0, b_dec = 0): splicing is zero-ablation, bit for bit.
  std::fill(p.W_dec.begin(), p.W_dec.end(), 0.f);
  save_crosscoder(fx.ckpt, p, c);
  const SplicedLoss none = run_spliced_loss(fx.options());
  for (int m = 0; m < 2; ++m) {
    const SplicedLossModel& x = none.model[m];
    EXPECT_EQ(x.ce_spliced, x.ce_zero) << "model " << m;
    EXPECT_EQ(x.kl_spliced, x.kl_zero) << "model " << m;
    EXPECT_EQ(x.recovered, 0.0) << "model " << m;
  }
}

TEST(SplicedLoss, MismatchedCrosscodersAreRefused) {
  SplicedFixture fx;
  CrosscoderParams p;
  CrosscoderConfig c;
  test::make_crosscoder(p, c, 16, 32, "blocks.2.hook_resid_pre");  // d 16, the models have 32
  save_crosscoder(fx.ckpt, p, c);
  try {
    run_spliced_loss(fx.options());
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("config.json"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("d_in"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace cc
