#include "arrays.hpp"

#include "core/error.hpp"

namespace cc::py_api {

static std::string shape_text(const py::array& a) {
  std::string s = "[";
  for (py::ssize_t i = 0; i < a.ndim(); ++i) s += (i ? "," : "") + std::to_string(a.shape(i));
  return s + "]";
}

F32Array as_f32(const py::handle& a, const char* what, std::vector<py::ssize_t> trailing, int min_dims, int max_dims) {
  F32Array arr = F32Array::ensure(a);
  if (!arr) fail("", what, "is not convertible to a float32 array", "a NumPy array of floats", std::string(py::str(py::type::of(a))));
  const int nd = int(arr.ndim());
  std::string expected = "[n";
  for (auto t : trailing) expected += "," + std::to_string(t);
  expected += "]";
  if (nd < min_dims || nd > max_dims) fail("", what, "has the wrong number of dimensions", expected, shape_text(arr));
  for (size_t i = 0; i < trailing.size(); ++i)
    if (arr.shape(nd - trailing.size() + i) != trailing[i]) fail("", what, "has the wrong shape", expected, shape_text(arr));
  return arr;
}

TokenIds as_token_ids(const py::handle& a, int64_t vocab_size) {
  auto arr = py::array_t<int64_t, py::array::c_style | py::array::forcecast>::ensure(a);
  if (!arr) fail("", "ids", "are not integers", "a list or array of token ids", std::string(py::str(py::type::of(a))));
  if (arr.ndim() < 1 || arr.ndim() > 2) fail("", "ids", "have the wrong number of dimensions", "[T] or [B, T]", shape_text(arr));
  TokenIds t;
  t.batch = arr.ndim() == 2 ? arr.shape(0) : 0;
  t.length = arr.shape(arr.ndim() - 1);
  if (t.length == 0 || (arr.ndim() == 2 && t.batch == 0)) fail("", "ids", "are empty", "at least one token", shape_text(arr));
  const int64_t* p = arr.data();
  t.ids.resize(size_t(arr.size()));
  for (size_t i = 0; i < t.ids.size(); ++i) {
    if (p[i] < 0 || p[i] >= vocab_size)
      fail("", "ids", "hold a token id outside the model's vocabulary", "0 <= id < " + std::to_string(vocab_size), std::to_string(p[i]));
    t.ids[i] = int32_t(p[i]);
  }
  return t;
}

std::vector<py::ssize_t> stream_shape(const TokenIds& ids, py::ssize_t width) {
  if (ids.batch == 0) return {ids.length, width};
  return {ids.batch, ids.length, width};
}

}  // namespace cc::py_api
