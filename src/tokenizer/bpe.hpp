// Byte-level BPE model (HF `BPE` with a byte-level alphabet): vocabulary, ranked merges, and the
// merge loop (lowest rank first, leftmost on ties) with a per-thread piece cache.
#pragma once
#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "tokenizer/tokenizer_json.hpp"

namespace cc {

class BpeModel {
 public:
  // `tj` is the parsed tokenizer.json; errors name `origin` and the bad entry.
  BpeModel(TokenizerJson& tj, const std::string& origin);

  // Appends the ids of one pre-tokenized piece (raw bytes) to `out`.
  void encode_piece(std::string_view bytes, std::vector<int32_t>& out) const;

  int32_t token_to_id(const std::string& token) const;  // -1 if absent
  const std::string& id_to_token(int32_t id) const;     // "" if absent
  size_t vocab_size() const { return id_to_token_.size(); }

 private:
  struct Merge {
    int32_t rank, id;
  };
  const Merge* find_merge(int32_t a, int32_t b) const;
  void merge_word(std::vector<int32_t>& syms) const;

  std::vector<std::string> id_to_token_;                   // owns the token strings
  std::unordered_map<std::string_view, int32_t> vocab_;    // views into id_to_token_
  std::unordered_map<uint64_t, Merge> merges_;
  std::array<int32_t, 256> byte_id_{};  // id of each byte's single-character token
  bool ignore_merges_ = false;
  uint64_t instance_;                   // distinguishes caches of different models
};

}  // namespace cc
