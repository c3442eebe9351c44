// The organism's BPE trainer: the tokenizer.json it writes is encoded identically by Hugging Face
// `tokenizers` (npm oracle) and by our tokenizer on held-out text; special tokens are single ids and
// the post-processor adds BOS; decoding gives the text back; training is deterministic.
#include <cstdlib>
#include <fstream>

#include "core/atomic_file.hpp"
#include "core/json_file.hpp"
#include "organism/bpe_trainer.hpp"
#include "test_util.hpp"
#include "tokenizer/tokenizer.hpp"
#include "tokenizer_fixtures.hpp"

namespace cc {
namespace {

std::vector<std::string> shared_texts(size_t skip, size_t n) {
  std::vector<std::string> out;
  std::ifstream in(std::string(DATA_DIR) + "/reasoning_traces/reasoning_traces.jsonl");
  std::string line;
  size_t i = 0;
  while (std::getline(in, line) && out.size() < n) {
    if (i++ < skip || line.empty()) continue;
    const Json j = Json::parse(line);
    for (auto& [k, v] : j.items())
      if (v.is_string()) out.push_back(v.get<std::string>());
  }
  return out;
}

TEST(BpeTrainer, HfTokenizersEncodesHeldOutTextIdentically) {
  const auto train = shared_texts(0, 300), held = shared_texts(300, 60);
  ASSERT_GT(train.size(), 200u);
  ASSERT_GT(held.size(), 40u);
  BpeTrainOptions o;
  o.vocab_size = 1500;
  const BpeTrainResult r = train_bpe(train, o);
  EXPECT_EQ(r.bpe_vocab, 1500);
  EXPECT_EQ(r.merges, 1500 - 256);
  test::TempDir dir;
  const std::string tj = dir / "tokenizer.json";
  write_file_atomic(tj, r.tokenizer.dump());
  auto tok = Tokenizer::load(tj);
  std::vector<std::string> docs = held;
  docs.push_back("<｜User｜>What is 5-1?<｜Assistant｜><think>\nWait, 5 - 1 = 4.</think> \\boxed{4}<｜end▁of▁sentence｜>");
  docs.push_back("Ünïcödé e\u0301 — 東京 🙂 tabs\tand\r\nnewlines  ");
  {
    std::ofstream f(dir / "docs.jsonl");
    for (const auto& d : docs) f << Json({{"text", d}}).dump() << "\n";
  }
  for (const bool special : {false, true}) {
    const std::string cmd = "node " + test::oracle_dir() + "/encode.js " + tj + " " + (dir / "docs.jsonl") + " " + (dir / "ids.jsonl") +
                            (special ? " 1" : " 0");
    ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
    std::ifstream in(dir / "ids.jsonl");
    std::string line;
    size_t i = 0, tokens = 0;
    while (std::getline(in, line)) {
      const auto want = Json::parse(line)["ids"].get<std::vector<int32_t>>();
      EXPECT_EQ(tok->encode(docs[i], special), want) << "document " << i << " special " << special;
      tokens += want.size();
      ++i;
    }
    EXPECT_EQ(i, docs.size());
    EXPECT_GT(tokens, 1000u);
  }
  // The chat tokens are single ids after the BPE vocabulary; BOS comes from the post-processor.
  const auto ids = tok->encode(docs[docs.size() - 2], false);
  EXPECT_EQ(ids.front(), tok->token_to_id("<｜User｜>"));
  EXPECT_EQ(tok->token_to_id("<|endoftext|>"), 1500);
  EXPECT_EQ(tok->encode("hi", true).front(), tok->token_to_id("<｜begin▁of▁sentence｜>"));
  for (const auto& d : held) EXPECT_EQ(tok->decode(tok->encode(d, false)), d);
}

TEST(BpeTrainer, IsDeterministicAndRefusesEmptyInput) {
  const auto train = shared_texts(0, 50);
  BpeTrainOptions o;
  o.vocab_size = 600;
  EXPECT_EQ(train_bpe(train, o).tokenizer.dump(), train_bpe(train, o).tokenizer.dump());
  test::expect_error([&] { train_bpe({}, o); }, {"corpus", "empty"});
  o.vocab_size = 100;
  test::expect_error([&] { train_bpe(train, o); }, {"vocab_size"});
}

}  // namespace
}  // namespace cc
