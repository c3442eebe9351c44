// Minimal .npy writer/reader; the header is a Python dict literal padded to 64 bytes.
#include "core/npy.hpp"

#include <algorithm>
#include <cstring>
#include <regex>

#include "core/atomic_file.hpp"
#include "core/error.hpp"

namespace cc {

void write_npy_f32(const std::string& path, const float* data, const Shape& shape) {
  std::string dims;
  for (size_t i = 0; i < shape.size(); ++i) dims += std::to_string(shape[i]) + ", ";
  if (shape.size() > 1) dims.resize(dims.size() - 2);
  else if (shape.size() == 1) dims.resize(dims.size() - 1);
  std::string dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (" + dims + "), }";
  size_t total = 10 + dict.size() + 1;
  dict.append((64 - total % 64) % 64, ' ');
  dict.push_back('\n');
  std::string head = "\x93NUMPY";
  head.push_back(1);
  head.push_back(0);
  head.push_back(char(dict.size() & 0xff));
  head.push_back(char(dict.size() >> 8));
  AtomicFile f(path);
  f.write(head);
  f.write(dict);
  f.write(data, size_t(shape_numel(shape)) * 4);
  f.commit();
}

NpyArray read_npy_f32(const std::string& path) {
  const std::string s = read_file(path);
  if (s.size() < 10 || s.compare(0, 6, "\x93NUMPY") != 0) fail(path, "", "not a .npy file");
  const size_t hl = uint8_t(s[8]) | (size_t(uint8_t(s[9])) << 8);
  if (10 + hl > s.size()) fail(path, "", "truncated .npy header");
  const std::string dict = s.substr(10, hl);
  if (dict.find("'<f4'") == std::string::npos) fail(path, "descr", "unsupported dtype", "'<f4'", dict);
  if (dict.find("'fortran_order': False") == std::string::npos) fail(path, "fortran_order", "unsupported", "False", dict);
  std::smatch m;
  if (!std::regex_search(dict, m, std::regex("'shape': \\(([0-9, ]*)\\)"))) fail(path, "shape", "unreadable", "", dict);
  NpyArray a;
  std::string dims = m[1];
  size_t p = 0;
  while (p < dims.size()) {
    while (p < dims.size() && (dims[p] == ' ' || dims[p] == ',')) ++p;
    if (p >= dims.size()) break;
    size_t q = p;
    while (q < dims.size() && std::isdigit(static_cast<unsigned char>(dims[q]))) ++q;
    // Bounded before conversion and multiplication (a 30-digit dimension crashed std::stoll, found
    // by fuzzing): no dimension or product can exceed the file's data bytes.
    if (q - p > 15) fail(path, "shape", "has a dimension too large for any file", "at most 15 digits", dims.substr(p, q - p).substr(0, 40));
    a.shape.push_back(std::stoll(dims.substr(p, q - p)));
    p = q;
  }
  const size_t data_bytes = s.size() - 10 - hl;
  const uint64_t limit = data_bytes / 4;  // elements the file has room for
  uint64_t n = 1;
  if (std::find(a.shape.begin(), a.shape.end(), 0) != a.shape.end()) {
    n = 0;
  } else {
    for (int64_t v : a.shape) {
      if (uint64_t(v) > limit / n) fail(path, "shape", "holds more elements than the file has bytes for", std::to_string(limit), dims);
      n *= uint64_t(v);
    }
  }
  if (n * 4 != data_bytes) fail(path, "", "data size disagrees with shape", std::to_string(n * 4), std::to_string(data_bytes));
  a.data.resize(n);
  // An empty vector's data() may be null, and memcpy from/to null is undefined even for 0 bytes
  // (UBSan, fuzz finding).
  if (n > 0) std::memcpy(a.data.data(), s.data() + 10 + hl, n * 4);
  return a;
}

}  // namespace cc
