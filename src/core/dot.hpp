// a·b over n floats in 16 independent partial sums: a single running sum is a serial dependency
// the compiler may not reorder (no -ffast-math), which leaves the loop scalar. Used where short
// dot products are the inner loop (the sparse crosscoder step's gradients, decode attention).
#pragma once
#include <cstdint>

namespace cc {

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

}  // namespace cc
