// NumPy arrays in and out of the library: vectors handed to NumPy without a copy (the array owns
// the vector through a capsule), and checked views of the arrays Python passes in.
#pragma once
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace cc::py_api {

namespace py = pybind11;

// Moves `v` into a NumPy array of `shape` (row-major); no copy of the elements.
template <class T>
py::array_t<T> to_numpy(std::vector<T>&& v, std::vector<py::ssize_t> shape) {
  auto* owned = new std::vector<T>(std::move(v));
  py::capsule free_when_done(owned, [](void* p) { delete static_cast<std::vector<T>*>(p); });
  return py::array_t<T>(shape, owned->data(), free_when_done);
}

// A C-contiguous float32 view of `a` (converted or copied only when it is not one already), its
// shape checked: `trailing` are the required last dimensions, `what` names the argument in errors.
using F32Array = py::array_t<float, py::array::c_style | py::array::forcecast>;
F32Array as_f32(const py::handle& a, const char* what, std::vector<py::ssize_t> trailing, int min_dims, int max_dims);

// Token ids from a list, tuple or integer array: [T] (one sequence) or [B, T] (B sequences of one
// length). `batch` is 0 for a 1-D input.
struct TokenIds {
  std::vector<int32_t> ids;  // B * T, row-major
  py::ssize_t batch = 0, length = 0;
  py::ssize_t sequences() const { return batch == 0 ? 1 : batch; }
};
TokenIds as_token_ids(const py::handle& a, int64_t vocab_size);

// The row shape a [rows, d] block of the stream has for the caller: [T, d] or [B, T, d].
std::vector<py::ssize_t> stream_shape(const TokenIds& ids, py::ssize_t width);

}  // namespace cc::py_api
