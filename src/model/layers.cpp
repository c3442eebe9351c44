// Layer kernels. Attention uses sgemm per head over query blocks, so its scratch stays bounded.
#include "model/layers.hpp"

#include <cblas.h>

#include <algorithm>
#include <cmath>

#include "core/dot.hpp"
#include "core/parallel.hpp"

namespace cc {

void rmsnorm_forward(float* out, const float* x, const float* w, int64_t T, int64_t d, float eps) {
  for (int64_t t = 0; t < T; ++t) {
    const float* xr = x + t * d;
    float* o = out + t * d;
    float ss = 0.f;
    for (int64_t i = 0; i < d; ++i) ss += xr[i] * xr[i];
    const float r = 1.f / std::sqrt(ss / float(d) + eps);
    for (int64_t i = 0; i < d; ++i) o[i] = w[i] * (xr[i] * r);
  }
}

void rope_tables(std::vector<float>& cos, std::vector<float>& sin, const int32_t* positions, int64_t T,
                 int64_t hd, double theta) {
  const int64_t half = hd / 2;
  std::vector<float> inv_freq(static_cast<size_t>(half));
  for (int64_t i = 0; i < half; ++i)
    inv_freq[size_t(i)] = 1.0f / float(std::pow(theta, double(float(2 * i) / float(hd))));
  cos.resize(size_t(T * half));
  sin.resize(size_t(T * half));
  for (int64_t t = 0; t < T; ++t)
    for (int64_t i = 0; i < half; ++i) {
      const float a = float(positions[t]) * inv_freq[size_t(i)];
      cos[size_t(t * half + i)] = float(std::cos(double(a)));
      sin[size_t(t * half + i)] = float(std::sin(double(a)));
    }
}

void rope_forward(float* x, int64_t ld, int64_t T, int64_t n_heads, int64_t hd, const float* cos,
                  const float* sin) {
  const int64_t half = hd / 2;
  for (int64_t t = 0; t < T; ++t) {
    const float* c = cos + t * half;
    const float* s = sin + t * half;
    for (int64_t h = 0; h < n_heads; ++h) {
      float* x1 = x + t * ld + h * hd;
      float* x2 = x1 + half;
      for (int64_t i = 0; i < half; ++i) {
        const float a = x1[i], b = x2[i];
        x1[i] = a * c[i] - b * s[i];
        x2[i] = b * c[i] + a * s[i];
      }
    }
  }
}

void swiglu_forward(float* out, const float* gate, const float* up, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    const float g = gate[i];
    out[i] = g / (1.f + std::exp(-g)) * up[i];
  }
}

namespace {

// Decode-sized attention (one or two query rows) and short sequences (at most 16 keys) as plain
// loops: two sgemm calls per head cost more in OpenBLAS's call and thread overhead than the
// arithmetic there (perf: 30% of a batched decode step). `build/bench/bench_attention` (1.5B heads,
// 2 threads), loops vs the two-sgemm path: 64 sequences of 5 / 12 / 16 / 24 tokens 7.1x / 2.1x /
// 1.5x / 1.0x; against a 2,048-token cache 1 / 2 / 4 query rows 1.6x / 1.0x / 0.5x
// (docs/PERFORMANCE.md). Same math: scores, causal softmax, weighted sum of values.
constexpr int64_t kDirectAttentionRows = 2;
constexpr int64_t kDirectAttentionKeys = 16;
bool direct_attention(const AttentionSeq& a) { return a.Tq <= kDirectAttentionRows || a.past + a.Tq <= kDirectAttentionKeys; }
// Query rows per block of the sgemm path: bounds a unit's scratch at block × keys floats.
constexpr int64_t kAttentionBlock = 256;
// Score entries a thread should get before a batch's attention is split over threads: waking a
// sleeping worker costs tens of µs, about what 4096 scores × 2 products of a 64-wide head take.
constexpr int64_t kScoresPerThread = 4096;

// One head over nq query rows at positions first..first+nq-1, each against its causal prefix, as
// loops. S holds first+nq floats.
void attention_direct_head(float* out, int64_t ldo, const float* q, int64_t ldq, const float* k, const float* v,
                           int64_t ldkv, int64_t nq, int64_t first, int64_t hd, float scale, float* S) {
  for (int64_t i = 0; i < nq; ++i) {
    const int64_t visible = first + i + 1;
    const float* qi = q + i * ldq;
    float mx = -INFINITY;
    for (int64_t j = 0; j < visible; ++j) {
      S[j] = scale * dot_f32(qi, k + j * ldkv, hd);
      mx = std::max(mx, S[j]);
    }
    float sum = 0.f;
    for (int64_t j = 0; j < visible; ++j) {
      S[j] = std::exp(S[j] - mx);
      sum += S[j];
    }
    const float inv = 1.f / sum;
    float* o = out + i * ldo;
    std::fill(o, o + hd, 0.f);
    for (int64_t j = 0; j < visible; ++j) {
      const float p = S[j] * inv;
      const float* vj = v + j * ldkv;
      for (int64_t c = 0; c < hd; ++c) o[c] += p * vj[c];
    }
  }
}

// One head over one block of nq queries at positions first..first+nq-1 against nk keys: scores,
// causal softmax, weighted sum of values. S holds nq × nk floats.
void attention_block_head(float* out, int64_t ldo, const float* q, int64_t ldq, const float* k, const float* v,
                          int64_t ldkv, int64_t nq, int64_t nk, int64_t first, int64_t hd, float scale, float* S) {
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, int(nq), int(nk), int(hd), scale, q, int(ldq), k, int(ldkv),
              0.f, S, int(nk));
  for (int64_t i = 0; i < nq; ++i) {
    float* row = S + i * nk;
    const int64_t visible = first + i + 1;
    float mx = -INFINITY;
    for (int64_t j = 0; j < visible; ++j) mx = std::max(mx, row[j]);
    float sum = 0.f;
    for (int64_t j = 0; j < visible; ++j) {
      row[j] = std::exp(row[j] - mx);
      sum += row[j];
    }
    const float inv = 1.f / sum;
    for (int64_t j = 0; j < visible; ++j) row[j] *= inv;
    for (int64_t j = visible; j < nk; ++j) row[j] = 0.f;
  }
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, int(nq), int(hd), int(nk), 1.f, S, int(nk), v, int(ldkv),
              0.f, out, int(ldo));
}

