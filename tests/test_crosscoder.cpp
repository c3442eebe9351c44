// Crosscoder steps: sparse = dense reference, gradients = finite differences, one full training
// step = an independent double-precision computation, checkpoints round-trip.
#include <cmath>
#include <random>
#include <tuple>

#include "core/safetensors.hpp"
#include "crosscoder/active_set.hpp"
#include "crosscoder/adam.hpp"
#include "crosscoder/step.hpp"
#include "crosscoder/step_common.hpp"
#include "crosscoder/trainer.hpp"
#include "step_fixture.hpp"
#include "test_util.hpp"

namespace cc {
namespace {

using Instance = test::StepInstance;
using test::max_rel;

class Arch : public ::testing::TestWithParam<std::string> {};

TEST_P(Arch, SparseStepEqualsDenseReference) {
  Instance I(GetParam());
  CrosscoderParams gs, gd;
  gs.resize(I.c.d_in, I.c.dict_size);
  gd.resize(I.c.d_in, I.c.dict_size);
  StepResult rs = crosscoder_step_sparse(I.p, I.c, I.input(), gs);
  StepResult rd = crosscoder_step_dense(I.p, I.c, I.input(), gd);
  EXPECT_NEAR(rs.loss, rd.loss, 1e-5 * std::abs(rd.loss));
  EXPECT_NEAR(rs.l0, rd.l0, 1e-9);
  EXPECT_GT(rs.l0, 0);
  if (GetParam() == "batchtopk") {
    EXPECT_LE(rs.l0, double(I.c.k) + 1e-9);
    EXPECT_GT(rs.aux, 0);  // the dead features were exercised
  }
  EXPECT_LT(max_rel(gs.W_encT, gd.W_encT), 1e-5);
  EXPECT_LT(max_rel(gs.W_dec, gd.W_dec), 1e-5);
  EXPECT_LT(max_rel(gs.b_enc, gd.b_enc), 1e-5);
  EXPECT_LT(max_rel(gs.b_dec, gd.b_dec), 1e-5);
}

// A workspace left by a step of another shape must not leak into the next step.
TEST_P(Arch, ReusedWorkspaceGivesTheSameStep) {
  Instance other(GetParam(), 5, 64, 20, 9), I(GetParam());
  StepWorkspace ws;
  CrosscoderParams g0, g1;
  g0.resize(other.c.d_in, other.c.dict_size);
  StepInput in0 = other.input();
  in0.ws = &ws;
  crosscoder_step_sparse(other.p, other.c, in0, g0);
  g0.resize(I.c.d_in, I.c.dict_size);
  g1.resize(I.c.d_in, I.c.dict_size);
  StepInput in = I.input();
  const StepResult fresh = crosscoder_step_sparse(I.p, I.c, in, g1);
  in.ws = &ws;
  const StepResult reused = crosscoder_step_sparse(I.p, I.c, in, g0);
  EXPECT_EQ(fresh.loss, reused.loss);
  EXPECT_EQ(fresh.fired, reused.fired);
  EXPECT_EQ(g1.W_dec, g0.W_dec);
  EXPECT_EQ(g1.W_encT, g0.W_encT);
}

// The sparse step's active set (bias added, then ReLU or BatchTopK, listed as row-major pairs) is
// exactly the plain dense selection: the same pairs, values and threshold, ties included, for the
// ReLU path and for BatchTopK with more and with fewer positive scores than k·B.
TEST(Crosscoder, ActiveSetEqualsPlainSelection) {
  std::mt19937 r{11};
  std::normal_distribution<float> n(0.f, 1.f);
  for (const auto& [B, F, k, tie_every] : {std::tuple{64, 300, 8, 0}, std::tuple{33, 257, 5, 3}, std::tuple{16, 100, 90, 0},
                                           std::tuple{50, 128, 4, 1}, std::tuple{40, 200, 0, 0}, std::tuple{1, 64, 3, 0}}) {
    std::vector<float> pre(static_cast<size_t>(B * F)), bias(static_cast<size_t>(F)), norms(static_cast<size_t>(2 * F));
    for (auto& v : norms) v = 0.5f + std::abs(n(r));
    for (auto& v : bias) v = tie_every ? 0.f : 0.3f * n(r);
    if (tie_every) std::fill(norms.begin(), norms.end(), 1.f);  // equal scores where pre is equal
    for (size_t i = 0; i < pre.size(); ++i) pre[i] = tie_every && i % size_t(tie_every) == 0 ? 0.75f : n(r);
    std::vector<float> plain(pre.size());
    for (int64_t b = 0; b < B; ++b)
      for (int64_t j = 0; j < F; ++j) plain[size_t(b * F + j)] = std::max(0.f, pre[size_t(b * F + j)] + bias[size_t(j)]);
    const double tp = k > 0 ? batch_topk_mask(plain, norms, B, F, k) : 0.0;
    StepWorkspace ws;
    std::vector<float> with_bias = pre;
    const double tq = select_active(with_bias.data(), bias, norms, B, F, k, ws, FeatureShard::whole_dictionary(F));
    const std::string at = std::to_string(B) + "x" + std::to_string(F) + " k " + std::to_string(k);
    EXPECT_EQ(tp, tq) << at;
    std::vector<float> listed(pre.size(), 0.f);
    ASSERT_EQ(ws.row_ptr.size(), size_t(B + 1)) << at;
    for (int64_t b = 0; b < B; ++b)
      for (int64_t e = ws.row_ptr[size_t(b)]; e < ws.row_ptr[size_t(b + 1)]; ++e) {
        if (e > ws.row_ptr[size_t(b)]) {
          EXPECT_LT(ws.col[size_t(e - 1)], ws.col[size_t(e)]) << at;
        }
        listed[size_t(b * F + ws.col[size_t(e)])] = ws.val[size_t(e)];
      }
    EXPECT_EQ(plain, listed) << at;
    for (int64_t b = 0; b < B; ++b)
      for (int64_t j = 0; j < F; ++j) EXPECT_EQ(with_bias[size_t(b * F + j)], pre[size_t(b * F + j)] + bias[size_t(j)]) << at;
    if (k > 0) {
      EXPECT_LE(int64_t(ws.col.size()), int64_t(k) * B) << at;
    }
  }
}

TEST_P(Arch, GradientsMatchFiniteDifferences) {
  Instance I(GetParam());
  CrosscoderParams g;
  g.resize(I.c.d_in, I.c.dict_size);
  crosscoder_step_sparse(I.p, I.c, I.input(), g);
  auto loss_at = [&](CrosscoderParams& q) {
    CrosscoderParams scratch;
    scratch.resize(I.c.d_in, I.c.dict_size);
    return crosscoder_step_sparse(q, I.c, I.input(), scratch).loss;
  };
  std::mt19937 r(7);
  int checked = 0, bad = 0;
  auto pt = I.p.tensors();
  auto gt = g.tensors();
  for (size_t t = 0; t < pt.size(); ++t)
    for (int k = 0; k < 25; ++k) {
      const size_t i = r() % pt[t].second;
      float* w = pt[t].first + i;
      const float orig = *w, eps = 1e-3f * std::max(1.f, std::abs(orig));
      *w = orig + eps;
      const double lp = loss_at(I.p);
      *w = orig - eps;
      const double lm = loss_at(I.p);
      *w = orig;
      const double fd = (lp - lm) / (2.0 * double(eps));
      const double an = gt[t].first[i];
      // Kinks (ReLU, top-k selection) make a few central differences straddle a corner: allow
      // at most 5% of probes to disagree, never a systematic error.
      if (std::abs(fd - an) > 2e-2 * std::max(std::abs(fd), std::abs(an)) + 2e-3) {
        ++bad;
        std::printf("probe tensor %zu index %zu: finite difference %.6f, analytic %.6f\n", t, i, fd, an);
      }
      ++checked;
    }
  EXPECT_LE(bad, checked / 20) << bad << " of " << checked << " probes disagree";
}

INSTANTIATE_TEST_SUITE_P(Crosscoder, Arch, ::testing::Values("l1", "batchtopk"));

// One training step (L1 loss, clipping, Adam) recomputed independently in double precision.
TEST(Crosscoder, OneTrainingStepMatchesAHandComputedReference) {
  Instance I("l1", 4, 10, 5, 11);
  const int64_t d = 4, D2 = 8, F = 10, B = 5;
  const double lam = 0.7, lr = 1e-2, b1 = 0.9, b2 = 0.999, eps = 1e-8, clip = 1.0;
  // --- reference, double precision, plain loops ---
  std::vector<double> We(I.p.W_encT.begin(), I.p.W_encT.end()), Wd(I.p.W_dec.begin(), I.p.W_dec.end()),
      be(I.p.b_enc.begin(), I.p.b_enc.end()), bd(I.p.b_dec.begin(), I.p.b_dec.end());
  std::vector<double> gWe(We.size(), 0), gWd(Wd.size(), 0), gbe(F, 0), gbd(D2, 0);
  std::vector<double> nrm(static_cast<size_t>(2 * F));
  for (int64_t j = 0; j < F; ++j)
    for (int m = 0; m < 2; ++m) {
      double s = 0;
      for (int64_t i = 0; i < d; ++i) s += Wd[size_t(j * D2 + m * d + i)] * Wd[size_t(j * D2 + m * d + i)];
      nrm[size_t(2 * j + m)] = std::sqrt(s);
    }
  for (int64_t b = 0; b < B; ++b) {
    const float* x = I.x.data() + b * D2;
    std::vector<double> pre(static_cast<size_t>(F)), f(static_cast<size_t>(F)), xh(bd);
    for (int64_t j = 0; j < F; ++j) {
      pre[size_t(j)] = be[size_t(j)];
      for (int64_t q = 0; q < D2; ++q) pre[size_t(j)] += We[size_t(j * D2 + q)] * x[q];
      f[size_t(j)] = std::max(0.0, pre[size_t(j)]);
      for (int64_t q = 0; q < D2; ++q) xh[size_t(q)] += f[size_t(j)] * Wd[size_t(j * D2 + q)];
    }
    std::vector<double> ge(static_cast<size_t>(D2));
    for (int64_t q = 0; q < D2; ++q) ge[size_t(q)] = 2.0 * (xh[size_t(q)] - x[q]) / double(B);
    for (int64_t q = 0; q < D2; ++q) gbd[size_t(q)] += ge[size_t(q)];
    for (int64_t j = 0; j < F; ++j) {
      if (f[size_t(j)] <= 0) continue;
      double df = lam / double(B) * (nrm[size_t(2 * j)] + nrm[size_t(2 * j + 1)]);
      for (int64_t q = 0; q < D2; ++q) {
        df += ge[size_t(q)] * Wd[size_t(j * D2 + q)];
        const int m = int(q / d);
        gWd[size_t(j * D2 + q)] += f[size_t(j)] * ge[size_t(q)] + lam / double(B) * f[size_t(j)] * Wd[size_t(j * D2 + q)] / nrm[size_t(2 * j + m)];
      }
      for (int64_t q = 0; q < D2; ++q) gWe[size_t(j * D2 + q)] += df * x[q];
      gbe[size_t(j)] += df;
    }
  }
  double gn = 0;
  for (auto* v : {&gWe, &gbe, &gWd, &gbd})
    for (double z : *v) gn += z * z;
  gn = std::sqrt(gn);
  const double scale = gn > clip ? clip / (gn + 1e-6) : 1.0;
  auto adam1 = [&](std::vector<double>& w, const std::vector<double>& gr) {
    for (size_t i = 0; i < w.size(); ++i) {
      const double g = gr[i] * scale, m = (1 - b1) * g, v = (1 - b2) * g * g;
      w[i] -= lr * (m / (1 - b1)) / (std::sqrt(v / (1 - b2)) + eps);
    }
  };
  adam1(We, gWe);
  adam1(be, gbe);
  adam1(Wd, gWd);
  adam1(bd, gbd);
  // --- the library ---
  CrosscoderParams g;
  g.resize(d, F);
  StepInput in{I.x.data(), B, lam, nullptr};
  crosscoder_step_sparse(I.p, I.c, in, g);
  clip_grad_norm(g, clip);
  AdamState a;
  a.resize(I.p.num_params());
  adam_step(I.p, g, a, lr, b1, b2, eps);
  auto close = [](const std::vector<float>& got, const std::vector<double>& want) {
    double worst = 0;
    for (size_t i = 0; i < got.size(); ++i) worst = std::max(worst, std::abs(double(got[i]) - want[i]));
    return worst;
  };
  // Adam's first step moves each weight by ~lr·sign(g): 1e-5 absolute is far below that.
  EXPECT_LT(close(I.p.W_encT, We), 1e-5);
  EXPECT_LT(close(I.p.b_enc, be), 1e-5);
  EXPECT_LT(close(I.p.W_dec, Wd), 1e-5);
  EXPECT_LT(close(I.p.b_dec, bd), 1e-5);
}

TEST(Crosscoder, InitCheckpointRoundTripAndSchedules) {
  CrosscoderParams p;
  crosscoder_init(p, 5, 7, 0.08, 1);
  std::vector<float> n;
  decoder_norms(p, n);
  for (float v : n) EXPECT_NEAR(v, 0.08f, 1e-6);
  EXPECT_EQ(p.W_encT, p.W_dec);  // W_enc[m,:,f] = W_dec[f,m,:]
  test::TempDir d;
  CrosscoderConfig c;
  c.d_in = 5;
  c.dict_size = 7;
  p.b_enc[3] = 0.25f;
  p.W_encT[2 * 10 + 7] = -1.5f;  // feature 2, input 7 = model 1, dim 2
  save_crosscoder(d.str(), p, c);
  SafetensorsFile f(d / "crosscoder.safetensors");
  EXPECT_EQ(f.find("W_enc")->shape, (Shape{2, 5, 7}));
  EXPECT_EQ(f.find("W_dec")->shape, (Shape{7, 2, 5}));
  const float* we = reinterpret_cast<const float*>(f.find("W_enc")->data);
  EXPECT_EQ(we[(1 * 5 + 2) * 7 + 2], -1.5f);  // W_enc[1, 2, 2]
  CrosscoderParams q;
  CrosscoderConfig qc;
  load_crosscoder(d.str(), q, qc);
  EXPECT_EQ(q.W_encT, p.W_encT);
  EXPECT_EQ(q.b_enc, p.b_enc);
  c.num_tokens = 1000;
  c.batch_size = 10;  // 100 steps
  EXPECT_DOUBLE_EQ(l1_at(c, 0, 100), 0.0);
  EXPECT_DOUBLE_EQ(l1_at(c, 5, 100), c.l1_coeff);
  EXPECT_DOUBLE_EQ(lr_at(c, 79, 100), c.lr);
  EXPECT_NEAR(lr_at(c, 90, 100), c.lr * 0.5, 1e-12);
}

}  // namespace
}  // namespace cc
