// The dense crosscoder step on one GPU: cuBLAS for the four products (f32, no TF32, so that it can
// be checked against the CPU reference), small kernels for the element-wise parts, and BatchTopK's
// threshold found by a two-pass radix select over the scores' bits (non-negative floats order like
// their bit patterns). It follows crosscoder/step_dense.cpp line for line; see that file for the
// maths. Not yet run on a GPU (docs/GPU.md).
#include <cublas_v2.h>
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "cuda/cuda_step.hpp"
#include "cuda/radix_select.hpp"

namespace cc::cuda {
namespace {

void check(cudaError_t e, const char* what) {
  if (e != cudaSuccess) fail("", std::string("CUDA ") + what, cudaGetErrorString(e));
}
void check(cublasStatus_t s, const char* what) {
  if (s != CUBLAS_STATUS_SUCCESS) fail("", std::string("cuBLAS ") + what, "failed", "", "status " + std::to_string(int(s)));
}

// A device buffer of n elements, freed on scope exit (also when a later call throws).
template <class T>
struct Buf {
  T* p = nullptr;
  size_t n = 0;
  explicit Buf(size_t count) : n(count) { check(cudaMalloc(&p, std::max<size_t>(1, n) * sizeof(T)), "cudaMalloc"); }
  Buf(const T* host, size_t count) : Buf(count) { up(host); }
  ~Buf() { cudaFree(p); }
  Buf(const Buf&) = delete;
  Buf& operator=(const Buf&) = delete;
  void up(const T* host) { check(cudaMemcpy(p, host, n * sizeof(T), cudaMemcpyHostToDevice), "copy to device"); }
  void down(T* host) const { check(cudaMemcpy(host, p, n * sizeof(T), cudaMemcpyDeviceToHost), "copy to host"); }
  void zero() { check(cudaMemset(p, 0, n * sizeof(T)), "cudaMemset"); }
};

struct Blas {
  cublasHandle_t h = nullptr;
  Blas() {
    check(cublasCreate(&h), "cublasCreate");
    check(cublasSetMathMode(h, CUBLAS_DEFAULT_MATH), "cublasSetMathMode");  // f32 stays f32 (no TF32)
  }
  ~Blas() { cublasDestroy(h); }
  // Row-major C[M,N] = A·B (cblas_sgemm's CblasRowMajor arguments): cuBLAS is column-major, so it
  // computes Cᵀ = Bᵀ·Aᵀ with the operands swapped.
  void gemm(bool ta, bool tb, int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, const float* B, int64_t ldb, float* C,
            int64_t ldc) const {
    const float one = 1.f, zero = 0.f;
    check(cublasSgemm(h, tb ? CUBLAS_OP_T : CUBLAS_OP_N, ta ? CUBLAS_OP_T : CUBLAS_OP_N, int(N), int(M), int(K), &one, B, int(ldb), A,
                      int(lda), &zero, C, int(ldc)),
          "sgemm");
  }
};

constexpr int kThreads = 256;
inline unsigned blocks(int64_t n) { return unsigned((n + kThreads - 1) / kThreads); }

__global__ void bias_relu(float* pre, float* f, const float* b, int64_t B, int64_t F) {
  const int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= B * F) return;
  const float v = pre[i] + b[i % F];
  pre[i] = v;
  f[i] = v > 0.f ? v : 0.f;
}

// score = f·(‖d_A‖+‖d_B‖) as bits (0 for inactive entries, which are never kept).
__global__ void scores(const float* f, const float* norms, unsigned* bits, int64_t B, int64_t F) {
  const int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= B * F) return;
  const int64_t j = i % F;
  const float v = f[i];
  const float s = v > 0.f ? v * (norms[2 * j] + norms[2 * j + 1]) : 0.f;
  bits[i] = v > 0.f ? __float_as_uint(s) : 0u;
}

// Histogram of the high 16 bits of every active score (pass 1), or of the low 16 bits of the
// scores whose high bits are `high` (pass 2).
__global__ void histogram(const unsigned* bits, int64_t n, int pass, unsigned high, unsigned long long* hist) {
  const int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= n) return;
  const unsigned v = bits[i];
  if (v == 0u) return;  // inactive (a kept score of exactly +0 cannot be, since f > 0 and norms > 0)
  if (pass == 1) atomicAdd(&hist[v >> 16], 1ull);
  else if ((v >> 16) == high) atomicAdd(&hist[v & 0xffffu], 1ull);
}

