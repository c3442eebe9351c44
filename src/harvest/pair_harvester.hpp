// Runs a base model (A) and its distilled variant (B) in lock-step on identical packed token
// batches, stopping both at the hook, and returns the residual stream of the kept positions.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "data/corpus.hpp"
#include "data/packer.hpp"
#include "model/qwen2.hpp"
#include "tokenizer/tokenizer.hpp"

namespace cc {

struct HarvestConfig {
  std::string base_dir, distilled_dir;  // HF model directories
  std::string tokenizer;                // tokenizer.json or its folder; default: base_dir
  std::string hook;                     // "blocks.14.hook_resid_pre", a layer number, or "" = half depth
  std::vector<CorpusSpec> corpora;
  PackOptions pack;
  int batch_seqs = 4;                   // sequences per forward call
  ComputeMode mode = ComputeMode::BF16;
  Json to_json() const;                 // the settings a resumed run must share
};

// One batch of kept positions. acts is [rows, 2, d]: [r][0] = base (A), [r][1] = distilled (B), raw.
struct ActivationBatch {
  int64_t rows = 0, d = 0;
  std::vector<float> acts;
  std::vector<int32_t> tokens, doc, pos;
  std::vector<uint8_t> corpus;
  std::vector<uint8_t> split;  // 1 = held-out (eval) document; all 0 in stores written before splits
  void append(const ActivationBatch& o, int64_t begin, int64_t n);  // rows [begin, begin+n) of o
  void append_columns(const ActivationBatch& o, int64_t begin, int64_t n);  // the same without acts
  // Room for `n` rows of width d_model without reallocating (a buffer filled batch by batch).
  void reserve(int64_t n, int64_t d_model);
  void clear();  // no rows, capacity kept: the next fill touches no new pages
  // Raw bytes for another rank of the same binary (dist/comm.hpp), and back.
  std::string to_bytes() const;
  static ActivationBatch from_bytes(const std::string& bytes);
};

// The first max_rows rows of b on one side of the train/eval split (split 0 or 1; -1 = every row),
// in order, copied in runs; index, when given, receives each kept row's index in b.
ActivationBatch select_rows(const ActivationBatch& b, int split, int64_t max_rows, std::vector<int64_t>* index = nullptr);
// The same selection of every row, in place (no allocation): b keeps only its rows on `split`.
void keep_split_rows(ActivationBatch& b, int split);

class PairHarvester {
 public:
  explicit PairHarvester(const HarvestConfig& cfg);  // loads and checks everything before any work

  ActivationBatch next() { return run(take()); }  // batch_seqs packed sequences through both models
  std::vector<PackedSequence> take();                      // the next batch_seqs packed sequences
  ActivationBatch run(const std::vector<PackedSequence>& seqs);  // their kept positions through both models
  Packer& packer() { return *packer_; }
  const Packer& packer() const { return *packer_; }
  Qwen2Model& base_model() { return *a_; }
  Qwen2Model& distilled_model() { return *b_; }
  int site() const { return site_; }
  std::string hook_name() const;
  int64_t d_model() const { return d_; }
  const Tokenizer& tokenizer() const { return *tok_; }
  const std::vector<std::string>& warnings() const { return warnings_; }
  const HarvestConfig& config() const { return cfg_; }

 private:
  HarvestConfig cfg_;
  std::unique_ptr<Qwen2Model> a_, b_;
  std::unique_ptr<Tokenizer> tok_;
  std::vector<std::unique_ptr<Corpus>> corpora_;
  std::unique_ptr<Packer> packer_;
  int site_ = 0;
  int64_t d_ = 0;
  std::vector<std::string> warnings_;
  std::vector<float> xa_, xb_;
};

}  // namespace cc
