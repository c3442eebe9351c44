#include "labels/label_prompt.hpp"

#include <algorithm>
#include <cctype>

namespace cc {

const std::vector<std::string>& label_categories() {
  static const std::vector<std::string> c = {"self-reflection", "verification", "deductive", "alternative", "contrastive", "none"};
  return c;
}

std::string marked_context(const std::vector<std::string>& texts, int64_t center) {
  std::string s;
  for (size_t k = 0; k < texts.size(); ++k) s += int64_t(k) == center ? "<<" + texts[k] + ">>" : texts[k];
  std::replace(s.begin(), s.end(), '\n', ' ');  // one context per line
  return s;
}

std::string labelling_prompt(int64_t j, const std::vector<std::string>& contexts) {
  std::string ctx;
  for (const auto& c : contexts) ctx += "- " + c + "\n";
  return "Below are text excerpts where one feature of a sparse dictionary over a language model's "
         "activations fires; the token it fires on is marked <<like this>>.\n" + ctx +
         "In a few words, what does the feature detect? Then say whether it marks one of these reasoning moves: "
         "self-reflection (reconsidering, e.g. \"wait\"), verification (checking a result), deductive (drawing a "
         "conclusion, e.g. \"so\", \"therefore\"), alternative (another approach), contrastive (\"but\", \"however\"), "
         "or none. Answer only with JSON {\"feature\": " + std::to_string(j) + ", \"label\": \"...\", \"category\": \"...\"}.";
}

std::string detection_prompt(const std::string& label, const std::vector<std::string>& contexts) {
  std::string ctx;
  for (size_t i = 0; i < contexts.size(); ++i) ctx += std::to_string(i + 1) + ". " + contexts[i] + "\n";
  return "A feature of a language model is described as: \"" + label + "\".\nIn each excerpt below one token is marked "
         "<<like this>>. For which excerpts does this feature fire on the marked token?\n" + ctx +
         "Answer only with JSON {\"activating\": [excerpt numbers]}.";
}

Json label_schema() {
  return {{"type", "object"},
          {"properties", {{"feature", {{"type", "integer"}}}, {"label", {{"type", "string"}}}, {"category", {{"type", "string"}, {"enum", label_categories()}}}}},
          {"required", {"label", "category"}}};
}

Json detection_schema() {
  return {{"type", "object"}, {"properties", {{"activating", {{"type", "array"}, {"items", {{"type", "integer"}}}}}}}, {"required", {"activating"}}};
}

// The first JSON object in text: the whole text, else from the first '{' to its matching '}'.
static std::optional<Json> first_object(const std::string& text) {
  Json j = Json::parse(text, nullptr, false);
  if (!j.is_discarded() && j.is_object()) return j;
  for (size_t b = text.find('{'); b != std::string::npos; b = text.find('{', b + 1)) {
    int depth = 0;
    bool in_string = false;
    for (size_t i = b; i < text.size(); ++i) {
      const char ch = text[i];
      if (in_string) {
        if (ch == '\\') ++i;
        else if (ch == '"') in_string = false;
      } else if (ch == '"') in_string = true;
      else if (ch == '{') ++depth;
      else if (ch == '}' && --depth == 0) {
        Json k = Json::parse(text.substr(b, i - b + 1), nullptr, false);
        if (!k.is_discarded() && k.is_object()) return k;
        break;
      }
    }
  }
  return std::nullopt;
}

static std::string lower(std::string s) {
  for (auto& c : s) c = char(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::optional<LabelAnswer> parse_label_reply(const std::string& reply) {
  const auto j = first_object(reply);
  if (!j || !j->contains("label") || !(*j)["label"].is_string() || (*j)["label"].get<std::string>().empty()) return std::nullopt;
  LabelAnswer a{(*j)["label"].get<std::string>(), "none"};
  if (j->contains("category") && (*j)["category"].is_string()) {
    const std::string c = lower((*j)["category"].get<std::string>());
    for (const auto& k : label_categories())
      if (c == k) a.category = k;
  }
  return a;
}

std::optional<std::set<int>> parse_detection_reply(const std::string& reply, int n) {
  const auto j = first_object(reply);
  if (!j || !j->contains("activating") || !(*j)["activating"].is_array()) return std::nullopt;
  std::set<int> out;
  for (const auto& v : (*j)["activating"]) {
    if (!v.is_number_integer()) return std::nullopt;
    const int k = v.get<int>();
    if (k >= 1 && k <= n) out.insert(k);
  }
  return out;
}

}  // namespace cc
