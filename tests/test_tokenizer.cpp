// Tokenizer behaviour that does not need the oracle: round trips, byte-exact decoding, chat
// templates and BOS rules, malformed tokenizer.json files.
#include "core/atomic_file.hpp"
#include "test_util.hpp"
#include "tokenizer/byte_level.hpp"
#include "tokenizer/chat_template.hpp"
#include "tokenizer/regex_split.hpp"
#include "tokenizer/tokenizer.hpp"
#include "tokenizer_fixtures.hpp"

namespace cc {
namespace {

using test::expect_error;
using test::TempDir;

const Tokenizer& qwen() {
  static auto t = Tokenizer::load(test::qwen_tokenizer_json());
  return *t;
}

TEST(Tokenizer, RoundTripIsNfcOfInput) {
  for (const auto& d : test::stress_documents()) {
    const auto ids = qwen().encode(d.text, false);
    EXPECT_EQ(qwen().decode(ids), unicode_normalize(d.text, NormalForm::NFC)) << d.source;
  }
  // NFC really changes some of them (so the check above is not vacuous).
  EXPECT_NE(unicode_normalize("e\u0301", NormalForm::NFC), "e\u0301");
  EXPECT_EQ(unicode_normalize("e\u0301", NormalForm::NFC), "\u00e9");
}

TEST(Tokenizer, DecodeIsByteExactAcrossSplitCharacters) {
  const std::string text = "emoji 👨‍👩‍👧 and 中文 and a\u0301";
  const auto ids = qwen().encode(text, false);
  std::string joined;
  bool some_partial = false;
  for (int32_t id : ids) {
    const std::string b = qwen().decode_bytes({id});
    if (utf8_invalid_offset(b) != std::string::npos) some_partial = true;  // an id holding part of a character
    joined += b;
  }
  EXPECT_TRUE(some_partial);
  EXPECT_EQ(joined, qwen().decode_bytes(ids));
  EXPECT_EQ(joined, unicode_normalize(text, NormalForm::NFC));
}

TEST(Tokenizer, InvalidUtf8IsAClearError) {
  expect_error([] { qwen().encode(std::string("ok \xff\xfe bad")); }, {"not valid UTF-8", "byte 3"});
  expect_error([] { qwen().encode(std::string("\xed\xa0\x80")); }, {"not valid UTF-8", "byte 0"});  // surrogate
  EXPECT_EQ(utf8_lossy(std::string("a\xff" "b\xe2\x82")), "a\uFFFDb\uFFFD");
}

TEST(Tokenizer, ByteLevelAlphabet) {
  EXPECT_EQ(byte_to_char(' '), "Ġ");
  EXPECT_EQ(byte_to_char('\n'), "Ċ");
  EXPECT_EQ(byte_to_char('a'), "a");
  for (int b = 0; b < 256; ++b) {
    auto back = byte_level_to_bytes(byte_to_char(uint8_t(b)));
    ASSERT_TRUE(back);
    EXPECT_EQ(uint8_t((*back)[0]), b);
  }
}

TEST(Tokenizer, OnigWhitespaceRewrite) {
  EXPECT_EQ(onig_to_pcre2("a\\sb").find("\\s"), std::string::npos);
  EXPECT_NE(onig_to_pcre2("[^\\s\\p{L}]").find("[^\\x{9}"), std::string::npos);
  EXPECT_EQ(onig_to_pcre2("\\\\s"), "\\\\s");  // an escaped backslash followed by s is not \s
}

TEST(ChatTemplate, DetectsAndRendersEachFamily) {
  TempDir d;
  auto r1 = Tokenizer::load(test::make_r1_tokenizer(d.str()));
  EXPECT_EQ(detect_chat_template(*r1), ChatTemplate::R1Distill);
  EXPECT_EQ(detect_chat_template(qwen()), ChatTemplate::ChatML);
  const std::string p = apply_chat_template(ChatTemplate::R1Distill, "What is 5-1?");
  EXPECT_EQ(p, "<｜begin▁of▁sentence｜><｜User｜>What is 5-1?<｜Assistant｜><think>\n");
  const auto ids = r1->encode(p, false);
  ASSERT_GE(ids.size(), 5u);
  EXPECT_EQ(ids[0], 151646);  // BOS once: the template carries it, the post-processor is off
  EXPECT_EQ(ids[1], r1->token_to_id("<｜User｜>"));
  EXPECT_EQ(ids[ids.size() - 2], r1->token_to_id("<think>"));
  EXPECT_EQ(r1->decode(ids), p);
  // Plain text through the R1 tokenizer gets BOS from the post-processor, Qwen's gets none.
  EXPECT_EQ(r1->encode("hi")[0], 151646);
  EXPECT_EQ(r1->prefix_ids(), std::vector<int32_t>{151646});
  EXPECT_TRUE(qwen().prefix_ids().empty());
  // The id collision of PAPER.md §1: 151646 means different things to the two tokenizers.
  EXPECT_EQ(qwen().id_to_token(151646), "<|object_ref_start|>");
  EXPECT_EQ(r1->id_to_token(151646), "<｜begin▁of▁sentence｜>");
  const std::string cml = apply_chat_template(ChatTemplate::ChatML, "hi", "sys");
  EXPECT_EQ(cml, "<|im_start|>system\nsys<|im_end|>\n<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n");
  expect_error([] { chat_template_from_name("llama"); }, {"--chat", "llama"});
}

// Writes a small byte-level tokenizer.json variant for error tests.
std::string tiny_tokenizer(const TempDir& d, const std::function<void(Json&)>& edit) {
  Json vocab = Json::object();
  for (int b = 0; b < 256; ++b) vocab[byte_to_char(uint8_t(b))] = b;
  vocab["ab"] = 256;
  Json j = {{"version", "1.0"},
            {"added_tokens", Json::array({{{"id", 257}, {"content", "<s>"}, {"special", true}}})},
            {"normalizer", {{"type", "NFC"}}},
            {"pre_tokenizer", {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", true}}},
            {"post_processor", nullptr},
            {"decoder", {{"type", "ByteLevel"}}},
            {"model", {{"type", "BPE"}, {"vocab", vocab}, {"merges", Json::array({"a b"})}}}};
  edit(j);
  const std::string p = d / "tokenizer.json";
  write_file_atomic(p, j.dump());
  return p;
}

TEST(Tokenizer, SmallVariantsWork) {
  TempDir d;
  auto t = Tokenizer::load(tiny_tokenizer(d, [](Json&) {}));
  EXPECT_EQ(t->encode("ab<s>a"), (std::vector<int32_t>{256, 257, 'a'}));
  TempDir d2;  // merges as pairs
  auto t2 = Tokenizer::load(tiny_tokenizer(d2, [](Json& j) { j["model"]["merges"] = Json::array({Json::array({"a", "b"})}); }));
  EXPECT_EQ(t2->encode("ab"), (std::vector<int32_t>{256}));
}

TEST(Tokenizer, MalformedFilesGiveClearErrors) {
  TempDir d;
  expect_error([&] { Tokenizer::load(tiny_tokenizer(d, [](Json& j) { j.erase("model"); })); }, {"tokenizer.json", "'model'", "missing"});
  expect_error([&] { Tokenizer::load(tiny_tokenizer(d, [](Json& j) { j["model"]["merges"] = Json::array({"a zz"}); })); },
               {"model.merges[0]", "not in the vocabulary", "zz"});
  expect_error([&] { Tokenizer::load(tiny_tokenizer(d, [](Json& j) { j["pre_tokenizer"] = {{"type", "Metaspace"}}; })); },
               {"pre_tokenizer.type", "Metaspace"});
  expect_error([&] { Tokenizer::load(tiny_tokenizer(d, [](Json& j) { j["model"]["vocab"]["zz"] = 5; })); },
               {"model.vocab", "two tokens"});
  expect_error([&] {
    Tokenizer::load(tiny_tokenizer(d, [](Json& j) { j["added_tokens"].push_back({{"id", 257}, {"content", "<t>"}}); }));
  }, {"added_tokens", "two tokens"});
  expect_error([&] { Tokenizer::load(tiny_tokenizer(d, [](Json& j) { j["normalizer"] = {{"type", "Lowercase"}}; })); },
               {"normalizer.type", "Lowercase"});
  expect_error([&] { Tokenizer::load(tiny_tokenizer(d, [](Json& j) { j["model"]["type"] = "WordPiece"; })); },
               {"model.type", "WordPiece"});
  expect_error([&] {
    Tokenizer::load(tiny_tokenizer(d, [](Json& j) { j["pre_tokenizer"] = {{"type", "Split"}, {"pattern", {{"Regex", "(("}}}}; }));
  }, {"pattern", "does not compile"});
  expect_error([&] { Tokenizer::load(tiny_tokenizer(d, [](Json& j) { j["model"]["vocab"]["zz"] = "five"; })); },
               {"model.vocab[zz]", "not a non-negative integer"});
  expect_error([&] { Tokenizer::load(tiny_tokenizer(d, [](Json& j) { j["model"]["merges"] = Json::array({7}); })); },
               {"model.merges[0]", "neither"});
  expect_error([&] { Tokenizer::load(tiny_tokenizer(d, [](Json& j) { j["model"]["merges"] = Json::array({"a  b"}); })); },
               {"model.merges[0]", "one space"});
  expect_error([&] { Tokenizer::load(tiny_tokenizer(d, [](Json& j) { j["model"].erase("merges"); })); },
               {"model.merges", "missing"});
  write_file_atomic(d / "tokenizer.json", "{\"model\": ");
  expect_error([&] { Tokenizer::load(d.str()); }, {"tokenizer.json", "malformed JSON"});
  expect_error([&] { Tokenizer::load("/nonexistent/dir"); }, {"not found"});
}

}  // namespace
}  // namespace cc
