// Linear-layer kernels: OpenBLAS for f32, a bf16 GEMV kernel for decode (vdpbf16ps for bf16-act),
// panel conversion for prefill.
#include "model/linear.hpp"

#include <cblas.h>

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <vector>
#if defined(__AVX512F__) || defined(__AVX2__)
// GCC 12's AVX-512 headers trip a false -Wmaybe-uninitialized (GCC bug 105593) in the
// conversion intrinsics below; the warning is about the header's own undefined-vector idiom.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#include <immintrin.h>
#endif

#include "core/parallel.hpp"
#include "model/gemm_bf16.hpp"

namespace cc {

namespace {

// The vector unit the dot-product kernels run on: 16 f32 lanes with AVX-512, 8 with AVX2, 1
// otherwise. Load<W> widens W (f32, or BF16 shifted into the high half) to f32 lanes.
#if defined(__AVX512F__)
using Vec = __m512;
constexpr int kLanes = 16;
constexpr int kTileW = 4, kTileX = 2;  // 16 accumulators + 4 weight + 2 input registers of 32
inline Vec vzero() { return _mm512_setzero_ps(); }
inline Vec vload(const float* p) { return _mm512_loadu_ps(p); }
inline Vec vload(const uint16_t* p) {
  return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i*)p)), 16));
}
inline Vec vfma(Vec a, Vec b, Vec c) { return _mm512_fmadd_ps(a, b, c); }
inline float vsum(Vec a, Vec b) { return _mm512_reduce_add_ps(_mm512_add_ps(a, b)); }
#elif defined(__AVX2__)
using Vec = __m256;
constexpr int kLanes = 8;
constexpr int kTileW = 2, kTileX = 2;  // 8 accumulators of 16 registers
inline Vec vzero() { return _mm256_setzero_ps(); }
inline Vec vload(const float* p) { return _mm256_loadu_ps(p); }
inline Vec vload(const uint16_t* p) {
  return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i*)p)), 16));
}
inline Vec vfma(Vec a, Vec b, Vec c) { return _mm256_fmadd_ps(a, b, c); }
inline float vsum(Vec a, Vec b) {
  __m256 s = _mm256_add_ps(a, b);
  __m128 h = _mm_add_ps(_mm256_castps256_ps128(s), _mm256_extractf128_ps(s, 1));
  h = _mm_hadd_ps(h, h);
  h = _mm_hadd_ps(h, h);
  return _mm_cvtss_f32(h);
}
#else
using Vec = float;
constexpr int kLanes = 1;
constexpr int kTileW = 2, kTileX = 2;
inline Vec vzero() { return 0.f; }
inline Vec vload(const float* p) { return *p; }
inline Vec vload(const uint16_t* p) { return bf16_to_f32(*p); }
inline Vec vfma(Vec a, Vec b, Vec c) { return std::fma(a, b, c); }
inline float vsum(Vec a, Vec b) { return a + b; }
#endif

inline float widen(float w) { return w; }
inline float widen(uint16_t w) { return bf16_to_f32(w); }

// What a dot-product kernel does per chunk. FmaKernel: kLanes f32 lanes, weights (F32 or BF16) and
// inputs widened to f32, one FMA. Bf16DotKernel, where the CPU has AVX512-BF16 (the bf16-act mode's
// decode, inputs already rounded to BF16): 32 exact BF16 products per vdpbf16ps, summed in f32 (an
// FMA does 16, and the weights need no widening; measured 1.75x the widened path at 8 rows,
// docs/PERFORMANCE.md).
struct FmaKernel {
  using Acc = Vec;
  static constexpr int64_t kChunk = kLanes;
  static Acc zero() { return vzero(); }
  template <typename T>
  static Vec load(const T* p) {
    return vload(p);
  }
  static Acc madd(Acc acc, Vec w, Vec x) { return vfma(w, x, acc); }
  static float sum(Acc a, Acc b) { return vsum(a, b); }
};
template <typename X>
struct KernelFor {
  using type = FmaKernel;
};
#if defined(__AVX512BF16__)
struct Bf16DotKernel {
  using Acc = __m512;
  static constexpr int64_t kChunk = 32;
  static Acc zero() { return _mm512_setzero_ps(); }
  static __m512bh load(const uint16_t* p) { return (__m512bh)_mm512_loadu_si512(p); }
  static Acc madd(Acc acc, __m512bh w, __m512bh x) { return _mm512_dpbf16_ps(acc, w, x); }
  static float sum(Acc a, Acc b) { return _mm512_reduce_add_ps(_mm512_add_ps(a, b)); }
};
template <>
struct KernelFor<uint16_t> {
  using type = Bf16DotKernel;
};
#endif

