// NumPy .npy (v1.0, little-endian float32, C order) for arrays dumped for inspection.
#pragma once
#include <string>
#include <vector>

#include "core/safetensors.hpp"

namespace cc {

void write_npy_f32(const std::string& path, const float* data, const Shape& shape);  // atomic

struct NpyArray {
  Shape shape;
  std::vector<float> data;
};
NpyArray read_npy_f32(const std::string& path);  // only '<f4', C order; errors name the file

}  // namespace cc
