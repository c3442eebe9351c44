// Shared step pieces.
#include "crosscoder/step_common.hpp"

#include <algorithm>
#include <cmath>
#include <string>

#include "core/parallel.hpp"
#include "dist/comm.hpp"

namespace cc {

double batch_topk_mask(std::vector<float>& f, const std::vector<float>& norms, int64_t B, int64_t F, int64_t k) {
  const int64_t K = k * B;
  std::vector<float> scores;
  for (int64_t b = 0; b < B; ++b)
    for (int64_t j = 0; j < F; ++j)
      if (f[size_t(b * F + j)] > 0) scores.push_back(f[size_t(b * F + j)] * (norms[size_t(2 * j)] + norms[size_t(2 * j + 1)]));
  if (scores.empty()) return 0.0;
  if (int64_t(scores.size()) <= K) return *std::min_element(scores.begin(), scores.end());
  std::vector<float> s = scores;
  std::nth_element(s.begin(), s.begin() + (K - 1), s.end(), std::greater<float>());
  const float thr = s[size_t(K - 1)];
  // Keep scores above thr, then ties at thr in index order until exactly K are kept.
  int64_t above = 0;
  for (float v : scores) above += v > thr;
  int64_t ties_left = K - above;
  for (int64_t b = 0; b < B; ++b)
    for (int64_t j = 0; j < F; ++j) {
      float& v = f[size_t(b * F + j)];
      if (!(v > 0)) continue;
      const float sc = v * (norms[size_t(2 * j)] + norms[size_t(2 * j + 1)]);
      if (sc > thr) continue;
      if (sc == thr && ties_left > 0) {
        --ties_left;
        continue;
      }
      v = 0.f;
    }
  return double(thr);
}

void explained_variance(const float* x, const float* xh, int64_t B, int64_t d, double ev[2]) {
  for (int m = 0; m < 2; ++m) {
    std::vector<double> mean(size_t(d), 0.0);
    for (int64_t b = 0; b < B; ++b)
      for (int64_t i = 0; i < d; ++i) mean[size_t(i)] += x[b * 2 * d + m * d + i];
    for (auto& v : mean) v /= double(B);
    double err = 0, var = 0;
    for (int64_t b = 0; b < B; ++b)
      for (int64_t i = 0; i < d; ++i) {
        const double xv = x[b * 2 * d + m * d + i];
        const double e = double(xh[b * 2 * d + m * d + i]) - xv;
        err += e * e;
        var += (xv - mean[size_t(i)]) * (xv - mean[size_t(i)]);
      }
    ev[m] = var > 0 ? 1.0 - err / var : 0.0;
  }
}

namespace {

// (activation, feature) pairs best first: larger activation, then lower feature.
bool better(const std::pair<float, int64_t>& u, const std::pair<float, int64_t>& v) {
  return u.first > v.first || (u.first == v.first && u.second < v.second);
}

// Each row's k_aux largest dead activations over the whole dictionary, as this rank's (feature,
// activation) pairs in ws.aux_sel, features ascending. Every rank proposes its own best k_aux per
// row; the proposals are exchanged and each rank keeps its features among the row's best.
void select_dead(const float* pre, int64_t B, int64_t F, int64_t k_aux, const FeatureShard& shard, StepWorkspace& ws) {
  std::vector<std::vector<std::pair<int32_t, float>>>& sel = ws.aux_sel;
  sel.resize(size_t(B));
  parallel_for(B, 16, [&](int64_t b0, int64_t b1) {
    std::vector<std::pair<float, int64_t>> cand;
    for (int64_t b = b0; b < b1; ++b) {
      cand.clear();
      for (int32_t j : ws.aux_dead) {
        const float a = pre[b * F + j];
        if (a > 0) cand.push_back({a, j});
      }
      const size_t kk = std::min(size_t(k_aux), cand.size());
      std::partial_sort(cand.begin(), cand.begin() + long(kk), cand.end(), better);
      sel[size_t(b)].clear();
      for (size_t t = 0; t < kk; ++t) sel[size_t(b)].push_back({int32_t(cand[t].second), cand[t].first});
    }
  });
  if (!shard.whole()) {
    // Proposals as (row, global feature, activation); every rank's, then each row's best k_aux.
    struct Proposal {
      int64_t row, feature;
      float a, unused;
    };
    std::vector<Proposal> mine;
    for (int64_t b = 0; b < B; ++b)
      for (const auto& [j, a] : sel[size_t(b)]) mine.push_back({b, shard.f0 + j, a, 0.f});
    std::vector<std::vector<std::pair<float, int64_t>>> rows(static_cast<size_t>(B));
    const std::string bytes(reinterpret_cast<const char*>(mine.data()), mine.size() * sizeof(Proposal));
    for (const std::string& part : dist::allgather(bytes)) {
      const Proposal* q = reinterpret_cast<const Proposal*>(part.data());
      for (size_t i = 0; i < part.size() / sizeof(Proposal); ++i) rows[size_t(q[i].row)].push_back({q[i].a, q[i].feature});
    }
    parallel_for(B, 16, [&](int64_t b0, int64_t b1) {
      for (int64_t b = b0; b < b1; ++b) {
        auto& cand = rows[size_t(b)];
        const size_t kk = std::min(size_t(k_aux), cand.size());
        std::partial_sort(cand.begin(), cand.begin() + long(kk), cand.end(), better);
        sel[size_t(b)].clear();
        for (size_t t = 0; t < kk; ++t)
          if (cand[t].second >= shard.f0 && cand[t].second < shard.f1)
            sel[size_t(b)].push_back({int32_t(cand[t].second - shard.f0), cand[t].first});
      }
    });
  }
  parallel_for(B, 64, [&](int64_t b0, int64_t b1) {
    for (int64_t b = b0; b < b1; ++b) std::sort(sel[size_t(b)].begin(), sel[size_t(b)].end());
  });
}

}  // namespace

double aux_loss_and_grad(const CrosscoderParams& p, const CrosscoderConfig& c, const StepInput& in, const float* xh,
                         const float* pre, const std::vector<uint8_t>& dead, CrosscoderParams& g, StepWorkspace& ws) {
  const int64_t B = in.B, D2 = 2 * p.d, F = p.F;
  const FeatureShard shard = in.shard ? *in.shard : FeatureShard::whole_dictionary(F);
  std::vector<int32_t>& dead_ids = ws.aux_dead;
  dead_ids.clear();
  for (int64_t j = 0; j < F; ++j)
    if (dead[size_t(j)]) dead_ids.push_back(int32_t(j));
  int64_t n_dead = int64_t(dead_ids.size());
  if (!shard.whole()) dist::allreduce_sum(&n_dead, 1);
  if (n_dead == 0) return 0.0;
  const int64_t k_aux = std::min<int64_t>(p.d / 2, n_dead);
  std::vector<float>& e = ws.aux_e;
  std::vector<float>& eh = ws.aux_eh;
  e.resize(size_t(B * D2));
  eh.resize(size_t(B * D2));
  std::vector<double> mean(size_t(D2), 0.0);
  for (int64_t b = 0; b < B; ++b)
    for (int64_t j = 0; j < D2; ++j) {
      e[size_t(b * D2 + j)] = in.x[b * D2 + j] - xh[b * D2 + j];
      mean[size_t(j)] += e[size_t(b * D2 + j)];
    }
  double denom = 0;
  for (int64_t b = 0; b < B; ++b)
    for (int64_t j = 0; j < D2; ++j) {
      const double v = e[size_t(b * D2 + j)] - mean[size_t(j)] / double(B);
      denom += v * v;
    }
  denom /= double(B);
  if (denom <= 0) return 0.0;
  // Each row's top-k_aux dead activations, and their reconstruction of the row's error summed in
  // feature order (the decoder's order, which the ranks' pipeline keeps).
  select_dead(pre, B, F, k_aux, shard, ws);
  const std::vector<std::vector<std::pair<int32_t, float>>>& sel = ws.aux_sel;
  chain_over_features(eh.data(), B, D2, nullptr, shard, [&](int64_t r0, int64_t r1) {
    parallel_for(r1 - r0, 16, [&](int64_t b0, int64_t b1) {
      for (int64_t b = r0 + b0; b < r0 + b1; ++b)
        for (const auto& [j, a] : sel[size_t(b)]) {
          const float* w = p.W_dec.data() + int64_t(j) * D2;
          for (int64_t q = 0; q < D2; ++q) eh[size_t(b * D2 + q)] += a * w[q];
        }
    });
  });
  double num = 0;
  for (size_t i = 0; i < e.size(); ++i) num += double(eh[i] - e[i]) * (eh[i] - e[i]);
  num /= double(B);
  const double aux = num / denom;
  // d(coeff · aux)/dê = coeff · 2 (ê - e) / (B · denom). The gradient of feature j sums over the
  // rows that selected it, in row order (so the result does not depend on the thread count): the
  // selections are regrouped by feature, and features run in parallel.
  const double s = c.aux_coeff * 2.0 / (double(B) * denom);
  std::vector<double>& ge = ws.aux_ge;  // per row: s · (ê − e)
  ge.resize(size_t(B * D2));
  parallel_for(B, 64, [&](int64_t b0, int64_t b1) {
    for (int64_t i = b0 * D2; i < b1 * D2; ++i) ge[size_t(i)] = s * (double(eh[size_t(i)]) - e[size_t(i)]);
  });
  std::vector<int64_t>& ptr = ws.aux_ptr;
  ptr.assign(size_t(F) + 1, 0);
  for (const auto& row : sel)
    for (const auto& [j, a] : row) ptr[size_t(j) + 1]++;
  for (int64_t j = 0; j < F; ++j) ptr[size_t(j + 1)] += ptr[size_t(j)];
  std::vector<std::pair<int32_t, float>>& by_feature = ws.aux_by_feature;  // (row, activation)
  by_feature.resize(size_t(ptr[size_t(F)]));
  std::vector<int64_t>& fill = ws.aux_fill;
  fill.assign(ptr.begin(), ptr.end() - 1);
  for (int64_t b = 0; b < B; ++b)
    for (const auto& [j, a] : sel[size_t(b)]) by_feature[size_t(fill[size_t(j)]++)] = {int32_t(b), a};
  parallel_for(int64_t(dead_ids.size()), 4, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) {
      const int32_t j = dead_ids[size_t(i)];
      float* gw = g.W_dec.data() + int64_t(j) * D2;
      float* gwe = g.W_encT.data() + int64_t(j) * D2;
      const float* w = p.W_dec.data() + int64_t(j) * D2;
      for (int64_t e2 = ptr[size_t(j)]; e2 < ptr[size_t(j + 1)]; ++e2) {
        const auto [b, a] = by_feature[size_t(e2)];
        const double* gr = ge.data() + int64_t(b) * D2;
        double da = 0;
        for (int64_t q = 0; q < D2; ++q) {
          gw[q] += float(a * gr[q]);
          da += gr[q] * w[q];
        }
        for (int64_t q = 0; q < D2; ++q) gwe[q] += float(da * in.x[b * D2 + q]);
        g.b_enc[size_t(j)] += float(da);
      }
    }
  });
  return aux;
}

}  // namespace cc
