// Dense reference step: every product a full GEMM, no sparsity anywhere.
#include <cblas.h>

#include <algorithm>
#include <cmath>
#include <functional>

#include "crosscoder/step.hpp"
#include "crosscoder/step_common.hpp"

namespace cc {

StepResult crosscoder_step_dense(const CrosscoderParams& p, const CrosscoderConfig& c, const StepInput& in,
                                 CrosscoderParams& g) {
  const int64_t B = in.B, D2 = 2 * p.d, F = p.F;
  std::vector<float> pre(size_t(B * F)), f(size_t(B * F)), xh(size_t(B * D2)), norms;
  decoder_norms(p, norms);
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, int(B), int(F), int(D2), 1.f, in.x, int(D2), p.W_encT.data(), int(D2), 0.f,
              pre.data(), int(F));
  for (int64_t b = 0; b < B; ++b)
    for (int64_t j = 0; j < F; ++j) {
      pre[size_t(b * F + j)] += p.b_enc[size_t(j)];
      f[size_t(b * F + j)] = std::max(0.f, pre[size_t(b * F + j)]);
    }
  StepResult r;
  const bool topk = c.architecture == Arch::BatchTopK;
  if (topk) r.min_kept_score = batch_topk_mask(f, norms, B, F, c.k);
  // x̂ = f W_dec + b_dec
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, int(B), int(D2), int(F), 1.f, f.data(), int(F), p.W_dec.data(), int(D2), 0.f,
              xh.data(), int(D2));
  std::vector<float> gx(size_t(B * D2));  // dL/dx̂ = 2 (x̂ - x) / B
  for (int64_t b = 0; b < B; ++b)
    for (int64_t j = 0; j < D2; ++j) {
      float& v = xh[size_t(b * D2 + j)];
      v += p.b_dec[size_t(j)];
      const double e = double(v) - in.x[b * D2 + j];
      r.l2 += e * e;
      gx[size_t(b * D2 + j)] = float(2.0 * e / double(B));
    }
  r.l2 /= double(B);
  explained_variance(in.x, xh.data(), B, p.d, r.ev);
  for (int64_t b = 0; b < B; ++b)
    for (int64_t j = 0; j < F; ++j)
      if (f[size_t(b * F + j)] > 0) {
        r.l1 += double(f[size_t(b * F + j)]) * (norms[size_t(2 * j)] + norms[size_t(2 * j + 1)]);
        r.l0 += 1;
      }
  r.l1 /= double(B);
  r.l0 /= double(B);
  const double lam = topk ? 0.0 : in.l1_coeff;
  r.loss = r.l2 + lam * r.l1;
  for (int64_t j = 0; j < F; ++j)
    for (int64_t b = 0; b < B; ++b)
      if (f[size_t(b * F + j)] > 0) {
        r.fired.push_back(int32_t(j));
        break;
      }

  // Backward.
  for (auto& [ptr, n] : g.tensors()) std::fill(ptr, ptr + n, 0.f);
  cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, int(F), int(D2), int(B), 1.f, f.data(), int(F), gx.data(), int(D2), 0.f,
              g.W_dec.data(), int(D2));
  for (int64_t b = 0; b < B; ++b)
    for (int64_t j = 0; j < D2; ++j) g.b_dec[size_t(j)] += gx[size_t(b * D2 + j)];
  std::vector<float> df(size_t(B * F));
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, int(B), int(F), int(D2), 1.f, gx.data(), int(D2), p.W_dec.data(), int(D2), 0.f,
              df.data(), int(F));
  if (lam > 0) {
    // L1 term: λ/B Σ_b f_bj (||d_j0|| + ||d_j1||): into df and into W_dec via d||v||/dv = v/||v||.
    for (int64_t j = 0; j < F; ++j) {
      double fsum = 0;
      for (int64_t b = 0; b < B; ++b) fsum += f[size_t(b * F + j)];
      for (int m = 0; m < 2; ++m) {
        const float nrm = norms[size_t(2 * j + m)];
        if (nrm == 0) continue;
        for (int64_t i = 0; i < p.d; ++i)
          g.W_dec[size_t(j * D2 + m * p.d + i)] += float(lam / double(B) * fsum * p.W_dec[size_t(j * D2 + m * p.d + i)] / nrm);
      }
      for (int64_t b = 0; b < B; ++b) df[size_t(b * F + j)] += float(lam / double(B) * (norms[size_t(2 * j)] + norms[size_t(2 * j + 1)]));
    }
  }
  for (int64_t b = 0; b < B; ++b)
    for (int64_t j = 0; j < F; ++j)
      if (!(f[size_t(b * F + j)] > 0)) df[size_t(b * F + j)] = 0.f;  // ReLU (and top-k mask)
  cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, int(F), int(D2), int(B), 1.f, df.data(), int(F), in.x, int(D2), 0.f,
              g.W_encT.data(), int(D2));
  for (int64_t b = 0; b < B; ++b)
    for (int64_t j = 0; j < F; ++j) g.b_enc[size_t(j)] += df[size_t(b * F + j)];
  if (topk && in.dead) {
    StepWorkspace ws;
    r.aux = aux_loss_and_grad(p, c, in, xh.data(), pre.data(), *in.dead, g, ws);
  }
  r.loss += c.aux_coeff * r.aux * (topk ? 1.0 : 0.0);
  return r;
}

}  // namespace cc
