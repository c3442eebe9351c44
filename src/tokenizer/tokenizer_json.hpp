// Reads tokenizer.json in one pass, pulling model.vocab and model.merges (300k entries for Qwen)
// out as flat lists while the parser runs, so no JSON tree is built (or freed) for them; the rest
// of the file comes back as an ordinary Json object.
#pragma once
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "core/json_file.hpp"

namespace cc {

struct TokenizerJson {
  Json rest;                                                // everything else; model.vocab/merges emptied
  std::vector<std::pair<std::string, int64_t>> vocab;       // in file order
  std::vector<std::pair<std::string, std::string>> merges;  // both on-disk forms, in rank order
  bool has_vocab = false, has_merges = false;
};

TokenizerJson read_tokenizer_json(const std::string& path);  // errors name the file and the entry

}  // namespace cc