// out[a][b] = w_a · x_b over n for RW weight rows and RX input rows, x f32 (FmaKernel) or BF16
// (Bf16DotKernel). Every pair follows the same arithmetic whatever RW and RX (two accumulators
// over alternate chunks, one reduction, then the tail by fma), so a row's result does not depend
// on which rows share its tile or call: batched decode equals single-run decode bit for bit.
// Tiling both ways keeps the loads per multiply-add low: each weight chunk serves RX inputs and
// each input chunk RW weights.
template <int RW, int RX, typename W, typename X>
void dot_tile(const W* const* w, const X* const* x, int64_t n, float (*out)[kTileX]) {
  using K = typename KernelFor<X>::type;
  constexpr int64_t C = K::kChunk;
  typename K::Acc a0[RW][RX], a1[RW][RX];
  for (int a = 0; a < RW; ++a)
    for (int b = 0; b < RX; ++b) a0[a][b] = a1[a][b] = K::zero();
  int64_t i = 0;
  for (; i + 2 * C <= n; i += 2 * C) {
    decltype(K::load(w[0])) wv[RW];
    for (int a = 0; a < RW; ++a) wv[a] = K::load(w[a] + i);
    for (int b = 0; b < RX; ++b) {
      const auto xv = K::load(x[b] + i);
      for (int a = 0; a < RW; ++a) a0[a][b] = K::madd(a0[a][b], wv[a], xv);
    }
    for (int a = 0; a < RW; ++a) wv[a] = K::load(w[a] + i + C);
    for (int b = 0; b < RX; ++b) {
      const auto xv = K::load(x[b] + i + C);
      for (int a = 0; a < RW; ++a) a1[a][b] = K::madd(a1[a][b], wv[a], xv);
    }
  }
  for (int a = 0; a < RW; ++a)
    for (int b = 0; b < RX; ++b) {
      float acc = K::sum(a0[a][b], a1[a][b]);
      for (int64_t j = i; j < n; ++j) acc = std::fma(widen(w[a][j]), widen(x[b][j]), acc);
      out[a][b] = acc;
    }
}

// Rows [r0, r1) of y[M, rows] for M < kGemvRows: weight rows kTileW at a time against input rows
// kTileX at a time (remainders one by one). One input row (single-run decode) takes weight rows
// one at a time: measured on Zen 4 (1.5 GB of BF16 weights, 2 threads), one row per call streams
// 47-49 GB/s and four interleaved rows 32, while with 8 input rows the 4 x 2 tile computes 80
// GFLOP/s against 48 for 1 x 2.
template <typename W, typename X>
void gemv_rows(float* y, int64_t ldy, const X* x, int64_t ldx, int64_t M, const WeightMatrix& Wm, const float* bias,
               bool accumulate, int64_t r0, int64_t r1) {
  const auto* w = static_cast<const W*>(Wm.data);
  for (int64_t r = r0; r < r1;) {
    const int rw = M > 1 && r1 - r >= kTileW ? kTileW : 1;
    const W* wr[kTileW];
    for (int a = 0; a < rw; ++a) wr[a] = w + (r + a) * Wm.cols;
    for (int64_t m = 0; m < M;) {
      const int rx = M - m >= kTileX ? kTileX : 1;
      const X* xs[kTileX];
      for (int b = 0; b < rx; ++b) xs[b] = x + (m + b) * ldx;
      float v[kTileW][kTileX];
      if (rw == kTileW && rx == kTileX) dot_tile<kTileW, kTileX>(wr, xs, Wm.cols, v);
      else if (rw == kTileW) dot_tile<kTileW, 1>(wr, xs, Wm.cols, v);
      else if (rx == kTileX) dot_tile<1, kTileX>(wr, xs, Wm.cols, v);
      else dot_tile<1, 1>(wr, xs, Wm.cols, v);
      for (int a = 0; a < rw; ++a)
        for (int b = 0; b < rx; ++b) {
          const float val = v[a][b] + (bias ? bias[r + a] : 0.f);
          float& o = y[(m + b) * ldy + r + a];
          o = accumulate ? o + val : val;
        }
      m += rx;
    }
    r += rw;
  }
}

