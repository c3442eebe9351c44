// Parity with Hugging Face `tokenizers` (the Rust library, through its npm binding): every document
// of data/ plus a stress set, encoded by both with the real Qwen tokenizer.json and an
// R1-Distill-style variant; ids must be identical, and decoding must agree too.
#include <array>
#include <cstdio>
#include <fstream>

#include "core/json_file.hpp"
#include "test_util.hpp"
#include "tokenizer/tokenizer.hpp"
#include "tokenizer_fixtures.hpp"

namespace cc {
namespace {

using test::Doc;

// Runs the oracle over docs; returns one id list per doc.
std::vector<std::vector<int32_t>> oracle_encode(const std::string& tok_json, const std::vector<Doc>& docs, bool special,
                                                const test::TempDir& tmp) {
  {
    std::ofstream f(tmp / "docs.jsonl");
    for (const auto& d : docs) f << Json({{"text", d.text}}).dump() << "\n";
  }
  const std::string cmd = "node " + test::oracle_dir() + "/encode.js " + tok_json + " " + (tmp / "docs.jsonl") + " " +
                          (tmp / "ids.jsonl") + " " + (special ? "1" : "0");
  EXPECT_EQ(std::system(cmd.c_str()), 0) << cmd;
  std::vector<std::vector<int32_t>> out;
  std::ifstream in(tmp / "ids.jsonl");
  std::string line;
  while (std::getline(in, line)) out.push_back(Json::parse(line)["ids"].get<std::vector<int32_t>>());
  return out;
}

void compare(const Tokenizer& tok, const std::string& tok_json, const std::vector<Doc>& docs, bool special,
             const std::string& label) {
  test::TempDir tmp;
  const auto want = oracle_encode(tok_json, docs, special, tmp);
  ASSERT_EQ(want.size(), docs.size());
  size_t mismatches = 0, tokens = 0, bytes = 0;
  std::vector<std::string> texts;
  for (const auto& d : docs) texts.push_back(d.text);
  const auto got = tok.encode_batch(texts, special);
  for (size_t i = 0; i < docs.size(); ++i) {
    tokens += want[i].size();
    bytes += docs[i].text.size();
    if (got[i] != want[i]) {
      if (++mismatches <= 5) {
        size_t k = 0;
        while (k < got[i].size() && k < want[i].size() && got[i][k] == want[i][k]) ++k;
        ADD_FAILURE() << label << ": " << docs[i].source << " differs at token " << k << " (ours "
                      << (k < got[i].size() ? got[i][k] : -1) << ", HF " << (k < want[i].size() ? want[i][k] : -1)
                      << ") near: " << tok.decode(std::vector<int32_t>(want[i].begin() + long(k), want[i].begin() + long(std::min(k + 5, want[i].size()))));
      }
    }
  }
  EXPECT_EQ(mismatches, 0u);
  std::printf("[parity] %s: %zu documents, %zu bytes, %zu tokens compared with HF tokenizers; %zu mismatches\n",
              label.c_str(), docs.size(), bytes, tokens, mismatches);
}

TEST(TokenizerParity, QwenOnSharedDataAndStressSet) {
  const std::string path = test::qwen_tokenizer_json();
  auto tok = Tokenizer::load(path);
  auto docs = test::shared_documents();
  auto stress = test::stress_documents();
  docs.insert(docs.end(), stress.begin(), stress.end());
  compare(*tok, path, docs, true, "qwen3 tokenizer.json");
}

TEST(TokenizerParity, R1DistillStyleWithBosAndChatPrompts) {
  test::TempDir d;
  const std::string path = test::make_r1_tokenizer(d.str());
  auto tok = Tokenizer::load(path);
  auto docs = test::stress_documents();
  for (const auto& q : test::shared_documents()) {
    if (q.source.find("gsm8k_test") == std::string::npos) continue;
    docs.push_back(q);
    docs.push_back({q.source + ":r1chat", "<｜begin▁of▁sentence｜><｜User｜>" + q.text + "<｜Assistant｜><think>\n"});
  }
  compare(*tok, path, docs, true, "r1-distill-style, add_special_tokens");
  compare(*tok, path, docs, false, "r1-distill-style, no special tokens");
}

TEST(TokenizerParity, DecodeAgreesWithHf) {
  // HF decode of every single id and of whole documents; the oracle's decode runs through node.
  const std::string path = test::qwen_tokenizer_json();
  auto tok = Tokenizer::load(path);
  test::TempDir tmp;
  std::vector<int32_t> ids;
  for (int32_t i = 0; i < int32_t(tok->vocab_size()); i += 97) ids.push_back(i);
  for (int32_t i = 151640; i < 151680; ++i) ids.push_back(i);  // added tokens and ids past the vocabulary
  {
    std::ofstream f(tmp / "ids.json");
    f << Json(ids).dump();
  }
  const std::string script =
      "const {Tokenizer}=require('tokenizers');const fs=require('fs');(async()=>{const t=Tokenizer.fromFile(process.argv[2]);"
      "const ids=JSON.parse(fs.readFileSync(process.argv[3]));const out=[];for(const i of ids){out.push(await t.decode([i],false));}"
      "out.push(await t.decode(ids,false));out.push(await t.decode(ids,true));fs.writeFileSync(process.argv[4],JSON.stringify(out));})()"
      ".catch(e=>{console.error(e);process.exit(1);});";
  {
    std::ofstream f(tmp / "dec.js");
    f << script;
  }
  const std::string cmd = "NODE_PATH=" + test::oracle_dir() + "/node_modules node " + (tmp / "dec.js") + " " + path + " " + (tmp / "ids.json") + " " + (tmp / "out.json");
  ASSERT_EQ(std::system(cmd.c_str()), 0);
  Json want = read_json_file(tmp / "out.json");
  ASSERT_EQ(want.size(), ids.size() + 2);
  size_t bad = 0;
  for (size_t i = 0; i < ids.size(); ++i)
    if (tok->decode({ids[i]}) != want[i].get<std::string>() && ++bad <= 5) ADD_FAILURE() << "id " << ids[i];
  EXPECT_EQ(bad, 0u);
  EXPECT_EQ(tok->decode(ids, false), want[ids.size()].get<std::string>());
  EXPECT_EQ(tok->decode(ids, true), want[ids.size() + 1].get<std::string>());
  std::printf("[parity] decode: %zu single ids and 2 whole sequences compared with HF\n", ids.size());
}

}  // namespace
}  // namespace cc
