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

// Decode-sized attention (a few query rows) as plain loops: two sgemm calls per head for one query
// row cost more in OpenBLAS's call and thread overhead than the arithmetic (perf: 30% of a batched
// decode step). Same math: scores, causal softmax, weighted sum of values.
constexpr int64_t kDirectAttentionRows = 4;

void attention_direct(float* out, int64_t ldo, const float* q, int64_t ldq, const float* k, const float* v, int64_t ldkv,
                      int64_t Tq, int64_t past, int64_t n_heads, int64_t group, int64_t hd, float scale,
                      std::vector<float>& scratch) {
  scratch.resize(size_t(past + Tq));
  float* S = scratch.data();
  for (int64_t i = 0; i < Tq; ++i) {
    const int64_t visible = past + i + 1;
    for (int64_t h = 0; h < n_heads; ++h) {
      const float* qh = q + i * ldq + h * hd;
      const int64_t off = (h / group) * hd;
      float mx = -INFINITY;
      for (int64_t j = 0; j < visible; ++j) {
        S[j] = scale * dot_f32(qh, k + j * ldkv + off, hd);
        mx = std::max(mx, S[j]);
      }
      float sum = 0.f;
      for (int64_t j = 0; j < visible; ++j) {
        S[j] = std::exp(S[j] - mx);
        sum += S[j];
      }
      const float inv = 1.f / sum;
      float* o = out + i * ldo + h * hd;
      std::fill(o, o + hd, 0.f);
      for (int64_t j = 0; j < visible; ++j) {
        const float p = S[j] * inv;
        const float* vj = v + j * ldkv + off;
        for (int64_t c = 0; c < hd; ++c) o[c] += p * vj[c];
      }
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

}  // namespace

void attention_forward(float* out, int64_t ldo, const float* q, int64_t ldq, const float* k, const float* v,
                       int64_t ldkv, int64_t Tq, int64_t past, int64_t n_heads, int64_t n_kv, int64_t hd,
                       std::vector<float>& scratch) {
  const int64_t group = n_heads / n_kv;
  const int64_t block = 256;  // query rows per block bounds scratch at block × keys floats
  const float scale = 1.f / std::sqrt(float(hd));
  if (Tq <= kDirectAttentionRows) {
    attention_direct(out, ldo, q, ldq, k, v, ldkv, Tq, past, n_heads, group, hd, scale, scratch);
    return;
  }
  // One unit per (head, query block), spread over our pool with OpenBLAS single-threaded inside: the
  // products are small (256 × keys × hd), and OpenBLAS's own threading of each one cost more than
  // the arithmetic (it wakes its worker per call). Head-major order gives each thread whole heads,
  // so the causal blocks' unequal sizes balance.
  const int64_t blocks = (Tq + block - 1) / block;
  parallel_for_blas(n_heads * blocks, 1, [&](int64_t u0, int64_t u1) {
    thread_local std::vector<float> S_buf;
    for (int64_t u = u0; u < u1; ++u) {
      const int64_t h = u / blocks, q0 = (u % blocks) * block;
      const int64_t nq = std::min(block, Tq - q0);
      const int64_t nk = past + q0 + nq;  // keys visible to the last query of the block
      S_buf.resize(size_t(nq * nk));
      attention_block_head(out + q0 * ldo + h * hd, ldo, q + q0 * ldq + h * hd, ldq, k + (h / group) * hd,
                           v + (h / group) * hd, ldkv, nq, nk, past + q0, hd, scale, S_buf.data());
    }
  });
}

}  // namespace cc
