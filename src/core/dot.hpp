// The short vector loops of the sparse crosscoder step and decode attention: a dot product, and a
// sum of scaled rows into one output row.
#pragma once
#include <cstdint>
#if defined(__AVX512F__)
#include <immintrin.h>
#endif

namespace cc {

// a·b over n floats in 16 independent partial sums: a single running sum is a serial dependency
// the compiler may not reorder (no -ffast-math), which leaves the loop scalar.
inline float dot_f32(const float* a, const float* b, int64_t n) {
  float acc[16] = {};
  int64_t q = 0;
  for (; q + 16 <= n; q += 16)
    for (int l = 0; l < 16; ++l) acc[l] += a[q + l] * b[q + l];
  float s = 0;
  for (; q < n; ++q) s += a[q] * b[q];
  for (int l = 0; l < 16; ++l) s += acc[l];
  return s;
}

// o[q] += v_e · r_e[q] for q < n and e = 0..rows-1 in that order, row(e) giving {v_e, r_e}: each
// o[q] sees exactly the fused multiply-adds of the plain loop `for e: for q: o[q] += v_e * r_e[q]`,
// but a block of o stays in registers across all rows instead of being loaded and stored once per
// row (the plain loop was load- and store-bound in the sparse step's gather loops).
template <class Row>
void add_scaled_rows(float* o, int64_t n, int64_t rows, Row row) {
  int64_t q0 = 0;
#if defined(__AVX512F__)
  constexpr int kRegs = 8, kBlock = 16 * kRegs;
  for (; q0 + kBlock <= n; q0 += kBlock) {
    __m512 acc[kRegs];
    for (int k = 0; k < kRegs; ++k) acc[k] = _mm512_loadu_ps(o + q0 + 16 * k);
    for (int64_t e = 0; e < rows; ++e) {
      const auto [v, r] = row(e);
      const __m512 vv = _mm512_set1_ps(v);
      for (int k = 0; k < kRegs; ++k) acc[k] = _mm512_fmadd_ps(vv, _mm512_loadu_ps(r + q0 + 16 * k), acc[k]);
    }
    for (int k = 0; k < kRegs; ++k) _mm512_storeu_ps(o + q0 + 16 * k, acc[k]);
  }
#endif
  if (q0 == n) return;
  for (int64_t e = 0; e < rows; ++e) {
    const auto [v, r] = row(e);
    for (int64_t q = q0; q < n; ++q) o[q] += v * r[q];
  }
}

}  // namespace cc
