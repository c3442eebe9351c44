// Prompt resolution shared by forward, generate and (later) steer.
#include "tokenizer/prompt_input.hpp"

#include <filesystem>

#include "core/error.hpp"
#include "core/strings.hpp"
#include "tokenizer/chat_template.hpp"

namespace cc {

PromptInput resolve_prompt(const std::string& ids_csv, const std::string& text, const std::string& chat,
                           const std::string& tokenizer_path, const std::string& model_dir) {
  if (ids_csv.empty() == text.empty()) fail("", "prompt", "needs exactly one of --token-ids and --prompt");
  if (!chat.empty() && text.empty()) fail("", "--chat", "applies to --prompt only");
  PromptInput p;
  const std::string tp = tokenizer_path.empty() ? model_dir : tokenizer_path;
  const bool exists = std::filesystem::exists(std::filesystem::is_directory(tp) ? tp + "/tokenizer.json" : tp);
  if (!text.empty() || !tokenizer_path.empty() || exists) p.tokenizer = Tokenizer::load(tp);
  p.ids = text.empty() ? parse_id_list(ids_csv, "--token-ids") : encode_prompt(*p.tokenizer, text, chat);
  if (p.ids.empty()) fail("", "prompt", "encodes to no tokens");
  return p;
}

}  // namespace cc
