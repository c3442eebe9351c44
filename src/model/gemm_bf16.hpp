// y = x·Wᵀ with both operands in BF16 and f32 accumulation: the GEMM behind the bf16-act compute
// mode. Where the CPU has AVX512-BF16, oneDNN's matmul runs it with the vdpbf16ps dot-product
// instructions (twice sgemm's FLOP rate); elsewhere, or when forced, the BF16 inputs are widened
// to f32 and multiplied by sgemm. Both paths compute the same exact products (a product of two
// BF16 numbers is exact in f32) and differ only in the order of the f32 additions.
#pragma once
#include <cstdint>

namespace cc {

enum class Bf16GemmPath { Auto, Fallback };

// Auto: oneDNN when it can run BF16 here (checked once at run time), else the fallback.
// The environment variable CROSSCODER_BF16_GEMM=fallback forces the fallback for a whole run.
void set_bf16_gemm_path(Bf16GemmPath p);
// True when calls go to oneDNN (built with it, the CPU runs its BF16 matmul, not forced off).
bool bf16_gemm_native();
// "onednn (<its kernel>), vdpbf16ps decode" (", vdpbf16ps decode" only when bf16_dot_native()),
// "sgemm on widened BF16, vdpbf16ps decode" (no oneDNN), or "fallback (sgemm on widened BF16)".
const char* bf16_gemm_path_name();
// True when the bf16-act mode's few-row products (decode) run our vdpbf16ps kernel: built for a CPU
// with AVX512-BF16 and not forced to the fallback. The same switch as bf16_gemm_native, so forcing
// the fallback tests both widened paths on a machine that has the instructions.
bool bf16_dot_native();

// oneDNN's matmul: y[M, N] (row stride ldy) = x[M, K] · w[N, K]ᵀ, or y += when accumulate; x and w
// BF16, y f32. Only when bf16_gemm_native(); linear_forward runs the fallback itself.
void gemm_bf16_onednn(float* y, int64_t ldy, const uint16_t* x, int64_t M, const uint16_t* w, int64_t N, int64_t K,
                    bool accumulate);

// dst[i] = BF16(src[i]) rounded to nearest even: n floats from a row-strided [rows, cols] source.
void round_rows_to_bf16(uint16_t* dst, const float* src, int64_t rows, int64_t cols, int64_t ld);

}  // namespace cc
