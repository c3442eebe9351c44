// GPT-2's byte-level alphabet: every byte 0..255 maps to one printable Unicode character so BPE
// vocabularies can be stored as text ("Ġ" is the space byte 0x20).
#pragma once
#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace cc {

// UTF-8 encoding of the character that stands for byte b, e.g. byte_to_char(0x20) == "Ġ".
const std::string& byte_to_char(uint8_t b);
// The byte a single code point stands for, or nullopt if it is not in the alphabet.
std::optional<uint8_t> char_to_byte(char32_t cp);

// Maps raw bytes to their byte-level text ("hello world" → "helloĠworld").
std::string bytes_to_byte_level(std::string_view bytes);
// Inverse; nullopt if some character is outside the alphabet (HF then keeps the raw UTF-8).
std::optional<std::string> byte_level_to_bytes(std::string_view text);

}  // namespace cc
