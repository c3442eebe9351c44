// Target: a tokenizer.json (model, merges, added tokens, normaliser, pre-tokenizer, post-processor,
// decoder) through Tokenizer::load, then a fixed text with special tokens encoded and decoded.
#include "fuzz_common.hpp"
#include "tokenizer/tokenizer.hpp"

using namespace cc;

CC_FUZZ_INIT_WITHOUT_FIXTURE

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = fuzz::put("tokenizer.json", data, size);
  fuzz::refuse_ok([&] {
    auto tok = Tokenizer::load(path);
    const std::string text = "<｜User｜>What is 12+30?<｜Assistant｜><think>\nWait, let me double-check: 42. "
                             "Über naïve 日本語 🙂  \t\r\n x</think> 42<|endoftext|>";
    for (bool special : {false, true}) {
      const std::vector<int32_t> ids = tok->encode(text, special);
      for (int32_t id : ids) FUZZ_CHECK(id >= 0 && size_t(id) < tok->vocab_size());
      (void)tok->decode(ids, special);
      for (int32_t id : ids) (void)tok->id_to_token(id);
    }
  });
  return 0;
}
