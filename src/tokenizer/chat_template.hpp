// The three prompt formats the experiments use, rendered as text whose special tokens the
// tokenizer's added-token pass then recognises:
//   plain:      {question}
//   chatml:     <|im_start|>system\n{system}<|im_end|>\n<|im_start|>user\n{question}<|im_end|>\n<|im_start|>assistant\n
//   r1-distill: <｜begin▁of▁sentence｜><｜User｜>{question}<｜Assistant｜><think>\n
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace cc {

class Tokenizer;

enum class ChatTemplate { Plain, ChatML, R1Distill };

ChatTemplate chat_template_from_name(const std::string& name);  // "plain" | "chatml" | "r1-distill"
const char* chat_template_name(ChatTemplate t);
// r1-distill when the tokenizer has <｜User｜> and <｜Assistant｜>, chatml when it has
// <|im_start|>, plain otherwise.
ChatTemplate detect_chat_template(const Tokenizer& tok);

// Qwen2.5-Instruct's default system prompt (used by chatml unless one is given).
inline constexpr const char* kQwenDefaultSystem = "You are Qwen, created by Alibaba Cloud. You are a helpful assistant.";

std::string apply_chat_template(ChatTemplate t, const std::string& question,
                                const std::string& system = kQwenDefaultSystem);

// Token ids of a prompt. chat "" encodes the text as is (post-processor on, e.g. R1's BOS);
// "auto" or a template name wraps it first and encodes with the post-processor off.
std::vector<int32_t> encode_prompt(const Tokenizer& tok, const std::string& text, const std::string& chat);

}  // namespace cc
