// HF "added tokens": strings matched in the raw text before any normalisation or BPE
// (leftmost-longest), with their lstrip / rstrip / single_word / normalized / special flags.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/json_file.hpp"

namespace cc {

struct AddedToken {
  int32_t id;
  std::string content;  // e.g. "<|endoftext|>"
  bool special = false;      // skipped by decode(skip_special_tokens)
  bool lstrip = false;       // swallow whitespace on the left
  bool rstrip = false;       // swallow whitespace on the right
  bool single_word = false;  // only match when not inside a word
  bool normalized = false;   // matched against normalised text instead of raw text
};

// A segment of input: either plain text to normalise and BPE, or one added token.
struct Segment {
  std::string_view text;  // plain text when id < 0
  int32_t id = -1;
};

class AddedVocabulary {
 public:
  AddedVocabulary() = default;
  AddedVocabulary(const Json& added_tokens, const std::string& origin);

  const std::vector<AddedToken>& tokens() const { return tokens_; }
  const AddedToken* find_id(int32_t id) const;
  const AddedToken* find_content(const std::string& s) const;

  // Splits `text` on tokens with normalized == `normalized_pass`; appends segments to `out`.
  void split(std::string_view text, bool normalized_pass, std::vector<Segment>& out) const;

 private:
  std::vector<AddedToken> tokens_;
  std::vector<std::vector<int>> by_first_byte_[2];  // [pass][byte] → token indices, longest first
};

}  // namespace cc
