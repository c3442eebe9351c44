// Prompt formats. Encode the result with add_special_tokens = false (as HF apply_chat_template
// does), so R1-Distill's post-processor does not add a second BOS.
#include "tokenizer/chat_template.hpp"

#include "core/error.hpp"
#include "tokenizer/tokenizer.hpp"

namespace cc {

ChatTemplate chat_template_from_name(const std::string& n) {
  if (n == "plain") return ChatTemplate::Plain;
  if (n == "chatml") return ChatTemplate::ChatML;
  if (n == "r1-distill") return ChatTemplate::R1Distill;
  fail("", "--chat", "is not a chat template", "plain, chatml or r1-distill (or auto)", n);
}

const char* chat_template_name(ChatTemplate t) {
  switch (t) {
    case ChatTemplate::Plain: return "plain";
    case ChatTemplate::ChatML: return "chatml";
    case ChatTemplate::R1Distill: return "r1-distill";
  }
  return "?";
}

ChatTemplate detect_chat_template(const Tokenizer& tok) {
  if (tok.token_to_id("<｜User｜>") >= 0 && tok.token_to_id("<｜Assistant｜>") >= 0) return ChatTemplate::R1Distill;
  if (tok.token_to_id("<|im_start|>") >= 0) return ChatTemplate::ChatML;
  return ChatTemplate::Plain;
}

std::string apply_chat_template(ChatTemplate t, const std::string& q, const std::string& system) {
  switch (t) {
    case ChatTemplate::Plain: return q;
    case ChatTemplate::ChatML:
      return "<|im_start|>system\n" + system + "<|im_end|>\n<|im_start|>user\n" + q + "<|im_end|>\n<|im_start|>assistant\n";
    case ChatTemplate::R1Distill: return "<｜begin▁of▁sentence｜><｜User｜>" + q + "<｜Assistant｜><think>\n";
  }
  return q;
}

}  // namespace cc

namespace cc {

std::vector<int32_t> encode_prompt(const Tokenizer& tok, const std::string& text, const std::string& chat) {
  if (chat.empty()) return tok.encode(text, true);
  const ChatTemplate t = chat == "auto" ? detect_chat_template(tok) : chat_template_from_name(chat);
  return tok.encode(apply_chat_template(t, text), false);
}

}  // namespace cc
