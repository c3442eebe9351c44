// Finding NaN and Inf where they enter — checkpoint weights, harvested activations, store rows,
// gradients — so the error names the tensor and the element instead of a loss turning NaN hours
// later. Checks read the raw bits (exponent all ones), so BF16/F16 weights are checked in place.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

#include "core/dtype.hpp"
#include "core/safetensors.hpp"

namespace cc {

inline constexpr size_t kAllFinite = SIZE_MAX;

// Index of the first NaN or ±Inf among n values of dtype t (F32, F16 or BF16), or kAllFinite.
// Other dtypes have no non-finite values. Runs on all threads for large n.
size_t find_non_finite(DType t, const void* data, size_t n);
inline size_t find_non_finite(const float* x, size_t n) { return find_non_finite(DType::F32, x, n); }

// "[3,17]" for flat index 113 of shape [6,32]; "[113]" when shape is empty.
std::string index_str(const Shape& shape, size_t flat);
// "NaN", "+Inf" or "-Inf" for the value at data[i].
std::string non_finite_name(DType t, const void* data, size_t i);

// Throws cc::Error "FILE: TENSOR holds NaN at [3,17] (element 113 of 192)" (plus `context`, e.g.
// "at step 120", and a hint) if any value is not finite.
void check_finite(DType t, const void* data, const Shape& shape, const std::string& file, const std::string& tensor,
                  const std::string& context = "", const std::string& hint = "");
inline void check_finite(const float* x, const Shape& shape, const std::string& file, const std::string& tensor,
                         const std::string& context = "", const std::string& hint = "") {
  check_finite(DType::F32, x, shape, file, tensor, context, hint);
}

}  // namespace cc
