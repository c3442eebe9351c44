// Turns the command line's prompt options (--token-ids | --prompt [--chat]) into token ids,
// loading the tokenizer from --tokenizer or, by default, the model directory.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "tokenizer/tokenizer.hpp"

namespace cc {

struct PromptInput {
  std::vector<int32_t> ids;
  std::unique_ptr<Tokenizer> tokenizer;  // null when none was needed and none was found
};

// Exactly one of ids_csv / text must be non-empty. With text, the tokenizer must load; with ids,
// it is loaded when present (to decode output) and skipped otherwise.
PromptInput resolve_prompt(const std::string& ids_csv, const std::string& text, const std::string& chat,
                           const std::string& tokenizer_path, const std::string& model_dir);

}  // namespace cc
