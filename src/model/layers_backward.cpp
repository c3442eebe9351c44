// Gradients of the Qwen2 layer kernels. Shapes as in layers_backward.hpp; products go to sgemm.
#include "model/layers_backward.hpp"

#include <cblas.h>

#include <algorithm>
#include <cmath>
#include <cstring>

namespace cc {

void rmsnorm_backward(float* dx, float* dw, const float* dy, const float* x, const float* w, int64_t T, int64_t d, float eps) {
  for (int64_t t = 0; t < T; ++t) {
    const float* xr = x + t * d;
    const float* g = dy + t * d;
    double ss = 0;
    for (int64_t i = 0; i < d; ++i) ss += double(xr[i]) * xr[i];
    const double r = 1.0 / std::sqrt(ss / double(d) + double(eps));
    double dot = 0;  // Σ_j w_j g_j x_j
    for (int64_t i = 0; i < d; ++i) dot += double(w[i]) * g[i] * xr[i];
    const double c = r * r * r * dot / double(d);
    for (int64_t i = 0; i < d; ++i) {
      dx[t * d + i] = float(r * double(w[i]) * g[i] - c * xr[i]);
      dw[i] += float(double(g[i]) * xr[i] * r);
    }
  }
}

void rope_backward(float* dx, int64_t ld, int64_t T, int64_t n_heads, int64_t head_dim, const float* cos, const float* sin) {
  const int64_t half = head_dim / 2;
  for (int64_t t = 0; t < T; ++t)
    for (int64_t h = 0; h < n_heads; ++h) {
      float* p = dx + t * ld + h * head_dim;
      const float* c = cos + t * half;
      const float* s = sin + t * half;
      for (int64_t i = 0; i < half; ++i) {
        // Forward: y1 = x1 c − x2 s, y2 = x2 c + x1 s; its transpose maps (g1, g2) to:
        const float g1 = p[i], g2 = p[i + half];
        p[i] = g1 * c[i] + g2 * s[i];
        p[i + half] = g2 * c[i] - g1 * s[i];
      }
    }
}

void swiglu_backward(float* dgate, float* dup, const float* dout, const float* gate, const float* up, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    const float g = gate[i];
    const float sg = 1.f / (1.f + std::exp(-g));
    const float silu = g * sg;
    dup[i] = dout[i] * silu;
    dgate[i] = dout[i] * up[i] * sg * (1.f + g * (1.f - sg));
  }
}

void linear_backward(float* dx, float* dW, float* db, const float* dy, const float* x, const float* W, int64_t M, int64_t in,
                     int64_t out) {
  if (dx)  // dx[M,in] = dy[M,out] · W[out,in]
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, int(M), int(in), int(out), 1.f, dy, int(out), W, int(in), 0.f, dx, int(in));
  // dW[out,in] += dyᵀ[out,M] · x[M,in]
  cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, int(out), int(in), int(M), 1.f, dy, int(out), x, int(in), 1.f, dW, int(in));
  if (db)
    for (int64_t m = 0; m < M; ++m)
      for (int64_t o = 0; o < out; ++o) db[o] += dy[m * out + o];
}

void attention_backward(float* dq, float* dk, float* dv, const float* dout, const float* q, const float* k, const float* v,
                        int64_t T, int64_t n_heads, int64_t n_kv, int64_t hd, std::vector<float>& scratch) {
  const int64_t group = n_heads / n_kv, ldq = n_heads * hd, ldkv = n_kv * hd;
  const float scale = 1.f / std::sqrt(float(hd));
  std::memset(dk, 0, size_t(T * ldkv) * sizeof(float));
  std::memset(dv, 0, size_t(T * ldkv) * sizeof(float));
  scratch.resize(size_t(2 * T * T));
  float* P = scratch.data();
  float* dP = P + T * T;
  for (int64_t h = 0; h < n_heads; ++h) {
    const int64_t kh = h / group;
    const float* qh = q + h * hd;
    const float* kk = k + kh * hd;
    const float* vv = v + kh * hd;
    const float* go = dout + h * hd;
    // P = softmax(scale · q kᵀ) over the causal prefix, exactly as attention_forward computes it.
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, int(T), int(T), int(hd), scale, qh, int(ldq), kk, int(ldkv), 0.f, P, int(T));
    for (int64_t i = 0; i < T; ++i) {
      float* row = P + i * T;
      float mx = -INFINITY;
      for (int64_t j = 0; j <= i; ++j) mx = std::max(mx, row[j]);
      float sum = 0.f;
      for (int64_t j = 0; j <= i; ++j) {
        row[j] = std::exp(row[j] - mx);
        sum += row[j];
      }
      const float inv = 1.f / sum;
      for (int64_t j = 0; j <= i; ++j) row[j] *= inv;
      for (int64_t j = i + 1; j < T; ++j) row[j] = 0.f;
    }
    // dV += Pᵀ dO; dP = dO Vᵀ.
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, int(T), int(hd), int(T), 1.f, P, int(T), go, int(ldq), 1.f, dv + kh * hd, int(ldkv));
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, int(T), int(T), int(hd), 1.f, go, int(ldq), vv, int(ldkv), 0.f, dP, int(T));
    // dS = P ⊙ (dP − rowsum(P ⊙ dP)), kept in dP.
    for (int64_t i = 0; i < T; ++i) {
      float* pr = P + i * T;
      float* dr = dP + i * T;
      float s = 0.f;
      for (int64_t j = 0; j <= i; ++j) s += pr[j] * dr[j];
      for (int64_t j = 0; j <= i; ++j) dr[j] = pr[j] * (dr[j] - s);
      for (int64_t j = i + 1; j < T; ++j) dr[j] = 0.f;
    }
    // dQ = scale · dS K; dK += scale · dSᵀ Q.
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, int(T), int(hd), int(T), scale, dP, int(T), kk, int(ldkv), 0.f, dq + h * hd, int(ldq));
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, int(T), int(hd), int(T), scale, dP, int(T), qh, int(ldq), 1.f, dk + kh * hd, int(ldkv));
  }
}

double cross_entropy_backward(float* logits, const int32_t* targets, int64_t T, int64_t V, int64_t* count) {
  int64_t n = 0;
  for (int64_t t = 0; t < T; ++t) n += targets[t] >= 0;
  if (count) *count = n;
  double loss = 0;
  for (int64_t t = 0; t < T; ++t) {
    float* z = logits + t * V;
    if (targets[t] < 0) {
      std::fill(z, z + V, 0.f);
      continue;
    }
    float mx = -INFINITY;
    for (int64_t i = 0; i < V; ++i) mx = std::max(mx, z[i]);
    double sum = 0;
    for (int64_t i = 0; i < V; ++i) sum += std::exp(double(z[i] - mx));
    const double lse = double(mx) + std::log(sum);
    loss += lse - z[targets[t]];
    const double inv_n = 1.0 / double(std::max<int64_t>(n, 1));
    for (int64_t i = 0; i < V; ++i) z[i] = float(std::exp(double(z[i]) - lse) * inv_n);
    z[targets[t]] -= float(inv_n);
  }
  return loss;
}

}  // namespace cc
