// The prompts an LLM labeller gets and the parsing of its answers (issue 23), after the paper's
// GPT-4o-mini labelling and OpenAI's explain-then-score (Bills et al. 2023):
//  - labelling: a feature's max-activating and sampled contexts, the token it fires on marked
//    <<like this>>; the answer is a short label and one of the paper's five categories or "none";
//  - detection: the label and a shuffled mix of held-out activating and non-activating contexts;
//    the answer lists which excerpts activate, scored by balanced accuracy.
#pragma once
#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "core/json_file.hpp"

namespace cc {

// The categories a label may carry: the reasoning lexicon's five, plus "none".
const std::vector<std::string>& label_categories();

// One context: its tokens' texts with token `center` marked <<like this>> (center < 0: none).
std::string marked_context(const std::vector<std::string>& texts, int64_t center);

// The labelling prompt for feature j over contexts (one per line, already marked).
std::string labelling_prompt(int64_t j, const std::vector<std::string>& contexts);
// Detection: the label and numbered contexts (1-based in the prompt).
std::string detection_prompt(const std::string& label, const std::vector<std::string>& contexts);

// JSON schemas for servers that take response_format json_schema.
Json label_schema();
Json detection_schema();

struct LabelAnswer {
  std::string label, category;  // category one of label_categories()
};
// The JSON object in the reply (the whole reply, a ```json block, or the first {...} in it); the
// category matched case-insensitively, "" or unknown → "none". nullopt when no label can be read.
std::optional<LabelAnswer> parse_label_reply(const std::string& reply);
// The excerpt numbers (1..n) the reply says activate; nullopt when it holds no such list.
std::optional<std::set<int>> parse_detection_reply(const std::string& reply, int n);

}  // namespace cc
