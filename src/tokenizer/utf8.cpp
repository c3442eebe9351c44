// UTF-8 helpers; normalisation is delegated to utf8proc (Debian's libutf8proc, the library Julia
// and PostgreSQL use), whose tables track current Unicode like the unicode-normalization crate HF uses.
#include "tokenizer/utf8.hpp"

#include <utf8proc.h>

#include <cstdlib>
#include <memory>

#include "core/error.hpp"

namespace cc {

size_t utf8_decode(std::string_view s, size_t i, char32_t& cp) {
  const auto u = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  const unsigned char c = u(i);
  if (c < 0x80) {
    cp = c;
    return 1;
  }
  size_t n;
  char32_t min;
  if (c >= 0xc2 && c <= 0xdf) {
    n = 2;
    cp = c & 0x1f;
    min = 0x80;
  } else if (c >= 0xe0 && c <= 0xef) {
    n = 3;
    cp = c & 0x0f;
    min = 0x800;
  } else if (c >= 0xf0 && c <= 0xf4) {
    n = 4;
    cp = c & 0x07;
    min = 0x10000;
  } else {
    return 0;
  }
  if (i + n > s.size()) return 0;
  for (size_t k = 1; k < n; ++k) {
    if ((u(i + k) & 0xc0) != 0x80) return 0;
    cp = (cp << 6) | (u(i + k) & 0x3f);
  }
  if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
  return n;
}

size_t utf8_invalid_offset(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    if (static_cast<unsigned char>(s[i]) < 0x80) {
      ++i;
      continue;
    }
    char32_t cp;
    const size_t n = utf8_decode(s, i, cp);
    if (n == 0) return i;
    i += n;
  }
  return std::string_view::npos;
}

std::string utf8_encode(char32_t cp) {
  std::string o;
  if (cp < 0x80) {
    o.push_back(char(cp));
  } else if (cp < 0x800) {
    o.push_back(char(0xc0 | (cp >> 6)));
    o.push_back(char(0x80 | (cp & 0x3f)));
  } else if (cp < 0x10000) {
    o.push_back(char(0xe0 | (cp >> 12)));
    o.push_back(char(0x80 | ((cp >> 6) & 0x3f)));
    o.push_back(char(0x80 | (cp & 0x3f)));
  } else {
    o.push_back(char(0xf0 | (cp >> 18)));
    o.push_back(char(0x80 | ((cp >> 12) & 0x3f)));
    o.push_back(char(0x80 | ((cp >> 6) & 0x3f)));
    o.push_back(char(0x80 | (cp & 0x3f)));
  }
  return o;
}

std::string utf8_lossy(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  size_t i = 0;
  const auto u = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  while (i < s.size()) {
    char32_t cp;
    const size_t n = utf8_decode(s, i, cp);
    if (n > 0) {
      out.append(s.substr(i, n));
      i += n;
      continue;
    }
    // Maximal subpart: the longest prefix of a valid sequence (Unicode / WHATWG / Rust rule).
    const unsigned char c = u(i);
    size_t len = 1;
    unsigned char lo = 0x80, hi = 0xbf;
    size_t need = 0;
    if (c >= 0xc2 && c <= 0xdf) need = 1;
    else if (c >= 0xe0 && c <= 0xef) {
      need = 2;
      if (c == 0xe0) lo = 0xa0;
      if (c == 0xed) hi = 0x9f;
    } else if (c >= 0xf0 && c <= 0xf4) {
      need = 3;
      if (c == 0xf0) lo = 0x90;
      if (c == 0xf4) hi = 0x8f;
    }
    for (size_t k = 0; k < need && i + len < s.size(); ++k) {
      const unsigned char d = u(i + len);
      if (k == 0 ? (d < lo || d > hi) : (d & 0xc0) != 0x80) break;
      ++len;
    }
    out += "\xEF\xBF\xBD";
    i += len;
  }
  return out;
}

std::string unicode_normalize(std::string_view s, NormalForm f) {
  if (f == NormalForm::None) return std::string(s);
  bool ascii = true;
  for (unsigned char c : s)
    if (c >= 0x80) {
      ascii = false;
      break;
    }
  if (ascii) return std::string(s);
  int opts = UTF8PROC_STABLE;
  switch (f) {
    case NormalForm::NFC: opts |= UTF8PROC_COMPOSE; break;
    case NormalForm::NFD: opts |= UTF8PROC_DECOMPOSE; break;
    case NormalForm::NFKC: opts |= UTF8PROC_COMPOSE | UTF8PROC_COMPAT; break;
    case NormalForm::NFKD: opts |= UTF8PROC_DECOMPOSE | UTF8PROC_COMPAT; break;
    case NormalForm::None: break;
  }
  utf8proc_uint8_t* out = nullptr;
  const utf8proc_ssize_t n = utf8proc_map(reinterpret_cast<const utf8proc_uint8_t*>(s.data()),
                                          utf8proc_ssize_t(s.size()), &out, utf8proc_option_t(opts));
  if (n < 0) fail("", "text", std::string("cannot be normalised: ") + utf8proc_errmsg(n));
  std::unique_ptr<utf8proc_uint8_t, decltype(&std::free)> guard(out, &std::free);
  return std::string(reinterpret_cast<const char*>(out), size_t(n));
}

size_t utf8_floor(std::string_view s, size_t i) {
  if (i >= s.size()) return s.size();
  while (i > 0 && (static_cast<unsigned char>(s[i]) & 0xC0) == 0x80) --i;
  return i;
}

}  // namespace cc