template <typename W, typename X>
void gemv(float* y, int64_t ldy, const X* x, int64_t ldx, int64_t M, const WeightMatrix& Wm, const float* bias,
          bool accumulate) {
  parallel_for(Wm.rows, 64, [&](int64_t r0, int64_t r1) { gemv_rows<W, X>(y, ldy, x, ldx, M, Wm, bias, accumulate, r0, r1); });
}

// Weight matrices of at most this many floats are small enough for each thread to pack its own
// copy: their products (a small model's layers over thousands of rows) split the rows over our
// pool, each part one single-threaded sgemm. OpenBLAS 0.3.21's own threading costs about 0.6 ms of
// system time per call on the 2-core AMD VM (its waiting worker polls a mutex); with megabytes of
// weights (the 1.5B shape) its shared packing is faster (docs/PERFORMANCE.md).
constexpr int64_t kRowSplitWeights = int64_t(1) << 20;
// Row parts are whole multiples of this many rows (the last one excepted).
constexpr int64_t kRowSplitBlock = 16;

// y[M, N] = x[M, K] · wᵀ with w [N, K] row-major; y is scaled by beta first.
void sgemm_xwt(float* y, int64_t ldy, const float* x, int64_t ldx, const float* w, int64_t M, int64_t N, int64_t K,
               float beta) {
  auto rows = [&](int64_t m0, int64_t m1) {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, int(m1 - m0), int(N), int(K), 1.f, x + m0 * ldx, int(ldx), w,
                int(K), beta, y + m0 * ldy, int(ldy));
  };
  if (N * K > kRowSplitWeights) {
    rows(0, M);
    return;
  }
  parallel_for_blas((M + kRowSplitBlock - 1) / kRowSplitBlock, 1,
                    [&](int64_t b0, int64_t b1) { rows(b0 * kRowSplitBlock, std::min(M, b1 * kRowSplitBlock)); });
}

void gemm_bf16_panels(float* y, int64_t ldy, const float* x, int64_t ldx, int64_t M, const WeightMatrix& W,
                      bool accumulate) {
  // Panels of up to 64 MiB of f32 weights (a whole projection matrix of a 1.5B model): one sgemm
  // per matrix keeps OpenBLAS near peak. The conversion runs in this thread only: OpenBLAS's
  // workers spin after each call, and a second converting thread would fight them for the cores.
  const int64_t panel = std::max<int64_t>(64, (int64_t(1) << 24) / W.cols);
  thread_local std::vector<float> buf;
  buf.resize(size_t(std::min(panel, W.rows) * W.cols));
  const auto* w = static_cast<const uint16_t*>(W.data);
  for (int64_t r0 = 0; r0 < W.rows; r0 += panel) {
    const int64_t nr = std::min(panel, W.rows - r0);
    const uint16_t* src = w + r0 * W.cols;
    float* dst = buf.data();
    const int64_t n = nr * W.cols;
    for (int64_t i = 0; i < n; ++i) dst[i] = bf16_to_f32(src[i]);
    sgemm_xwt(y + r0, ldy, x, ldx, dst, M, nr, W.cols, accumulate ? 1.f : 0.f);
  }
}

