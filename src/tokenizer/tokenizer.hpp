// A Hugging Face tokenizer.json (byte-level BPE family: Qwen2/2.5/3, DeepSeek-R1-Distill-Qwen)
// loaded and run exactly as HF `tokenizers` does: added tokens → normaliser → pre-tokenizer →
// BPE → post-processor; and ByteLevel decoding.
#pragma once
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "tokenizer/added_tokens.hpp"
#include "tokenizer/bpe.hpp"
#include "tokenizer/regex_split.hpp"
#include "tokenizer/utf8.hpp"

namespace cc {

class Tokenizer {
 public:
  // `path`: a tokenizer.json file, or a directory holding tokenizer.json (and optionally
  // tokenizer_config.json). Every unsupported component is refused naming its JSON path.
  static std::unique_ptr<Tokenizer> load(const std::string& path);

  // Text must be valid UTF-8 (an error names the byte offset otherwise; see utf8_lossy to
  // replace invalid bytes first). add_special_tokens applies the post-processor (e.g. R1-Distill's BOS).
  std::vector<int32_t> encode(std::string_view text, bool add_special_tokens = true) const;
  // Encodes many texts on all threads; result i belongs to texts[i].
  std::vector<std::vector<int32_t>> encode_batch(const std::vector<std::string>& texts,
                                                 bool add_special_tokens = true) const;

  // The exact bytes the ids stand for (ids outside the vocabulary contribute nothing, as in HF).
  std::string decode_bytes(const std::vector<int32_t>& ids, bool skip_special_tokens = false) const;
  // decode_bytes made valid UTF-8 the way HF does (invalid sequences → U+FFFD).
  std::string decode(const std::vector<int32_t>& ids, bool skip_special_tokens = false) const {
    return utf8_lossy(decode_bytes(ids, skip_special_tokens));
  }

  int32_t token_to_id(const std::string& token) const;  // -1 if absent; added tokens first
  std::string id_to_token(int32_t id) const;            // "" if absent
  bool is_special(int32_t id) const;
  size_t vocab_size() const;  // largest id + 1 over model and added tokens
  const AddedVocabulary& added() const { return added_; }
  const std::vector<int32_t>& prefix_ids() const { return prefix_ids_; }  // added when add_special_tokens
  const std::string& origin() const { return origin_; }

 private:
  Tokenizer() = default;
  static std::unique_ptr<Tokenizer> load_checked(const std::string& file);
  void encode_into(std::string_view text, bool add_special, std::vector<int32_t>& out) const;
  void encode_plain(std::string_view text, std::vector<int32_t>& out) const;

  std::string origin_;
  std::unique_ptr<BpeModel> bpe_;
  AddedVocabulary added_;
  std::vector<NormalForm> normalizers_;
  std::vector<std::unique_ptr<RegexSplitter>> splitters_;
  bool add_prefix_space_ = false;
  std::vector<int32_t> prefix_ids_, suffix_ids_;
};

}  // namespace cc
