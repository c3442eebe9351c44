// Linear-layer kernels: OpenBLAS for f32, a bf16 GEMV kernel for decode, panel conversion for prefill.
#include "model/linear.hpp"

#include <cblas.h>

#include <algorithm>
#include <stdexcept>
#include <vector>
#if defined(__AVX512F__) || defined(__AVX2__)
// GCC 12's AVX-512 headers trip a false -Wmaybe-uninitialized (GCC bug 105593) in the
// conversion intrinsics below; the warning is about the header's own undefined-vector idiom.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>
#endif

#include "core/parallel.hpp"

namespace cc {

namespace {

// Rows below this count use the bf16 dot-product kernel (bandwidth-bound regime).
constexpr int64_t kGemvRows = 8;

float dot_bf16_f32(const uint16_t* w, const float* x, int64_t n) {
  int64_t i = 0;
  float acc = 0.f;
#if defined(__AVX512F__)
  __m512 a0 = _mm512_setzero_ps(), a1 = _mm512_setzero_ps();
  for (; i + 32 <= n; i += 32) {
    __m512i w0 = _mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i*)(w + i))), 16);
    __m512i w1 = _mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i*)(w + i + 16))), 16);
    a0 = _mm512_fmadd_ps(_mm512_castsi512_ps(w0), _mm512_loadu_ps(x + i), a0);
    a1 = _mm512_fmadd_ps(_mm512_castsi512_ps(w1), _mm512_loadu_ps(x + i + 16), a1);
  }
  acc = _mm512_reduce_add_ps(_mm512_add_ps(a0, a1));
#elif defined(__AVX2__)
  __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
  for (; i + 16 <= n; i += 16) {
    __m256i w0 = _mm256_slli_epi32(_mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i*)(w + i))), 16);
    __m256i w1 = _mm256_slli_epi32(_mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i*)(w + i + 8))), 16);
    a0 = _mm256_fmadd_ps(_mm256_castsi256_ps(w0), _mm256_loadu_ps(x + i), a0);
    a1 = _mm256_fmadd_ps(_mm256_castsi256_ps(w1), _mm256_loadu_ps(x + i + 8), a1);
  }
  __m256 s = _mm256_add_ps(a0, a1);
  __m128 h = _mm_add_ps(_mm256_castps256_ps128(s), _mm256_extractf128_ps(s, 1));
  h = _mm_hadd_ps(h, h);
  h = _mm_hadd_ps(h, h);
  acc = _mm_cvtss_f32(h);
#endif
  for (; i < n; ++i) acc += bf16_to_f32(w[i]) * x[i];
  return acc;
}

void gemv_bf16(float* y, int64_t ldy, const float* x, int64_t ldx, int64_t M, const WeightMatrix& W,
               const float* bias, bool accumulate) {
  const auto* w = static_cast<const uint16_t*>(W.data);
  parallel_for(W.rows, 64, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const uint16_t* wr = w + r * W.cols;
      for (int64_t m = 0; m < M; ++m) {
        float v = dot_bf16_f32(wr, x + m * ldx, W.cols) + (bias ? bias[r] : 0.f);
        float& out = y[m * ldy + r];
        out = accumulate ? out + v : v;
      }
    }
  });
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
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, int(M), int(nr), int(W.cols), 1.f, x, int(ldx),
                dst, int(W.cols), accumulate ? 1.f : 0.f, y + r0, int(ldy));
  }
}

}  // namespace

void linear_forward(float* y, int64_t ldy, const float* x, int64_t ldx, int64_t M, const WeightMatrix& W,
                    const float* bias, bool accumulate) {
  if (M <= 0) return;
  if (W.dtype == DType::BF16) {
    if (M < kGemvRows) {
      gemv_bf16(y, ldy, x, ldx, M, W, bias, accumulate);
      return;
    }
    gemm_bf16_panels(y, ldy, x, ldx, M, W, accumulate);
  } else if (W.dtype == DType::F32) {
    const auto* w = static_cast<const float*>(W.data);
    if (M == 1) {
      cblas_sgemv(CblasRowMajor, CblasNoTrans, int(W.rows), int(W.cols), 1.f, w, int(W.cols), x, 1,
                  accumulate ? 1.f : 0.f, y, 1);
    } else {
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, int(M), int(W.rows), int(W.cols), 1.f, x, int(ldx), w,
                  int(W.cols), accumulate ? 1.f : 0.f, y, int(ldy));
    }
  } else {
    throw std::logic_error("linear_forward: weights must be F32 or BF16");
  }
  if (bias && !(W.dtype == DType::BF16 && M < kGemvRows)) {
    for (int64_t m = 0; m < M; ++m)
      for (int64_t r = 0; r < W.rows; ++r) y[m * ldy + r] += bias[r];
  }
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
