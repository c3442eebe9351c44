// tokenizer.json parsing into the pipeline, and the encode / decode drivers.
#include "tokenizer/tokenizer.hpp"

#include <filesystem>

#include "core/atomic_file.hpp"
#include "core/error.hpp"
#include "core/parallel.hpp"
#include "tokenizer/byte_level.hpp"

namespace cc {

namespace fs = std::filesystem;

namespace {

// The GPT-2 regex ByteLevel applies when use_regex is true.
const char* kGpt2Pattern = R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

NormalForm normal_form(const std::string& type, const std::string& origin) {
  if (type == "NFC") return NormalForm::NFC;
  if (type == "NFD") return NormalForm::NFD;
  if (type == "NFKC") return NormalForm::NFKC;
  if (type == "NFKD") return NormalForm::NFKD;
  fail(origin, "normalizer.type", "is not supported", "NFC, NFD, NFKC, NFKD or Sequence of them", "\"" + type + "\"");
}

SplitBehavior behavior(const std::string& b, const std::string& origin) {
  if (b == "Isolated") return SplitBehavior::Isolated;
  if (b == "Removed") return SplitBehavior::Removed;
  if (b == "MergedWithPrevious") return SplitBehavior::MergedWithPrevious;
  if (b == "MergedWithNext") return SplitBehavior::MergedWithNext;
  if (b == "Contiguous") return SplitBehavior::Contiguous;
  fail(origin, "pre_tokenizer.Split.behavior", "is not a split behaviour", "Isolated, Removed, MergedWith*, Contiguous", b);
}

}  // namespace

std::unique_ptr<Tokenizer> Tokenizer::load(const std::string& path) {
  std::string file = path;
  if (fs::is_directory(path)) file = (fs::path(path) / "tokenizer.json").string();
  if (!fs::exists(file)) fail(file, "", "not found", "", "", "a tokenizer directory needs tokenizer.json");
  try {
    return load_checked(file);
  } catch (const Json::exception& e) {
    // A field of the wrong JSON type somewhere the checks below do not name it (found by fuzzing).
    fail(file, "", std::string("has a field of the wrong type: ") + e.what());
  }
}

std::unique_ptr<Tokenizer> Tokenizer::load_checked(const std::string& file) {
  std::unique_ptr<Tokenizer> t(new Tokenizer());
  t->origin_ = file;
  TokenizerJson tj = read_tokenizer_json(file);
  const Json& j = tj.rest;
  if (!j.contains("model")) fail(file, "model", "is missing");
  t->bpe_ = std::make_unique<BpeModel>(tj, file);
  t->added_ = AddedVocabulary(j.value("added_tokens", Json()), file);

  // Normaliser: null, one form, or a Sequence of forms.
  if (j.contains("normalizer") && !j["normalizer"].is_null()) {
    const Json& n = j["normalizer"];
    const std::string type = n.value("type", std::string());
    if (type == "Sequence") {
      for (const Json& x : n.value("normalizers", Json::array())) t->normalizers_.push_back(normal_form(x.value("type", std::string()), file));
    } else {
      t->normalizers_.push_back(normal_form(type, file));
    }
  }

  // Pre-tokenizer: Split(s) and exactly one ByteLevel, alone or in a Sequence.
  bool byte_level = false;
  auto add_pre = [&](const Json& p, auto& self) -> void {
    const std::string type = p.value("type", std::string());
    if (type == "Sequence") {
      for (const Json& x : p.value("pretokenizers", Json::array())) self(x, self);
    } else if (type == "Split") {
      const Json& pat = p.value("pattern", Json());
      const bool literal = pat.contains("String");
      if (!literal && !pat.contains("Regex")) fail(file, "pre_tokenizer.Split.pattern", "has neither Regex nor String");
      t->splitters_.push_back(std::make_unique<RegexSplitter>(
          pat.value(literal ? "String" : "Regex", std::string()), literal,
          behavior(p.value("behavior", std::string("Isolated")), file), p.value("invert", false), file));
    } else if (type == "ByteLevel") {
      byte_level = true;
      t->add_prefix_space_ = p.value("add_prefix_space", false);
      if (p.value("use_regex", true))
        t->splitters_.push_back(std::make_unique<RegexSplitter>(kGpt2Pattern, false, SplitBehavior::Isolated, false, file));
    } else {
      fail(file, "pre_tokenizer.type", "is not supported", "Sequence, Split or ByteLevel", "\"" + type + "\"");
    }
  };
  if (j.contains("pre_tokenizer") && !j["pre_tokenizer"].is_null()) add_pre(j["pre_tokenizer"], add_pre);
  if (!byte_level) fail(file, "pre_tokenizer", "has no ByteLevel step", "a byte-level BPE tokenizer", "", "only byte-level BPE is supported");

  if (j.contains("decoder") && !j["decoder"].is_null()) {
    const std::string type = j["decoder"].value("type", std::string());
    if (type != "ByteLevel") fail(file, "decoder.type", "is not supported", "\"ByteLevel\"", "\"" + type + "\"");
  }

  // Post-processor: ByteLevel (nothing to add) or TemplateProcessing (special tokens around $A).
  auto add_post = [&](const Json& p, auto& self) -> void {
    const std::string type = p.value("type", std::string());
    if (type == "Sequence") {
      for (const Json& x : p.value("processors", Json::array())) self(x, self);
    } else if (type == "TemplateProcessing") {
      bool seen_a = false;
      for (const Json& item : p.value("single", Json::array())) {
        if (item.contains("Sequence")) {
          seen_a = true;
        } else if (item.contains("SpecialToken")) {
          const std::string name = item["SpecialToken"].value("id", std::string());
          const Json& st = p.value("special_tokens", Json::object());
          if (!st.contains(name) || !st[name].contains("ids") || !st[name]["ids"].is_array())
            fail(file, "post_processor.special_tokens", "lacks the ids of '" + name + "'");
          for (const Json& id : st[name]["ids"]) {
            const int32_t v = id.get<int32_t>();
            // HF would emit the id as written; a model's embedding has no row for a token the
            // tokenizer does not know, so such a file is refused here (found by fuzzing).
            if (t->id_to_token(v).empty())
              fail(file, "post_processor.special_tokens." + name, "names id " + std::to_string(v) + ", which is neither in the vocabulary nor an added token");
            (seen_a ? t->suffix_ids_ : t->prefix_ids_).push_back(v);
          }
        } else {
          fail(file, "post_processor.single", "has an item that is neither Sequence nor SpecialToken", "", item.dump());
        }
      }
    } else if (type != "ByteLevel") {
      fail(file, "post_processor.type", "is not supported", "ByteLevel, TemplateProcessing or Sequence", "\"" + type + "\"");
    }
  };
  if (j.contains("post_processor") && !j["post_processor"].is_null()) add_post(j["post_processor"], add_post);
  return t;
}

int32_t Tokenizer::token_to_id(const std::string& token) const {
  if (const AddedToken* a = added_.find_content(token)) return a->id;
  return bpe_->token_to_id(token);
}

std::string Tokenizer::id_to_token(int32_t id) const {
  if (const AddedToken* a = added_.find_id(id)) return a->content;
  return bpe_->id_to_token(id);
}

bool Tokenizer::is_special(int32_t id) const {
  const AddedToken* a = added_.find_id(id);
  return a && a->special;
}

size_t Tokenizer::vocab_size() const {
  size_t n = bpe_->vocab_size();
  for (const auto& a : added_.tokens()) n = std::max(n, size_t(a.id) + 1);
  return n;
}

void Tokenizer::encode_plain(std::string_view text, std::vector<int32_t>& out) const {
  // normalise → pre-tokenize → BPE each piece
  std::string norm(text);
  for (NormalForm f : normalizers_) norm = unicode_normalize(norm, f);
  if (add_prefix_space_ && !norm.empty() && norm[0] != ' ') norm.insert(norm.begin(), ' ');
  thread_local std::vector<Span> a, b;
  a.assign(1, Span{0, norm.size()});
  for (const auto& sp : splitters_) {
    b.clear();
    for (const Span& s : a) {
      const size_t before = b.size();
      sp->split(std::string_view(norm).substr(s.begin, s.end - s.begin), b);
      for (size_t k = before; k < b.size(); ++k) {
        b[k].begin += s.begin;
        b[k].end += s.begin;
      }
    }
    std::swap(a, b);
  }
  for (const Span& s : a) bpe_->encode_piece(std::string_view(norm).substr(s.begin, s.end - s.begin), out);
}

void Tokenizer::encode_into(std::string_view text, bool add_special, std::vector<int32_t>& out) const {
  if (const size_t bad = utf8_invalid_offset(text); bad != std::string_view::npos)
    fail("", "text", "is not valid UTF-8 at byte " + std::to_string(bad), "", "", "use utf8_lossy() to replace invalid bytes");
  if (add_special) out.insert(out.end(), prefix_ids_.begin(), prefix_ids_.end());
  std::vector<Segment> raw, fine;
  added_.split(text, false, raw);
  for (const Segment& s : raw) {
    if (s.id >= 0) {
      out.push_back(s.id);
      continue;
    }
    // Tokens flagged `normalized` are matched in normalised text.
    std::string norm(s.text);
    for (NormalForm f : normalizers_) norm = unicode_normalize(norm, f);
    fine.clear();
    added_.split(norm, true, fine);
    for (const Segment& f : fine) {
      if (f.id >= 0) out.push_back(f.id);
      else encode_plain(f.text, out);  // NFC is idempotent, so re-normalising inside is harmless
    }
  }
  if (add_special) out.insert(out.end(), suffix_ids_.begin(), suffix_ids_.end());
}

std::vector<int32_t> Tokenizer::encode(std::string_view text, bool add_special_tokens) const {
  std::vector<int32_t> out;
  encode_into(text, add_special_tokens, out);
  return out;
}

std::vector<std::vector<int32_t>> Tokenizer::encode_batch(const std::vector<std::string>& texts,
                                                          bool add_special_tokens) const {
  std::vector<std::vector<int32_t>> out(texts.size());
  parallel_for(int64_t(texts.size()), 1, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) encode_into(texts[size_t(i)], add_special_tokens, out[size_t(i)]);
  });
  return out;
}

std::string Tokenizer::decode_bytes(const std::vector<int32_t>& ids, bool skip_special_tokens) const {
  std::string out;
  for (int32_t id : ids) {
    if (const AddedToken* a = added_.find_id(id)) {
      if (skip_special_tokens && a->special) continue;
      auto bytes = byte_level_to_bytes(a->content);  // HF runs added tokens through the decoder too
      out += bytes ? *bytes : a->content;
      continue;
    }
    const std::string& tok = bpe_->id_to_token(id);
    if (tok.empty()) continue;
    auto bytes = byte_level_to_bytes(tok);
    out += bytes ? *bytes : tok;
  }
  return out;
}

}  // namespace cc
