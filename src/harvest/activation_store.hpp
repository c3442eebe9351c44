// The activation store on disk (format "crosscoder-acts/1", DESIGN.md): manifest.json plus shards
// shard-00000.safetensors ... each holding acts [N,2,d] (BF16 or F32; 0 = base A, 1 = distilled B,
// raw), tokens/doc/pos [N] I32 and corpus [N] U8. This is the reader; store_writer writes.
#pragma once
#include <array>
#include <memory>
#include <string>
#include <vector>

#include "core/json_file.hpp"
#include "core/safetensors.hpp"
#include "harvest/pair_harvester.hpp"

namespace cc {

inline constexpr const char* kStoreFormat = "crosscoder-acts/1";
std::string shard_name(size_t i);  // "shard-00000.safetensors"

class ActivationStore {
 public:
  // Reads and checks manifest.json and every listed shard's header. Errors name the file.
  explicit ActivationStore(const std::string& dir);

  const Json& manifest() const { return manifest_; }
  const std::string& dir() const { return dir_; }
  // A string field of the manifest ("hook", "models.base"): "" when absent or null; anything else
  // but a string is an error naming manifest.json and the field.
  std::string text(const std::string& dotted) const;
  // A path field ("tokenizer", "models.base", "models.distilled"): as text(), and a relative path
  // is taken relative to the store's folder (stores written before paths were stored absolute).
  std::string path(const std::string& dotted) const;
  int64_t rows() const { return rows_; }
  int64_t d_model() const { return d_; }
  std::array<float, 2> norm_factors() const { return norm_; }
  bool complete() const { return manifest_.value("complete", false); }
  // Whether rows carry a train/eval split (stores harvested with one record "eval_fraction"); without
  // it every row counts as train and evaluation falls back to all rows.
  bool has_split() const { return manifest_.contains("eval_fraction") && manifest_["eval_fraction"].is_number(); }
  size_t shard_count() const { return shard_rows_.size(); }
  int64_t shard_rows(size_t i) const { return shard_rows_[i]; }

  // Rows [begin, begin+n) with all columns; acts converted to f32.
  ActivationBatch read(int64_t begin, int64_t n) const;
  // The same rows into `out`, reusing its buffers (a training stream reads chunk after chunk).
  void read_into(int64_t begin, int64_t n, ActivationBatch& out) const;

 private:
  const SafetensorsFile& shard(size_t i) const;
  std::string dir_;
  Json manifest_;
  int64_t rows_ = 0, d_ = 0;
  DType dtype_ = DType::BF16;
  std::array<float, 2> norm_{1.f, 1.f};
  std::vector<int64_t> shard_rows_, shard_begin_;
  mutable std::vector<std::unique_ptr<SafetensorsFile>> shards_;  // opened on first use
};

}  // namespace cc
