#include "core/finite.hpp"

#include <atomic>
#include <cstring>
#include <vector>

#include "core/error.hpp"
#include "core/parallel.hpp"

namespace cc {

namespace {

// First non-finite index in [b, e): exponent bits all ones. Blocks of 256 are tested branch-free
// as a min-reduction of (v & exp) ^ exp, which is 0 only for NaN/Inf (the compiler vectorises it);
// only a block with an offender is searched element by element.
template <class Bits, Bits kExp>
size_t scan(const void* data, size_t b, size_t e) {
  const Bits* p = static_cast<const Bits*>(data);
  auto bad_at = [&](size_t i) {
    Bits v;
    std::memcpy(&v, p + i, sizeof v);  // weights in a map need not be aligned
    return (v & kExp) == kExp;
  };
  size_t i = b;
  for (; i + 256 <= e; i += 256) {
    Bits mn = kExp;
    for (size_t k = 0; k < 256; ++k) {
      Bits v;
      std::memcpy(&v, p + i + k, sizeof v);
      const Bits x = Bits((v & kExp) ^ kExp);
      mn = x < mn ? x : mn;
    }
    if (mn == 0) break;
  }
  for (; i < e; ++i)
    if (bad_at(i)) return i;
  return kAllFinite;
}

size_t scan_range(DType t, const void* data, size_t b, size_t e) {
  switch (t) {
    case DType::F32: return scan<uint32_t, 0x7F800000u>(data, b, e);
    case DType::BF16: return scan<uint16_t, uint16_t(0x7F80)>(data, b, e);
    case DType::F16: return scan<uint16_t, uint16_t(0x7C00)>(data, b, e);
    case DType::F64: return scan<uint64_t, 0x7FF0000000000000ull>(data, b, e);
    default: return kAllFinite;
  }
}

}  // namespace

size_t find_non_finite(DType t, const void* data, size_t n) {
  if (n < (size_t(1) << 18)) return scan_range(t, data, 0, n);
  // The first offender overall: each chunk records its first, the minimum wins.
  std::atomic<size_t> first{kAllFinite};
  parallel_for(int64_t(n), 1 << 16, [&](int64_t b, int64_t e) {
    if (size_t(b) > first.load(std::memory_order_relaxed)) return;
    const size_t i = scan_range(t, data, size_t(b), size_t(e));
    size_t cur = first.load();
    while (i < cur && !first.compare_exchange_weak(cur, i)) {
    }
  });
  return first.load();
}

std::string index_str(const Shape& shape, size_t flat) {
  if (shape.empty()) return "[" + std::to_string(flat) + "]";
  std::vector<int64_t> idx(shape.size());
  for (size_t k = shape.size(); k-- > 0;) {
    const size_t dim = shape[k] > 0 ? size_t(shape[k]) : 1;
    idx[k] = int64_t(flat % dim);
    flat /= dim;
  }
  std::string s = "[";
  for (size_t k = 0; k < idx.size(); ++k) s += (k ? "," : "") + std::to_string(idx[k]);
  return s + "]";
}

std::string non_finite_name(DType t, const void* data, size_t i) {
  double f = 0;
  if (t == DType::F64) {
    std::memcpy(&f, static_cast<const std::byte*>(data) + i * 8, 8);
  } else {
    float g = 0;
    convert_to_f32(t, static_cast<const std::byte*>(data) + i * dtype_size(t), &g, 1);
    f = g;
  }
  if (f != f) return "NaN";
  return f > 0 ? "+Inf" : "-Inf";
}

void check_finite(DType t, const void* data, const Shape& shape, const std::string& file, const std::string& tensor,
                  const std::string& context, const std::string& hint) {
  const size_t n = size_t(shape_numel(shape));
  const size_t i = find_non_finite(t, data, n);
  if (i == kAllFinite) return;
  const std::string what = non_finite_name(t, data, i);
  fail(file, tensor,
       "holds " + what + " at " + index_str(shape, i) + " (element " + std::to_string(i) + " of " + std::to_string(n) + ")" +
           (context.empty() ? "" : " " + context),
       "finite values", what, hint);
}

}  // namespace cc
