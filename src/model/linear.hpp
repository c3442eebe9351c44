// Dense linear layers y = x·Wᵀ (+ b) over weights stored as F32 or BF16 ([out, in], HF layout).
// F32 goes straight to OpenBLAS sgemm. BF16 keeps the weights in BF16 and accumulates in f32:
// few rows (decode) use a vectorised bf16 dot-product kernel; many rows (prefill) convert weight
// panels to f32 and call sgemm, so activations never lose precision.
#pragma once
#include <cstdint>

#include "core/dtype.hpp"

namespace cc {

struct WeightMatrix {
  DType dtype = DType::F32;     // F32 or BF16
  const void* data = nullptr;   // [rows, cols] row-major
  int64_t rows = 0, cols = 0;   // out features, in features
};

// y[M, rows] = x[M, cols] · Wᵀ + bias (bias may be null). If accumulate, y += instead of y =.
// ldx/ldy are row strides of x and y (elements).
void linear_forward(float* y, int64_t ldy, const float* x, int64_t ldx, int64_t M, const WeightMatrix& W,
                    const float* bias, bool accumulate = false);

// Naive reference (triple loop, double accumulation) for tests.
void linear_forward_naive(float* y, const float* x, int64_t M, const WeightMatrix& W, const float* bias);

// Row `r` of W converted to float (embedding lookup).
void weight_row_f32(const WeightMatrix& W, int64_t r, float* out);

}  // namespace cc
