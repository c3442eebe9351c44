// Mixes corpora by token share and packs their documents into fixed-length sequences:
//   [start] doc tokens [sep] doc tokens ... (a document cut at the end continues after the next
//   sequence's start token). Positions holding the start/separator token or any special token are
//   marked not-kept: the harvest drops them. Fully deterministic for a seed, with a saveable state.
#pragma once
#include <cstdint>
#include <memory>
#include <random>
#include <unordered_set>
#include <vector>

#include "core/json_file.hpp"
#include "data/corpus.hpp"
#include "tokenizer/tokenizer.hpp"

namespace cc {

struct PackOptions {
  int64_t seq_len = 1024;   // tokens per sequence, start token included
  int32_t start_id = -1;    // -1: the tokenizer's document boundary (document_boundary_id)
  int32_t sep_id = -1;
  uint64_t seed = 0;        // document order within each corpus, per epoch
};

struct PackedSequence {
  std::vector<int32_t> tokens, doc, pos;  // [seq_len]; doc = global document index, pos = index within it
  std::vector<uint8_t> corpus, keep;      // corpus index; 1 = harvest this position
};

// The id that separates documents: <|endoftext|> when the tokenizer has it (Qwen2.5: 151643; the
// organism: 4096), else R1-Distill's <｜end▁of▁sentence｜> (151643 again, the same id: the two
// tokenizers name it differently), else the BOS it prepends. Errors when there is none.
int32_t document_boundary_id(const Tokenizer& tok);

class Packer {
 public:
  Packer(const std::vector<std::unique_ptr<Corpus>>& corpora, const Tokenizer& tok, PackOptions opt);

  PackedSequence next();

  Json state() const;             // everything needed to continue exactly here
  void restore(const Json& s);    // inverse of state(); errors if it does not fit these corpora

  // Tokens taken from each corpus so far (the mixing check).
  const std::vector<int64_t>& tokens_taken() const { return taken_; }
  const std::unordered_set<int32_t>& dropped_ids() const { return drop_; }

 private:
  void load_next_document();
  size_t doc_index(size_t corpus, uint64_t cursor) const;  // permuted order for the cursor's epoch

  const std::vector<std::unique_ptr<Corpus>>& corpora_;
  const Tokenizer& tok_;
  PackOptions opt_;
  std::vector<double> share_;         // normalised weights
  std::vector<int64_t> taken_;        // tokens taken per corpus
  std::vector<uint64_t> cursor_;      // documents consumed per corpus (across epochs)
  mutable std::vector<std::vector<uint32_t>> perm_;  // cached permutation per corpus
  mutable std::vector<uint64_t> perm_epoch_;
  std::unordered_set<int32_t> drop_;

  // The document being packed.
  int64_t doc_counter_ = -1;
  int cur_corpus_ = -1;
  std::vector<int32_t> cur_;
  size_t cur_off_ = 0;
  bool need_sep_ = false;
};

}  // namespace cc
