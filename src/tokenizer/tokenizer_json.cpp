// A SAX handler over nlohmann's lexer: model.vocab and model.merges go straight into flat vectors;
// everything else is built into an ordinary Json tree. (A callback-filtered DOM parse costs ~6x more
// for Qwen's 11 MB file.)
#include "tokenizer/tokenizer_json.hpp"

#include "core/atomic_file.hpp"
#include "core/error.hpp"

namespace cc {

namespace {

class Handler {
 public:
  Handler(TokenizerJson& out, const std::string& path) : out_(out), path_(path) {}

  bool null() { return value(Json(nullptr)); }
  bool boolean(bool b) { return value(Json(b)); }
  bool number_integer(int64_t v) { return number(v, Json(v)); }
  bool number_unsigned(uint64_t v) { return number(v <= uint64_t(INT64_MAX) ? int64_t(v) : -1, Json(v)); }
  bool number_float(double v, const std::string&) { return value(Json(v)); }
  bool binary(Json::binary_t&) { return value(Json()); }

  bool string(std::string& s) {
    if (mode_ == Mode::Merges) {
      const size_t sp = s.find(' ');
      if (sp == std::string::npos || s.find(' ', sp + 1) != std::string::npos)
        fail(path_, merge_where(), "is not two tokens separated by one space", "\"a b\"", Json(s).dump());
      out_.merges.emplace_back(s.substr(0, sp), s.substr(sp + 1));
      return true;
    }
    if (mode_ == Mode::MergePair) {
      pair_.push_back(std::move(s));
      return true;
    }
    if (mode_ == Mode::Vocab) bad_vocab(Json(s));
    return value(Json(std::move(s)));
  }

  bool key(std::string& k) {
    if (mode_ == Mode::Vocab) {
      vocab_key_ = std::move(k);
      return true;
    }
    keys_.resize(stack_.size());
    keys_.back() = std::move(k);
    return true;
  }

  bool start_object(size_t) {
    if (mode_ != Mode::Dom) bad_nested();
    if (at("model", "vocab")) {
      mode_ = Mode::Vocab;
      out_.has_vocab = true;
      return true;
    }
    return open(Json::object());
  }
  bool end_object() {
    if (mode_ == Mode::Vocab) {
      mode_ = Mode::Dom;
      return true;
    }
    stack_.pop_back();
    return true;
  }
  bool start_array(size_t) {
    if (mode_ == Mode::Merges) {
      mode_ = Mode::MergePair;
      pair_.clear();
      return true;
    }
    if (mode_ != Mode::Dom) bad_nested();
    if (at("model", "merges")) {
      mode_ = Mode::Merges;
      out_.has_merges = true;
      return true;
    }
    return open(Json::array());
  }
  bool end_array() {
    if (mode_ == Mode::MergePair) {
      if (pair_.size() != 2) fail(path_, merge_where(), "is neither \"a b\" nor [\"a\",\"b\"]", "", Json(pair_).dump());
      out_.merges.emplace_back(std::move(pair_[0]), std::move(pair_[1]));
      mode_ = Mode::Merges;
      return true;
    }
    if (mode_ == Mode::Merges) {
      mode_ = Mode::Dom;
      return true;
    }
    stack_.pop_back();
    return true;
  }
  bool parse_error(size_t pos, const std::string&, const nlohmann::detail::exception& e) {
    fail(path_, "", "malformed JSON at byte " + std::to_string(pos) + ": " + e.what());
  }

 private:
  enum class Mode { Dom, Vocab, Merges, MergePair };

  // True when the container about to open is tokenizer.json's top-level "a"."b".
  bool at(const char* a, const char* b) const {
    return stack_.size() == 2 && keys_.size() == 2 && keys_[0] == a && keys_[1] == b;
  }
  std::string merge_where() const { return "model.merges[" + std::to_string(out_.merges.size()) + "]"; }
  [[noreturn]] void bad_vocab(const Json& v) const {
    fail(path_, "model.vocab[" + vocab_key_ + "]", "is not a non-negative integer id", "", v.dump());
  }
  [[noreturn]] void bad_nested() const {
    if (mode_ == Mode::Vocab) fail(path_, "model.vocab[" + vocab_key_ + "]", "is not a non-negative integer id");
    fail(path_, merge_where(), "is neither \"a b\" nor [\"a\",\"b\"]");
  }

  bool number(int64_t iv, Json v) {
    if (mode_ == Mode::Vocab) {
      if (iv < 0 || iv > INT32_MAX) bad_vocab(v);
      out_.vocab.emplace_back(std::move(vocab_key_), iv);
      return true;
    }
    return value(std::move(v));
  }
  bool value(Json v) {
    if (mode_ == Mode::Vocab) bad_vocab(v);
    if (mode_ != Mode::Dom) fail(path_, merge_where(), "is neither \"a b\" nor [\"a\",\"b\"]", "", v.dump());
    place(std::move(v));
    return true;
  }
  Json* place(Json v) {
    if (stack_.empty()) {
      out_.rest = std::move(v);
      return &out_.rest;
    }
    Json& top = *stack_.back();
    if (top.is_array()) {
      top.push_back(std::move(v));
      return &top.back();
    }
    Json& slot = top[keys_[stack_.size() - 1]];
    slot = std::move(v);
    return &slot;
  }
  bool open(Json container) {
    stack_.push_back(place(std::move(container)));
    return true;
  }

  TokenizerJson& out_;
  const std::string& path_;
  Mode mode_ = Mode::Dom;
  std::vector<Json*> stack_;       // open containers (pointers stay valid: a parent only grows after its child closes)
  std::vector<std::string> keys_;  // keys_[i]: last key seen in the object at depth i
  std::string vocab_key_;
  std::vector<std::string> pair_;
};

}  // namespace

TokenizerJson read_tokenizer_json(const std::string& path) {
  const std::string text = read_file(path);
  TokenizerJson out;
  Handler h(out, path);
  Json::sax_parse(text, &h);
  if (!out.rest.is_object()) fail(path, "", "is not a JSON object");
  return out;
}

}  // namespace cc
