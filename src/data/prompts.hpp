// Prompts for generation: a JSONL file (question | problem | prompt, optional answer) or plain text
// (one prompt per line), and the default set "What is 5-1?" + the first n problems of a file.
#pragma once
#include <string>
#include <vector>

namespace cc {

struct SteerPrompt {
  std::string question, answer;  // answer "" = not scored
  std::string source;            // "FILE:LINE" or "default"
};

std::vector<SteerPrompt> load_steer_prompts(const std::string& path);  // errors name FILE:LINE

// "What is 5-1?" (answer 4) and the first n problems of problems_file (e.g. data/math/gsm8k_test.jsonl).
std::vector<SteerPrompt> default_steer_prompts(int n, const std::string& problems_file);

}  // namespace cc
