// Transformer layer kernels of the Qwen2 forward, as free functions with shapes in comments.
// Backward passes join them when the organism trainer needs them.
#pragma once
#include <cstdint>
#include <span>
#include <vector>

namespace cc {

// out[T,d] = x / sqrt(mean(x²) + eps) * w   (HF Qwen2RMSNorm, computed in f32). out may alias x.
void rmsnorm_forward(float* out, const float* x, const float* w, int64_t T, int64_t d, float eps);

// RoPE angle tables for T rows at `positions`: cos/sin [T, head_dim/2].
// Angles are computed in f32 exactly as HF does (inv_freq = 1/theta^(2i/hd) in f32, pos·inv_freq in f32).
void rope_tables(std::vector<float>& cos, std::vector<float>& sin, const int32_t* positions, int64_t T,
                 int64_t head_dim, double theta);

// In-place rotate-half RoPE on x[T, n_heads*head_dim] (row stride ld): for each head,
// x1' = x1·cos - x2·sin, x2' = x2·cos + x1·sin with x1/x2 the two halves.
void rope_forward(float* x, int64_t ld, int64_t T, int64_t n_heads, int64_t head_dim, const float* cos,
                  const float* sin);

// out[T,I] = silu(gate[T,I]) * up[T,I]. out may alias gate.
void swiglu_forward(float* out, const float* gate, const float* up, int64_t n);

// Causal GQA attention for one sequence.
// q[Tq, n_heads*hd] (row stride ldq) are the new queries at positions past..past+Tq-1;
// k, v [past+Tq, n_kv*hd] (row stride ldkv) hold all keys/values including the new ones.
// out[Tq, n_heads*hd] (row stride ldo).
void attention_forward(float* out, int64_t ldo, const float* q, int64_t ldq, const float* k, const float* v,
                       int64_t ldkv, int64_t Tq, int64_t past, int64_t n_heads, int64_t n_kv, int64_t hd);

// One sequence of a batch, laid out as attention_forward's arguments, and the strides and head
// counts the batch shares.
struct AttentionSeq {
  float* out;
  const float *q, *k, *v;
  int64_t Tq, past;
};
struct AttentionShape {
  int64_t ldo, ldq, ldkv, n_heads, n_kv, hd;
};
// attention_forward for every sequence of a batch, in one pass over the thread pool with the work
// split by score count. Each (sequence, head) computes exactly what attention_forward computes for
// it alone, so the result does not depend on the batch.
void attention_forward_batch(std::span<const AttentionSeq> seqs, const AttentionShape& shape);

}  // namespace cc
