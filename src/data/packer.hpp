// Mixes corpora by token share and packs their documents into fixed-length sequences:
//   [start] doc tokens [sep] doc tokens ... (a document cut at the end continues after the next
//   sequence's start token). Mixing is decided per chunk of seq_len - 1 tokens, not per document:
//   at each chunk boundary inside a long document, when another corpus has fallen further below its
//   share, the document is set aside and resumed later (after a separator, under a new document
//   index, its positions continuing), so one 300k-token document cannot swamp the mix. Positions holding the start/separator token or any special token are
//   marked not-kept: the harvest drops them. Fully deterministic for a seed, with a saveable state.
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <random>
#include <set>
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
  double eval_fraction = 0.1;  // share of documents held out for evaluation (document_split)
  int only_split = -1;         // -1: every document; 1: held-out documents only (evaluations); 0: train only
  // Optional held-out list (load_held_out_list): a corpus file it names takes each document's split
  // from the list instead of the hash, e.g. organism/split.json, the traces the organism's
  // distillation never saw, so evaluations never score text a model was trained on.
  std::string held_out_list;
};

// {"held_out": {"FILE": [line, ...], ...}}: documents held out, by file (relative to the list's
// folder, or absolute) and the 1-based line each starts on. Returns canonical path → lines.
std::map<std::string, std::set<uint32_t>> load_held_out_list(const std::string& path);

// 1 (eval) or 0 (train) for a document: a stable hash of its text against eval_fraction, so the
// same document falls on the same side in every harvest, ablation and run, whatever the order.
uint8_t document_split(std::string_view text, double eval_fraction);

struct PackedSequence {
  std::vector<int32_t> tokens, doc, pos;  // [seq_len]; doc = global document index, pos = index within it
  std::vector<uint8_t> corpus, keep;      // corpus index; 1 = harvest this position
  std::vector<uint8_t> split;             // 1 = the position's document is held out for evaluation
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
  size_t neediest_corpus() const;      // the corpus furthest below its share of the tokens taken
  void start_document(size_t corpus);  // resume that corpus's set-aside document, else its next one
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
  std::map<std::string, std::set<uint32_t>> held_out_;               // opt_.held_out_list, loaded
  std::vector<std::vector<const std::set<uint32_t>*>> listed_;       // [corpus][file]: its held-out lines, or null

  // The document being packed.
  int64_t doc_counter_ = -1;
  int cur_corpus_ = -1;
  std::vector<int32_t> cur_;
  size_t cur_off_ = 0;
  bool need_sep_ = false;
  uint8_t cur_split_ = 0;
  void attach_held_out_list();
  // Tokens and split of document `cursor` of corpus c.
  std::pair<std::vector<int32_t>, uint8_t> load(size_t c, uint64_t cursor) const;

  // Per corpus: a document set aside at a chunk boundary (its cursor, to re-tokenise on restore).
  struct SetAside {
    bool has = false;
    uint64_t cursor = 0;  // the corpus cursor that loaded it (doc_index(c, cursor))
    size_t off = 0;
    std::vector<int32_t> tokens;
    uint8_t split = 0;
  };
  std::vector<SetAside> aside_;
  std::vector<uint64_t> cur_cursor_;  // per corpus: cursor of the document being packed
};

}  // namespace cc
