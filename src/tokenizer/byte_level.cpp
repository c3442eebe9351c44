// The alphabet: printable Latin-1 bytes map to themselves, the other 68 to U+0100 upwards.
#include "tokenizer/byte_level.hpp"

#include <vector>

#include "tokenizer/utf8.hpp"

namespace cc {

namespace {
struct Tables {
  std::array<std::string, 256> to_char;
  std::array<int16_t, 512> from_cp;  // code point (< 512) → byte, -1 if none
  Tables() {
    from_cp.fill(-1);
    int n = 0;
    for (int b = 0; b < 256; ++b) {
      const bool printable = (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
      const char32_t cp = printable ? char32_t(b) : char32_t(256 + n++);
      to_char[size_t(b)] = utf8_encode(cp);
      from_cp[size_t(cp)] = int16_t(b);
    }
  }
};
const Tables& tables() {
  static const Tables t;
  return t;
}
}  // namespace

const std::string& byte_to_char(uint8_t b) { return tables().to_char[b]; }

std::optional<uint8_t> char_to_byte(char32_t cp) {
  if (cp >= 512) return std::nullopt;
  const int16_t b = tables().from_cp[cp];
  if (b < 0) return std::nullopt;
  return uint8_t(b);
}

std::string bytes_to_byte_level(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char c : bytes) out += byte_to_char(c);
  return out;
}

std::optional<std::string> byte_level_to_bytes(std::string_view text) {
  std::string out;
  size_t i = 0;
  while (i < text.size()) {
    char32_t cp;
    const size_t n = utf8_decode(text, i, cp);
    if (n == 0) return std::nullopt;
    auto b = char_to_byte(cp);
    if (!b) return std::nullopt;
    out.push_back(char(*b));
    i += n;
  }
  return out;
}

}  // namespace cc