// One unit of a batch's attention: head h of sequence s over query rows q0..q0+nq-1.
struct AttentionUnit {
  int64_t s, h, q0, nq;
  int64_t keys(const AttentionSeq& a) const { return a.past + q0 + nq; }  // visible to the unit's last query
};

// Units in (sequence, head, block) order. A sequence the direct loops take (one or two rows, or a
// few keys) is one unit per head; any other a unit per head and query block (two sgemm calls each).
std::vector<AttentionUnit> attention_units(std::span<const AttentionSeq> seqs, int64_t n_heads) {
  std::vector<AttentionUnit> units;
  for (size_t s = 0; s < seqs.size(); ++s) {
    const int64_t Tq = seqs[s].Tq;
    const int64_t block = direct_attention(seqs[s]) ? Tq : kAttentionBlock;
    for (int64_t h = 0; h < n_heads; ++h)
      for (int64_t q0 = 0; q0 < Tq; q0 += block) units.push_back({int64_t(s), h, q0, std::min(block, Tq - q0)});
  }
  return units;
}

// cut[p]..cut[p+1] is part p of cut.size() - 1 runs of consecutive units with near-equal score
// counts (the causal blocks and the sequences differ in size, so equal unit counts would not
// balance). Units must not be empty.
std::vector<size_t> balanced_cuts(std::span<const AttentionSeq> seqs, const std::vector<AttentionUnit>& units) {
  std::vector<int64_t> prefix(units.size() + 1, 0);
  for (size_t u = 0; u < units.size(); ++u) prefix[u + 1] = prefix[u] + units[u].nq * units[u].keys(seqs[size_t(units[u].s)]);
  const int64_t total = prefix.back();
  const int64_t parts = std::clamp<int64_t>(total / kScoresPerThread, 1, std::min<int64_t>(num_threads(), int64_t(units.size())));
  std::vector<size_t> cut(size_t(parts) + 1, units.size());
  cut[0] = 0;
  for (int64_t p = 1; p < parts; ++p)
    cut[size_t(p)] = size_t(std::lower_bound(prefix.begin(), prefix.end(), total * p / parts) - prefix.begin());
  return cut;
}

}  // namespace

void attention_forward_batch(std::span<const AttentionSeq> seqs, const AttentionShape& sh) {
  const int64_t group = sh.n_heads / sh.n_kv;
  const float scale = 1.f / std::sqrt(float(sh.hd));
  const std::vector<AttentionUnit> units = attention_units(seqs, sh.n_heads);
  if (units.empty()) return;  // no query rows
  const std::vector<size_t> cut = balanced_cuts(seqs, units);
  // OpenBLAS single-threaded inside: the products are small (256 × keys × hd), and its own
  // threading of each cost more than the arithmetic. One pool call for the whole batch: a call
  // per sequence woke the workers hundreds of times per layer for batches of short sequences.
  parallel_for_blas(int64_t(cut.size()) - 1, 1, [&](int64_t p0, int64_t p1) {
    thread_local std::vector<float> S;
    for (size_t u = cut[size_t(p0)]; u < cut[size_t(p1)]; ++u) {
      const AttentionUnit& un = units[u];
      const AttentionSeq& a = seqs[size_t(un.s)];
      float* out = a.out + un.q0 * sh.ldo + un.h * sh.hd;
      const float* q = a.q + un.q0 * sh.ldq + un.h * sh.hd;
      const int64_t off = (un.h / group) * sh.hd;
      const int64_t nk = un.keys(a);
      if (direct_attention(a)) {
        S.resize(size_t(nk));
        attention_direct_head(out, sh.ldo, q, sh.ldq, a.k + off, a.v + off, sh.ldkv, un.nq, a.past + un.q0, sh.hd, scale, S.data());
      } else {
        S.resize(size_t(un.nq * nk));
        attention_block_head(out, sh.ldo, q, sh.ldq, a.k + off, a.v + off, sh.ldkv, un.nq, nk, a.past + un.q0, sh.hd, scale,
                             S.data());
      }
    }
  });
}

void attention_forward(float* out, int64_t ldo, const float* q, int64_t ldq, const float* k, const float* v, int64_t ldkv,
                       int64_t Tq, int64_t past, int64_t n_heads, int64_t n_kv, int64_t hd) {
  const AttentionSeq one{out, q, k, v, Tq, past};
  attention_forward_batch({&one, 1}, {ldo, ldq, ldkv, n_heads, n_kv, hd});
}

}  // namespace cc