// y[m, :] += bias (null: nothing), after a GEMM that could not fuse it.
void add_bias(float* y, int64_t ldy, int64_t M, int64_t rows, const float* bias) {
  if (!bias) return;
  for (int64_t m = 0; m < M; ++m)
    for (int64_t r = 0; r < rows; ++r) y[m * ldy + r] += bias[r];
}

// x rounded to BF16 [M, cols]; then oneDNN's BF16 GEMM (many rows) or the vdpbf16ps kernel (few
// rows), or the ordinary BF16-weight kernels on the rounded rows widened back to f32 (the same
// products, summed in another order).
void linear_bf16_inputs(float* y, int64_t ldy, const float* x, int64_t ldx, int64_t M, const WeightMatrix& W,
                        const float* bias, bool accumulate) {
  thread_local std::vector<uint16_t> xb;
  thread_local std::vector<float> xr;
  xb.resize(size_t(M * W.cols));
  round_rows_to_bf16(xb.data(), x, M, W.cols, ldx);
  if (M >= kGemvRows && bf16_gemm_native()) {
    gemm_bf16_onednn(y, ldy, xb.data(), M, static_cast<const uint16_t*>(W.data), W.rows, W.cols, accumulate);
    add_bias(y, ldy, M, W.rows, bias);
    return;
  }
#if defined(__AVX512BF16__)
  if (M < kGemvRows && bf16_dot_native()) {
    gemv<uint16_t, uint16_t>(y, ldy, xb.data(), W.cols, M, W, bias, accumulate);
    return;
  }
#endif
  xr.resize(xb.size());
  convert_to_f32(DType::BF16, xb.data(), xr.data(), xr.size());
  WeightMatrix plain = W;
  plain.bf16_inputs = false;
  linear_forward(y, ldy, xr.data(), W.cols, M, plain, bias, accumulate);
}

}  // namespace

void linear_forward(float* y, int64_t ldy, const float* x, int64_t ldx, int64_t M, const WeightMatrix& W,
                    const float* bias, bool accumulate) {
  if (M <= 0) return;
  if (W.bf16_inputs) {
    if (W.dtype != DType::BF16) throw std::logic_error("linear_forward: bf16_inputs needs BF16 weights");
    linear_bf16_inputs(y, ldy, x, ldx, M, W, bias, accumulate);
    return;
  }
  if (W.dtype != DType::BF16 && W.dtype != DType::F32) throw std::logic_error("linear_forward: weights must be F32 or BF16");
  if (M < kGemvRows) {
    if (W.dtype == DType::BF16) gemv<uint16_t, float>(y, ldy, x, ldx, M, W, bias, accumulate);
    else gemv<float, float>(y, ldy, x, ldx, M, W, bias, accumulate);
    return;
  }
  if (W.dtype == DType::BF16) {
    gemm_bf16_panels(y, ldy, x, ldx, M, W, accumulate);
  } else {
    sgemm_xwt(y, ldy, x, ldx, static_cast<const float*>(W.data), M, W.rows, W.cols, accumulate ? 1.f : 0.f);
  }
  add_bias(y, ldy, M, W.rows, bias);
}

void linear_forward_naive(float* y, const float* x, int64_t M, const WeightMatrix& W, const float* bias) {
  std::vector<float> row(static_cast<size_t>(W.cols));
  for (int64_t r = 0; r < W.rows; ++r) {
    weight_row_f32(W, r, row.data());
    for (int64_t m = 0; m < M; ++m) {
      double acc = bias ? bias[r] : 0.0;
      for (int64_t c = 0; c < W.cols; ++c) acc += double(row[size_t(c)]) * x[m * W.cols + c];
      y[m * W.rows + r] = float(acc);
    }
  }
}

void weight_row_f32(const WeightMatrix& W, int64_t r, float* out) {
  const size_t off = size_t(r * W.cols);
  if (W.dtype == DType::F32) {
    const auto* w = static_cast<const float*>(W.data) + off;
    std::copy(w, w + W.cols, out);
  } else {
    convert_to_f32(W.dtype, static_cast<const uint16_t*>(W.data) + off, out, size_t(W.cols));
  }
}

}  // namespace cc
