// Dense linear layers y = x·Wᵀ (+ b) over weights stored as F32 or BF16 ([out, in], HF layout).
// F32 goes straight to OpenBLAS sgemm. BF16 keeps the weights in BF16 and accumulates in f32:
// few rows (decode) use a vectorised dot-product kernel; many rows (prefill) convert weight
// panels to f32 and call sgemm, so activations never lose precision. A matrix marked bf16_inputs
// (the bf16-act compute mode) rounds its input rows to BF16 first, as PyTorch's bf16 mode does, and
// then runs BF16 x BF16 products with f32 accumulation (model/gemm_bf16.hpp).
#pragma once
#include <cstdint>

#include "core/dtype.hpp"

namespace cc {

// Fewer rows than this run the per-row dot-product kernels (decode, small batches): bandwidth-bound,
// and each row's result is independent of how many rows share the call.
inline constexpr int64_t kGemvRows = 17;

struct WeightMatrix {
  DType dtype = DType::F32;     // F32 or BF16
  const void* data = nullptr;   // [rows, cols] row-major
  int64_t rows = 0, cols = 0;   // out features, in features
  bool bf16_inputs = false;     // BF16 only: round x to BF16 before the product
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
