// Target: a corpus file indexed and every document extracted (Corpus), under the field
// expressions users give — chosen by the input's first byte — and, for selector 7, the
// PATH[:FIELD][@WEIGHT][#TEMPLATE] spec string itself.
#include "data/corpus.hpp"
#include "fuzz_common.hpp"
#include "tokenizer/utf8.hpp"

using namespace cc;

CC_FUZZ_INIT_WITHOUT_FIXTURE

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  static const char* const kSpecs[] = {
      "c.jsonl",                           // default field "text"
      "c.jsonl:question+trace#r1-distill",  // parts joined, first wrapped in a chat template
      "c.jsonl:conversations[].value",      // array of objects
      "c.jsonl:messages#chatml",            // chat messages' "content"
      "c.jsonl:meta.body",                  // nested object
      "c.txt",                              // blank-line blocks
      "c.txt:file#plain",                   // whole file
  };
  const unsigned sel = data[0] % 8;
  fuzz::refuse_ok([&] {
    CorpusSpec spec;
    if (sel == 7) {
      spec = parse_corpus_spec(std::string(reinterpret_cast<const char*>(data) + 1, size - 1));
      spec.path = fuzz::scratch() + "/missing-" + std::to_string(spec.path.size());  // never a real file
    } else {
      spec = parse_corpus_spec(fuzz::scratch() + "/" + kSpecs[sel]);
      fuzz::put(sel < 5 ? "c.jsonl" : "c.txt", data + 1, size - 1);
    }
    Corpus c(spec);
    FUZZ_CHECK(c.size() > 0);
    for (size_t i = 0; i < c.size(); ++i) {
      // Documents go straight to the tokenizer, which needs valid UTF-8: the corpus guarantees it.
      FUZZ_CHECK(utf8_invalid_offset(c.document(i)) == std::string::npos);
      (void)c.where(i);
    }
    (void)parse_corpus_spec(spec.text());  // the spec a manifest records must parse back
  });
  return 0;
}
