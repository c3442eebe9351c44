// Messages between ranks: plain values and vectors of them appended to a byte string and read back
// in the same order. Both ends are the same binary on the same kind of machine, so the bytes are
// the values' own (no byte-order or width conversion).
#pragma once
#include <cstring>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

namespace cc::dist {

class ByteWriter {
 public:
  template <class T>
  void put(const T& v) {
    static_assert(std::is_trivially_copyable_v<T>);
    out_.append(reinterpret_cast<const char*>(&v), sizeof(T));
  }
  // The length, then the elements.
  template <class T>
  void put_vector(const std::vector<T>& v) {
    put(uint64_t(v.size()));
    put_raw(v);
  }
  void put_string(const std::string& s) {
    put(uint64_t(s.size()));
    out_.append(s);
  }
  // The elements alone (the reader knows how many).
  template <class T>
  void put_raw(const std::vector<T>& v) {
    static_assert(std::is_trivially_copyable_v<T>);
    out_.append(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(T));
  }
  std::string& bytes() { return out_; }

 private:
  std::string out_;
};

// A message shorter than what is read from it is a bug of the sender, not bad input.
class ByteReader {
 public:
  explicit ByteReader(const std::string& in) : in_(in) {}
  template <class T>
  T take() {
    T v;
    copy(&v, sizeof(T));
    return v;
  }
  template <class T>
  std::vector<T> take_vector() {
    return take_raw<T>(size_t(take<uint64_t>()));
  }
  template <class T>
  std::vector<T> take_raw(size_t n) {
    std::vector<T> v(n);
    copy(v.data(), n * sizeof(T));
    return v;
  }
  std::string take_string() {
    std::string s(size_t(take<uint64_t>()), '\0');
    copy(s.data(), s.size());
    return s;
  }
  bool done() const { return at_ == in_.size(); }

 private:
  void copy(void* to, size_t n) {
    if (at_ + n > in_.size()) throw std::runtime_error("message between ranks is truncated");
    if (n) std::memcpy(to, in_.data() + at_, n);
    at_ += n;
  }
  const std::string& in_;
  size_t at_ = 0;
};

}  // namespace cc::dist