// Zeroes f below the threshold; collects the positions of scores equal to it (ties) into `tie`.
__global__ void keep_above(float* f, const unsigned* bits, int64_t n, unsigned thr, long long* tie, unsigned long long* n_tie,
                           unsigned long long cap) {
  const int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= n) return;
  const unsigned v = bits[i];
  if (v == 0u) {  // inactive, or an active score that rounds to 0: below any kept one
    f[i] = 0.f;
    return;
  }
  if (v > thr) return;
  if (v < thr) {
    f[i] = 0.f;
    return;
  }
  const unsigned long long at = atomicAdd(n_tie, 1ull);
  if (at < cap) tie[at] = i;
}

__global__ void zero_at(float* f, const long long* idx, int64_t n) {
  const int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < n) f[idx[i]] = 0.f;
}

// Adds v over the warp into *sum (one atomic per warp, not per element). Every lane must call it.
__device__ void warp_add(double v, double* sum) {
  for (int o = 16; o > 0; o /= 2) v += __shfl_down_sync(0xffffffffu, v, o);
  if ((threadIdx.x & 31) == 0) atomicAdd(sum, v);
}

// x̂ += b_dec; gx = 2(x̂ − x)/B; l2 += Σ (x̂ − x)².
__global__ void residual(float* xh, const float* b_dec, const float* x, float* gx, int64_t B, int64_t D2, double* l2) {
  const int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  double e = 0;
  if (i < B * D2) {
    const float v = xh[i] + b_dec[i % D2];
    xh[i] = v;
    e = double(v) - double(x[i]);
    gx[i] = float(2.0 * e / double(B));
  }
  warp_add(e * e, l2);
}

// Per feature j (one thread each, reading column j of a row-major [B, F] matrix): Σ_b f, the count
// of active rows, and whether it fired; l1 += Σ_b f·(‖d_A‖+‖d_B‖).
__global__ void feature_sums(const float* f, const float* norms, int64_t B, int64_t F, double* fsum, double* l1, double* l0,
                             unsigned char* fired) {
  const int64_t j = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (j >= F) return;
  double s = 0;
  long long n = 0;
  for (int64_t b = 0; b < B; ++b) {
    const float v = f[b * F + j];
    if (v > 0.f) {
      s += v;
      ++n;
    }
  }
  fsum[j] = s;
  fired[j] = n > 0;
  atomicAdd(l1, s * double(norms[2 * j] + norms[2 * j + 1]));
  atomicAdd(l0, double(n));
}

// out[j] = Σ_b m[b, j] for a row-major [B, N] matrix (the bias gradients).
__global__ void column_sums(const float* m, int64_t B, int64_t N, float* out) {
  const int64_t j = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (j >= N) return;
  double s = 0;
  for (int64_t b = 0; b < B; ++b) s += m[b * N + j];
  out[j] = float(s);
}

// The L1 term's gradient into W_dec: += λ/B · Σ_b f_bj · W_dec[j, m] / ‖d_{j,m}‖.
__global__ void l1_decoder_grad(float* g, const float* W, const float* norms, const double* fsum, int64_t F, int64_t d, double lam,
                                int64_t B) {
  const int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= F * 2 * d) return;
  const int64_t j = i / (2 * d), m = (i % (2 * d)) / d;
  const float nrm = norms[2 * j + m];
  if (nrm == 0.f) return;
  g[i] += float(lam / double(B) * fsum[j] * W[i] / nrm);
}

// df += λ/B·(‖d_A‖+‖d_B‖) (the L1 term), then df = 0 where the feature is off (ReLU and top-k mask).
__global__ void feature_grad(float* df, const float* f, const float* norms, int64_t B, int64_t F, double lam) {
  const int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= B * F) return;
  const int64_t j = i % F;
  if (!(f[i] > 0.f)) {
    df[i] = 0.f;
    return;
  }
  if (lam > 0) df[i] += float(lam / double(B) * (double(norms[2 * j]) + double(norms[2 * j + 1])));
}

