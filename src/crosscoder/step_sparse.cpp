// Sparse step: the encoder product is one dense sgemm; the decoder, the gradient with respect to
// the features and the gradients of W_dec, W_enc and the biases loop over active (row, feature)
// pairs only — O(L0·B·d) instead of O(F·B·d).
#include <algorithm>
#include <cmath>
#include <cstring>
#include <utility>

#include "core/dot.hpp"
#include "core/parallel.hpp"
#include "dist/comm.hpp"
#include "crosscoder/active_set.hpp"
#include "crosscoder/step.hpp"
#include "crosscoder/step_common.hpp"

namespace cc {

namespace {

// The feature-major view: for feature j, entries [col_ptr[j], col_ptr[j+1]) hold (row, index into
// the row-major lists), rows ascending.
void transpose_pairs(int64_t B, int64_t F, StepWorkspace& ws) {
  ws.col_ptr.assign(size_t(F + 1), 0);
  for (int32_t j : ws.col) ++ws.col_ptr[size_t(j) + 1];
  for (int64_t j = 0; j < F; ++j) ws.col_ptr[size_t(j + 1)] += ws.col_ptr[size_t(j)];
  ws.row.resize(ws.col.size());
  ws.idx.resize(ws.col.size());
  ws.fill.assign(ws.col_ptr.begin(), ws.col_ptr.end() - 1);
  for (int64_t b = 0; b < B; ++b)
    for (int64_t e = ws.row_ptr[size_t(b)]; e < ws.row_ptr[size_t(b + 1)]; ++e) {
      const int64_t at = ws.fill[size_t(ws.col[size_t(e)])]++;
      ws.row[size_t(at)] = int32_t(b);
      ws.idx[size_t(at)] = e;
    }
}

}  // namespace

void crosscoder_encode(const CrosscoderParams& p, const CrosscoderConfig& c, const float* x, int64_t B, std::vector<float>& f) {
  const int64_t D2 = 2 * p.d, F = p.F;
  f.resize(size_t(B * F));
  encoder_product(x, B, D2, p.W_encT.data(), F, f.data());
  std::vector<float> norms;
  const bool topk = c.architecture == Arch::BatchTopK;
  if (topk) decoder_norms(p, norms);
  for (int64_t b = 0; b < B; ++b)
    for (int64_t j = 0; j < F; ++j) {
      float& v = f[size_t(b * F + j)];
      v = std::max(0.f, v + p.b_enc[size_t(j)]);
      if (topk && v > 0 && v * (norms[size_t(2 * j)] + norms[size_t(2 * j + 1)]) <= p.threshold) v = 0.f;
    }
}

float crosscoder_encode_one(const CrosscoderParams& p, const CrosscoderConfig& c, const float* x, int64_t j, const std::vector<float>& norms) {
  const int64_t D2 = 2 * p.d;
  const float* w = p.W_encT.data() + j * D2;
  double s = 0;
  for (int64_t q = 0; q < D2; ++q) s += double(w[q]) * x[q];
  const float v = std::max(0.f, float(s) + p.b_enc[size_t(j)]);
  if (c.architecture == Arch::BatchTopK && v > 0 && v * (norms[size_t(2 * j)] + norms[size_t(2 * j + 1)]) <= p.threshold) return 0.f;
  return v;
}

void crosscoder_decode(const CrosscoderParams& p, const float* f, int64_t B, float* xhat) {
  crosscoder_decode(p, f, B, xhat, FeatureShard::whole_dictionary(p.F));
}

void crosscoder_decode(const CrosscoderParams& p, const float* f, int64_t B, float* xhat, const FeatureShard& s) {
  const int64_t D2 = 2 * p.d, F = p.F;
  chain_over_features(xhat, B, D2, p.b_dec.data(), s, [&](int64_t b0, int64_t b1) {
    for (int64_t b = b0; b < b1; ++b) {
      float* o = xhat + b * D2;
      const float* fr = f + b * F;
      for (int64_t j = 0; j < F; ++j)
        if (fr[j] > 0)
          for (int64_t q = 0; q < D2; ++q) o[q] += fr[j] * p.W_dec[size_t(j * D2 + q)];
    }
  });
}

StepResult crosscoder_step_sparse(const CrosscoderParams& p, const CrosscoderConfig& c, const StepInput& in,
                                  CrosscoderParams& g) {
  const int64_t B = in.B, d = p.d, D2 = 2 * d, F = p.F;
  const bool topk = c.architecture == Arch::BatchTopK;
  const FeatureShard shard = in.shard ? *in.shard : FeatureShard::whole_dictionary(F);
  StepWorkspace local;
  StepWorkspace& ws = in.ws ? *in.ws : local;
  std::vector<float>& pre = ws.pre;
  std::vector<float>& norms = ws.norms;
  pre.resize(size_t(B * F));
  decoder_norms(p, norms);
  encoder_product(in.x, B, D2, p.W_encT.data(), F, pre.data());
  StepResult r;
  r.min_kept_score = select_active(pre.data(), p.b_enc, norms, B, F, topk ? c.k : 0, ws, shard);
  const std::vector<int64_t>& row_ptr = ws.row_ptr;
  const std::vector<int32_t>& col = ws.col;
  const std::vector<float>& val = ws.val;
  const int64_t nnz = int64_t(col.size());
  int64_t nnz_all = nnz;
  if (!shard.whole()) dist::allreduce_sum(&nnz_all, 1);
  r.l0 = double(nnz_all) / double(B);

  // Decoder: x̂_b = b_dec + Σ f_bj W_dec[j], features ascending (across ranks too).
  std::vector<float>& xh = ws.xh;
  std::vector<float>& gx = ws.gx;
  xh.resize(size_t(B * D2));
  gx.resize(size_t(B * D2));
  chain_over_features(xh.data(), B, D2, p.b_dec.data(), shard, [&](int64_t r0, int64_t r1) {
    parallel_for(r1 - r0, 8, [&](int64_t b0, int64_t b1) {
      for (int64_t b = r0 + b0; b < r0 + b1; ++b) {
        const int64_t e0 = row_ptr[size_t(b)];
        add_scaled_rows(xh.data() + b * D2, D2, row_ptr[size_t(b + 1)] - e0, [&](int64_t e) {
          return std::pair{val[size_t(e0 + e)], p.W_dec.data() + int64_t(col[size_t(e0 + e)]) * D2};
        });
      }
    });
  });
  double l2 = 0;
  for (int64_t i = 0; i < B * D2; ++i) {
    const double e = double(xh[size_t(i)]) - in.x[i];
    l2 += e * e;
    gx[size_t(i)] = float(2.0 * e / double(B));
  }
  r.l2 = l2 / double(B);
  explained_variance(in.x, xh.data(), B, d, r.ev);
  transpose_pairs(B, F, ws);
  const std::vector<int64_t>& col_ptr = ws.col_ptr;
  // L1 = Σ_j (||d_j,A|| + ||d_j,B||) Σ_b f_bj / B, summed per feature, then over features in order.
  ws.feature_terms.resize(size_t(F));
  parallel_for(F, 256, [&](int64_t j0, int64_t j1) {
    for (int64_t j = j0; j < j1; ++j) {
      double fsum = 0;
      for (int64_t e = col_ptr[size_t(j)]; e < col_ptr[size_t(j + 1)]; ++e) fsum += val[size_t(ws.idx[size_t(e)])];
      ws.feature_terms[size_t(j)] = fsum * (double(norms[size_t(2 * j)]) + norms[size_t(2 * j + 1)]);
    }
  });
  r.l1 = ordered_feature_sum(ws.feature_terms, shard) / double(B);
  const double lam = topk ? 0.0 : in.l1_coeff;
  r.loss = r.l2 + lam * r.l1;

  // Backward.
  for (auto& [ptr, n] : g.tensors()) std::memset(ptr, 0, n * sizeof(float));
  for (int64_t j = 0; j < F; ++j)
    if (col_ptr[size_t(j + 1)] > col_ptr[size_t(j)]) r.fired.push_back(int32_t(j));
  // dW_dec[j] = Σ_b f_bj gx_b  (+ λ/B Σ_b f_bj · W_dec[j,m]/||W_dec[j,m]||)
  parallel_for(F, 64, [&](int64_t j0, int64_t j1) {
    for (int64_t j = j0; j < j1; ++j) {
      float* gw = g.W_dec.data() + j * D2;
      const int64_t e0 = col_ptr[size_t(j)], e1 = col_ptr[size_t(j + 1)];
      double fsum = 0;
      for (int64_t e = e0; e < e1; ++e) fsum += val[size_t(ws.idx[size_t(e)])];
      add_scaled_rows(gw, D2, e1 - e0, [&](int64_t e) {
        return std::pair{val[size_t(ws.idx[size_t(e0 + e)])], gx.data() + int64_t(ws.row[size_t(e0 + e)]) * D2};
      });
      if (lam > 0 && fsum > 0)
        for (int m = 0; m < 2; ++m) {
          const float nrm = norms[size_t(2 * j + m)];
          if (nrm == 0) continue;
          const float s = float(lam / double(B) * fsum / nrm);
          const float* w = p.W_dec.data() + j * D2 + m * d;
          for (int64_t i = 0; i < d; ++i) gw[m * d + i] += s * w[i];
        }
    }
  });
  for (int64_t b = 0; b < B; ++b)
    for (int64_t q = 0; q < D2; ++q) g.b_dec[size_t(q)] += gx[size_t(b * D2 + q)];
  // df_bj = gx_b · W_dec[j] + λ/B (||d_j0|| + ||d_j1||), for active pairs only (ReLU / top-k mask).
  std::vector<float>& dval = ws.dval;
  dval.resize(size_t(nnz));
  parallel_for(B, 8, [&](int64_t b0, int64_t b1) {
    for (int64_t b = b0; b < b1; ++b) {
      const float* gr = gx.data() + b * D2;
      for (int64_t e = row_ptr[size_t(b)]; e < row_ptr[size_t(b + 1)]; ++e) {
        const int32_t j = col[size_t(e)];
        const float* w = p.W_dec.data() + int64_t(j) * D2;
        dval[size_t(e)] = dot_f32(gr, w, D2) + float(lam / double(B) * (norms[size_t(2 * j)] + norms[size_t(2 * j + 1)]));
      }
    }
  });
  // dW_encT[j] = Σ_b df_bj x_b ; db_enc[j] = Σ_b df_bj
  parallel_for(F, 64, [&](int64_t j0, int64_t j1) {
    for (int64_t j = j0; j < j1; ++j) {
      float* gw = g.W_encT.data() + j * D2;
      const int64_t e0 = col_ptr[size_t(j)], e1 = col_ptr[size_t(j + 1)];
      double bsum = 0;
      for (int64_t e = e0; e < e1; ++e) bsum += dval[size_t(ws.idx[size_t(e)])];
      add_scaled_rows(gw, D2, e1 - e0, [&](int64_t e) {
        return std::pair{dval[size_t(ws.idx[size_t(e0 + e)])], in.x + int64_t(ws.row[size_t(e0 + e)]) * D2};
      });
      g.b_enc[size_t(j)] = float(bsum);
    }
  });
  if (topk && in.dead) {
    r.aux = aux_loss_and_grad(p, c, in, xh.data(), pre.data(), *in.dead, g, ws);
    r.loss += c.aux_coeff * r.aux;
  }
  return r;
}

}  // namespace cc
