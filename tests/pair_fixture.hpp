// A small base/distilled pair of random models sharing the real Qwen tokenizer, and two tiny
// corpora (JSONL traces, text paragraphs): the harvest, training and CLI tests run on it.
#pragma once
#include <filesystem>
#include <fstream>

#include "core/json_file.hpp"
#include "data/corpus.hpp"
#include "data/packer.hpp"
#include "harvest/pair_harvester.hpp"
#include "model/qwen2.hpp"
#include "test_util.hpp"
#include "tokenizer_fixtures.hpp"

namespace cc::test {

// Two small random models sharing the real Qwen tokenizer, and two small corpora.
struct PairFixture {
  TempDir dir;
  std::string a, b, jsonl, txt;
  PairFixture(int64_t d = 32, int64_t layers = 4) {
    a = dir / "base";
    b = dir / "distilled";
    for (auto [p, seed] : {std::pair{a, 11}, std::pair{b, 12}}) {
      test::SmallModel m;
      m.vocab = 151669;
      m.d = d;
      m.layers = layers;
      m.seed = uint64_t(seed);
      m.dtype = DType::BF16;
      test::make_model(p, m);
      std::filesystem::copy_file(test::qwen_tokenizer_json(), p + "/tokenizer.json");
    }
    jsonl = dir / "traces.jsonl";
    std::ofstream j(jsonl);
    for (int i = 0; i < 40; ++i)
      j << Json({{"question", "What is " + std::to_string(i) + "+" + std::to_string(i * 3) + "?"},
                 {"trace", "Okay, so I add them. Wait, let me double-check: " + std::to_string(i * 4) + ". Therefore the answer is " + std::to_string(i * 4) + "."}})
               .dump()
        << "\n";
    txt = dir / "general.txt";
    std::ofstream t(txt);
    for (int i = 0; i < 60; ++i) t << "Paragraph " << i << " of ordinary prose, with words like river and stone.\nSecond line " << i << ".\n\n";
  }
  HarvestConfig config() const {
    HarvestConfig c;
    c.base_dir = a;
    c.distilled_dir = b;
    c.hook = "2";
    c.corpora = {parse_corpus_spec(jsonl + ":question+trace@1"), parse_corpus_spec(txt + "@1")};
    c.pack.seq_len = 64;
    c.pack.seed = 5;
    c.batch_seqs = 3;
    c.mode = ComputeMode::F32;
    return c;
  }
};


// The first n sequences a Packer gives over these corpora (tokenizer of the fixture's models):
// the tests' own packing, to recompute what an experiment packed.
inline std::vector<PackedSequence> pack_sequences(const std::string& tokenizer, const std::vector<CorpusSpec>& specs,
                                                  const PackOptions& po, int64_t n) {
  auto tok = Tokenizer::load(tokenizer);
  std::vector<std::unique_ptr<Corpus>> corpora;
  for (const auto& s : specs) corpora.push_back(std::make_unique<Corpus>(s));
  Packer packer(corpora, *tok, po);
  std::vector<PackedSequence> out;
  for (int64_t i = 0; i < n; ++i) out.push_back(packer.next());
  return out;
}

// One model's residual stream at `site` for one sequence, from the embeddings up: [T, d].
inline std::vector<float> stream_at(Qwen2Model& model, int site, std::span<const int32_t> tokens) {
  const SeqInput in{tokens, nullptr};
  std::vector<float> x;
  model.stream_at(std::span<const SeqInput>(&in, 1), site, x);
  return x;
}

}  // namespace cc::test
