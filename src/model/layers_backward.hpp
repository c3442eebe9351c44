// Backward passes of the layer kernels in layers.hpp (and of the F32 linear layer and the loss),
// for the organism trainer. Each is checked against finite differences in tests/test_layers_backward.cpp.
// Gradient outputs named d* are overwritten unless the comment says "accumulates".
#pragma once
#include <cstdint>
#include <vector>

namespace cc {

// y = rmsnorm(x) · w, x/dx/dy [T,d]. dx overwritten (may not alias dy); dw [d] accumulates.
void rmsnorm_backward(float* dx, float* dw, const float* dy, const float* x, const float* w, int64_t T, int64_t d, float eps);

// In place on the gradient of rope_forward's output (same layout): the inverse rotation.
void rope_backward(float* dx, int64_t ld, int64_t T, int64_t n_heads, int64_t head_dim, const float* cos, const float* sin);

// out = silu(gate) · up over n elements: dgate, dup overwritten (may alias neither input).
void swiglu_backward(float* dgate, float* dup, const float* dout, const float* gate, const float* up, int64_t n);

// y[M,out] = x[M,in]·Wᵀ + b with W [out,in] F32. dx[M,in] overwritten (null: skipped);
// dW [out,in] and db [out] (null: no bias) accumulate.
void linear_backward(float* dx, float* dW, float* db, const float* dy, const float* x, const float* W, int64_t M,
                     int64_t in, int64_t out);

// Causal GQA attention of one sequence with no cache (past = 0), contiguous rows:
// q/dq [T, nh·hd], k/v/dk/dv [T, nkv·hd], dout [T, nh·hd]. dq, dk, dv overwritten.
// The probabilities are recomputed from q and k (nothing is kept from the forward).
void attention_backward(float* dq, float* dk, float* dv, const float* dout, const float* q, const float* k, const float* v,
                        int64_t T, int64_t n_heads, int64_t n_kv, int64_t hd, std::vector<float>& scratch);

// Mean cross-entropy over rows whose target is >= 0: logits [T,V] are replaced by
// d(loss)/d(logits) (already divided by the count). Returns the summed loss and sets *count.
double cross_entropy_backward(float* logits, const int32_t* targets, int64_t T, int64_t V, int64_t* count);

}  // namespace cc
