// Prompt files of the steering sweep and the organism's generation check.
#include "data/prompts.hpp"

#include "core/atomic_file.hpp"
#include "core/error.hpp"
#include "core/json_file.hpp"
#include "data/answer.hpp"

namespace cc {

std::vector<SteerPrompt> default_steer_prompts(int n, const std::string& problems_file) {
  std::vector<SteerPrompt> out = {{"What is 5-1?", "4", "default"}};
  if (n <= 0) return out;
  if (problems_file.empty()) fail("", "problems file", "is not set", "a JSONL of problems, e.g. data/math/gsm8k_test.jsonl");
  auto all = load_steer_prompts(problems_file);
  for (int i = 0; i < n && i < int(all.size()); ++i) out.push_back(all[size_t(i)]);
  return out;
}

std::vector<SteerPrompt> load_steer_prompts(const std::string& path) {
  std::string text = read_file(path);
  std::vector<SteerPrompt> out;
  const bool jsonl = path.size() >= 6 && path.substr(path.size() - 6) == ".jsonl";
  size_t line_no = 0, b = 0;
  while (b < text.size()) {
    size_t e = text.find('\n', b);
    if (e == std::string::npos) e = text.size();
    std::string line = text.substr(b, e - b);
    b = e + 1;
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.find_first_not_of(" \t") == std::string::npos) continue;
    const std::string where = path + ":" + std::to_string(line_no);
    if (!jsonl) {
      out.push_back({line, "", where});
      continue;
    }
    const Json j = parse_json(line, where);
    SteerPrompt p;
    p.source = where;
    for (const char* k : {"question", "problem", "prompt"})
      if (j.is_object() && j.contains(k) && j[k].is_string()) {
        p.question = j[k].get<std::string>();
        break;
      }
    if (p.question.empty()) fail(where, "question", "is missing: each line needs a string \"question\", \"problem\" or \"prompt\"");
    if (j.contains("answer")) {
      if (!j["answer"].is_string() && !j["answer"].is_number()) fail(where, "answer", "is neither a string nor a number");
      p.answer = reference_answer(j["answer"].is_string() ? j["answer"].get<std::string>() : j["answer"].dump());
    }
    out.push_back(std::move(p));
  }
  if (out.empty()) fail(path, "", "holds no prompt");
  return out;
}

}  // namespace cc
