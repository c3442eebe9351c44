// Added-token matching: at each position the longest token starting there wins, scanning left
// to right (Aho-Corasick LeftmostLongest semantics, as HF), with the flag rules applied.
#include "tokenizer/added_tokens.hpp"

#include <algorithm>

#include "core/error.hpp"
#include "tokenizer/utf8.hpp"

namespace cc {

namespace {
// Unicode White_Space test on the code point at i (forward) or ending at i (backward).
bool is_ws(char32_t c) {
  return (c >= 9 && c <= 13) || c == 0x20 || c == 0x85 || c == 0xa0 || c == 0x1680 || (c >= 0x2000 && c <= 0x200a) ||
         c == 0x2028 || c == 0x2029 || c == 0x202f || c == 0x205f || c == 0x3000;
}

// Code point ending just before byte offset i.
size_t prev_cp(std::string_view s, size_t i, char32_t& cp) {
  size_t b = i;
  do {
    --b;
  } while (b > 0 && (static_cast<unsigned char>(s[b]) & 0xc0) == 0x80);
  utf8_decode(s, b, cp);
  return i - b;
}

bool is_word_char(char32_t c) {
  // Rust's char::is_alphanumeric() || '_' ; ASCII fast path, otherwise letters/digits above 0x7f
  // are treated as word characters (the common case for single_word tokens, which Qwen never sets).
  if (c < 0x80) return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
  return !is_ws(c);
}
}  // namespace

AddedVocabulary::AddedVocabulary(const Json& j, const std::string& origin) {
  if (j.is_null()) return;
  if (!j.is_array()) fail(origin, "added_tokens", "is not an array");
  for (const Json& t : j) {
    if (!t.is_object() || !t.contains("id") || !t.contains("content") || !t["id"].is_number_integer() ||
        !t["content"].is_string())
      fail(origin, "added_tokens", "has an entry without integer id and string content", "", t.dump());
    AddedToken a;
    a.id = t["id"].get<int32_t>();
    a.content = t["content"].get<std::string>();
    if (a.content.empty()) fail(origin, "added_tokens", "has an empty content", "", t.dump());
    a.special = t.value("special", false);
    a.lstrip = t.value("lstrip", false);
    a.rstrip = t.value("rstrip", false);
    a.single_word = t.value("single_word", false);
    a.normalized = t.value("normalized", !a.special);
    for (const auto& o : tokens_)
      if (o.id == a.id && o.content != a.content)
        fail(origin, "added_tokens", "gives id " + std::to_string(a.id) + " to two tokens", "unique ids",
             "'" + o.content + "' and '" + a.content + "'");
    tokens_.push_back(a);
  }
  for (auto& v : by_first_byte_) v.assign(256, {});
  for (size_t i = 0; i < tokens_.size(); ++i)
    by_first_byte_[tokens_[i].normalized ? 1 : 0][static_cast<unsigned char>(tokens_[i].content[0])].push_back(int(i));
  for (auto& pass : by_first_byte_)
    for (auto& v : pass)
      std::stable_sort(v.begin(), v.end(), [&](int a, int b) { return tokens_[size_t(a)].content.size() > tokens_[size_t(b)].content.size(); });
}

const AddedToken* AddedVocabulary::find_id(int32_t id) const {
  for (const auto& t : tokens_)
    if (t.id == id) return &t;
  return nullptr;
}

const AddedToken* AddedVocabulary::find_content(const std::string& s) const {
  for (const auto& t : tokens_)
    if (t.content == s) return &t;
  return nullptr;
}

void AddedVocabulary::split(std::string_view text, bool normalized_pass, std::vector<Segment>& out) const {
  if (tokens_.empty()) {
    out.push_back({text, -1});
    return;
  }
  const auto& table = by_first_byte_[normalized_pass ? 1 : 0];
  size_t seg_start = 0, i = 0;
  while (i < text.size()) {
    const auto& cands = table[static_cast<unsigned char>(text[i])];
    const AddedToken* hit = nullptr;
    for (int k : cands) {
      const AddedToken& t = tokens_[size_t(k)];
      if (text.compare(i, t.content.size(), t.content) != 0) continue;
      if (t.single_word) {
        char32_t cp;
        const bool left_ok = i == 0 || (prev_cp(text, i, cp), !is_word_char(cp));
        const size_t e = i + t.content.size();
        const bool right_ok = e == text.size() || (utf8_decode(text, e, cp), !is_word_char(cp));
        if (!left_ok || !right_ok) continue;
      }
      hit = &t;
      break;
    }
    if (!hit) {
      ++i;
      continue;
    }
    size_t b = i, e = i + hit->content.size();
    if (hit->lstrip) {
      char32_t cp;
      while (b > seg_start) {
        const size_t n = prev_cp(text, b, cp);
        if (!is_ws(cp)) break;
        b -= n;
      }
    }
    if (hit->rstrip) {
      char32_t cp;
      while (e < text.size()) {
        const size_t n = utf8_decode(text, e, cp);
        if (n == 0 || !is_ws(cp)) break;
        e += n;
      }
    }
    if (b > seg_start) out.push_back({text.substr(seg_start, b - seg_start), -1});
    out.push_back({text.substr(b, e - b), hit->id});
    seg_start = i = e;
  }
  if (seg_start < text.size()) out.push_back({text.substr(seg_start), -1});
}

}  // namespace cc
