// UTF-8 primitives: validation with the offending byte offset, encoding, decoding, the lossy
// replacement HF (Rust's from_utf8_lossy) applies when decoded bytes are not valid UTF-8, and
// Unicode normalisation through utf8proc.
#pragma once
#include <cstddef>
#include <string>
#include <string_view>

namespace cc {

// Offset of the first byte that starts an invalid sequence, or npos when `s` is valid UTF-8
// (overlong forms, surrogates and code points above U+10FFFF are invalid, as in Rust).
size_t utf8_invalid_offset(std::string_view s);

std::string utf8_encode(char32_t cp);
// Decodes the code point at s[i]; returns its length in bytes, 0 if invalid there.
size_t utf8_decode(std::string_view s, size_t i, char32_t& cp);

// The largest i' <= i where a UTF-8 character starts (i itself when i >= s.size()): cutting s there
// never splits a character.
size_t utf8_floor(std::string_view s, size_t i);

// Replaces each maximal invalid subsequence by U+FFFD exactly as Rust's String::from_utf8_lossy.
std::string utf8_lossy(std::string_view bytes);

enum class NormalForm { None, NFC, NFD, NFKC, NFKD };
// Normalises valid UTF-8 (ASCII passes through untouched without a copy of work).
std::string unicode_normalize(std::string_view s, NormalForm f);

}  // namespace cc