// BatchTopK: keep the K = k·B largest scores, ties at the threshold in index order (as
// batch_topk_mask does); returns the smallest kept score (0 when nothing is active).
double batch_topk(float* f, const float* norms, int64_t B, int64_t F, int64_t k) {
  const int64_t n = B * F;
  const unsigned long long K = (unsigned long long)(k * B);
  Buf<unsigned> bits(static_cast<size_t>(n));
  scores<<<blocks(n), kThreads>>>(f, norms, bits.p, B, F);
  Buf<unsigned long long> hist(65536);
  hist.zero();
  histogram<<<blocks(n), kThreads>>>(bits.p, n, 1, 0, hist.p);
  std::vector<unsigned long long> h(65536);
  hist.down(h.data());
  unsigned long long active = 0;
  for (auto c : h) active += c;
  if (active == 0) return 0.0;
  // The high 16 bits of the K-th largest score (or of the smallest, when at most K are active).
  const unsigned long long want = std::min<unsigned long long>(K, active);
  const auto [hb, above_bin] = radix_walk(h, want, 0);
  hist.zero();
  histogram<<<blocks(n), kThreads>>>(bits.p, n, 2, hb, hist.p);
  hist.down(h.data());
  const auto [lb, above] = radix_walk(h, want, above_bin);
  const unsigned thr = (hb << 16) | lb;
  float thr_f;
  std::memcpy(&thr_f, &thr, sizeof thr_f);
  if (active <= K) return double(thr_f);  // everything is kept; thr is the smallest score
  // `above` counts scores > thr; h[lb] of them equal it, and K − above of those are kept.
  const unsigned long long ties = h[size_t(lb)], keep_ties = K - above;
  Buf<long long> tie(static_cast<size_t>(ties));
  Buf<unsigned long long> n_tie(1);
  n_tie.zero();
  keep_above<<<blocks(n), kThreads>>>(f, bits.p, n, thr, tie.p, n_tie.p, ties);
  if (keep_ties < ties) {
    std::vector<long long> t(static_cast<size_t>(ties));
    tie.down(t.data());
    std::sort(t.begin(), t.end());
    Buf<long long> drop(t.data() + keep_ties, size_t(ties - keep_ties));
    zero_at<<<blocks(int64_t(drop.n)), kThreads>>>(f, drop.p, int64_t(drop.n));
  }
  return double(thr_f);
}

}  // namespace

Status status() {
  Status s;
  const cudaError_t e = cudaGetDeviceCount(&s.devices);
  if (e != cudaSuccess) {
    s.devices = 0;
    s.error = cudaGetErrorString(e);
    return s;
  }
  if (s.devices == 0) {
    s.error = "no CUDA device is visible";
    return s;
  }
  cudaDeviceProp p{};
  check(cudaGetDeviceProperties(&p, 0), "cudaGetDeviceProperties");
  s.name = p.name;
  s.major = p.major;
  s.minor = p.minor;
  s.memory = p.totalGlobalMem;
  return s;
}

