// The SIMD features of the CPU we run on, for benchmark records (a figure means little without
// them: these machines range from AVX2-only to AVX-512 with BF16 dot products).
#pragma once
#include <string>

namespace cc {

// The present ones of avx2, fma, avx512f, avx512_bf16, amx_bf16, space-separated ("" if unknown).
std::string cpu_feature_summary();

}  // namespace cc
