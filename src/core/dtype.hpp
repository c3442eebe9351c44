// Element types found in checkpoints (F32/F16/BF16 plus the integer types of activation stores)
// and scalar conversions between the half formats and float.
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>

namespace cc {

enum class DType { F32, F16, BF16, I32, I64, F64, U8 };

size_t dtype_size(DType t);
const char* dtype_name(DType t);                          // safetensors spelling: "BF16"
std::optional<DType> dtype_from_name(const std::string& s);  // nullopt for unknown names

inline float bf16_to_f32(uint16_t h) {
  uint32_t u = uint32_t(h) << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

// Round to nearest even, as torch does; NaN stays NaN.
inline uint16_t f32_to_bf16(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  if ((u & 0x7fffffffu) > 0x7f800000u) return uint16_t((u >> 16) | 0x40);
  u += 0x7fffu + ((u >> 16) & 1u);
  return uint16_t(u >> 16);
}

float f16_to_f32(uint16_t h);
uint16_t f32_to_f16(float f);  // round to nearest even, overflow to inf

// Converts n elements of `src` (of type t) to float.
void convert_to_f32(DType t, const void* src, float* dst, size_t n);
// Converts n floats to bf16.
void convert_f32_to_bf16(const float* src, uint16_t* dst, size_t n);

}  // namespace cc