StepSums dense_step(const StepShape& s, const float* x, const float* W_encT, const float* b_enc, const float* W_dec, const float* b_dec,
                    const float* norms, float* g_W_encT, float* g_b_enc, float* g_W_dec, float* g_b_dec, float* xh, float* pre,
                    uint8_t* fired) {
  const int64_t B = s.B, D2 = 2 * s.d, F = s.F;
  const Blas blas;
  Buf<float> dx(x, size_t(B * D2)), dWe(W_encT, size_t(F * D2)), dbe(b_enc, size_t(F)), dWd(W_dec, size_t(F * D2)),
      dbd(b_dec, size_t(D2)), dn(norms, size_t(2 * F));
  Buf<float> dpre(static_cast<size_t>(B * F)), df(static_cast<size_t>(B * F)), dxh(static_cast<size_t>(B * D2)), dgx(static_cast<size_t>(B * D2));
  Buf<double> sums(3), fsum(static_cast<size_t>(F));  // l2, l1, l0
  sums.zero();
  Buf<unsigned char> dfired(static_cast<size_t>(F));
  StepSums r;

  blas.gemm(false, true, B, F, D2, dx.p, D2, dWe.p, D2, dpre.p, F);  // pre = x W_encᵀ
  bias_relu<<<blocks(B * F), kThreads>>>(dpre.p, df.p, dbe.p, B, F);
  if (s.k > 0) r.min_kept_score = batch_topk(df.p, dn.p, B, F, s.k);
  blas.gemm(false, false, B, D2, F, df.p, F, dWd.p, D2, dxh.p, D2);  // x̂ = f W_dec
  residual<<<blocks(B * D2), kThreads>>>(dxh.p, dbd.p, dx.p, dgx.p, B, D2, sums.p);
  feature_sums<<<blocks(F), kThreads>>>(df.p, dn.p, B, F, fsum.p, sums.p + 1, sums.p + 2, dfired.p);

  // Backward.
  Buf<float> gWd(static_cast<size_t>(F * D2)), gWe(static_cast<size_t>(F * D2)), gbe(static_cast<size_t>(F)), gbd(static_cast<size_t>(D2)), ddf(static_cast<size_t>(B * F));
  blas.gemm(true, false, F, D2, B, df.p, F, dgx.p, D2, gWd.p, D2);  // dW_dec = fᵀ gx
  column_sums<<<blocks(D2), kThreads>>>(dgx.p, B, D2, gbd.p);
  blas.gemm(false, true, B, F, D2, dgx.p, D2, dWd.p, D2, ddf.p, F);  // df = gx W_decᵀ
  if (s.lam > 0) l1_decoder_grad<<<blocks(F * D2), kThreads>>>(gWd.p, dWd.p, dn.p, fsum.p, F, s.d, s.lam, B);
  feature_grad<<<blocks(B * F), kThreads>>>(ddf.p, df.p, dn.p, B, F, s.lam);
  blas.gemm(true, false, F, D2, B, ddf.p, F, dx.p, D2, gWe.p, D2);  // dW_encᵀ = dfᵀ x
  column_sums<<<blocks(F), kThreads>>>(ddf.p, B, F, gbe.p);
  check(cudaGetLastError(), "kernel launch");

  double h[3];
  sums.down(h);
  r.l2 = h[0] / double(B);
  r.l1 = h[1] / double(B);
  r.l0 = h[2] / double(B);
  gWe.down(g_W_encT);
  gbe.down(g_b_enc);
  gWd.down(g_W_dec);
  gbd.down(g_b_dec);
  dxh.down(xh);
  if (pre) dpre.down(pre);
  dfired.down(fired);
  return r;
}

double bf16_gemm_tflops(int64_t M, int64_t N, int64_t K, int reps) {
  const Blas blas;
  Buf<__nv_bfloat16> A(static_cast<size_t>(M * K)), B(static_cast<size_t>(K * N));
  Buf<float> C(static_cast<size_t>(M * N));
  A.zero();
  B.zero();
  const float one = 1.f, zero = 0.f;
  auto run = [&] {
    check(cublasGemmEx(blas.h, CUBLAS_OP_N, CUBLAS_OP_N, int(N), int(M), int(K), &one, B.p, CUDA_R_16BF, int(N), A.p, CUDA_R_16BF,
                       int(K), &zero, C.p, CUDA_R_32F, int(N), CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
          "GemmEx bf16");
  };
  run();
  check(cudaDeviceSynchronize(), "synchronize");
  cudaEvent_t t0, t1;
  check(cudaEventCreate(&t0), "cudaEventCreate");
  check(cudaEventCreate(&t1), "cudaEventCreate");
  check(cudaEventRecord(t0), "cudaEventRecord");
  for (int i = 0; i < reps; ++i) run();
  check(cudaEventRecord(t1), "cudaEventRecord");
  check(cudaEventSynchronize(t1), "cudaEventSynchronize");
  float ms = 0;
  check(cudaEventElapsedTime(&ms, t0, t1), "cudaEventElapsedTime");
  cudaEventDestroy(t0);
  cudaEventDestroy(t1);
  return 2.0 * double(M) * double(N) * double(K) * reps / (double(ms) * 1e-3) / 1e12;
}

}  // namespace cc::cuda
