// PCRE2-backed Split. Match data is per thread so one splitter serves parallel encoders.
#define PCRE2_CODE_UNIT_WIDTH 8
#include "tokenizer/regex_split.hpp"

#include <pcre2.h>

#include "core/error.hpp"

namespace cc {

namespace {
// Oniguruma's \s under Unicode: the White_Space property.
const char* kWhiteSpaceMembers =
    "\\x{9}-\\x{d}\\x{20}\\x{85}\\x{a0}\\x{1680}\\x{2000}-\\x{200a}\\x{2028}\\x{2029}\\x{202f}\\x{205f}\\x{3000}";
}  // namespace

std::string onig_to_pcre2(const std::string& p) {
  std::string out;
  bool in_class = false;
  for (size_t i = 0; i < p.size(); ++i) {
    const char c = p[i];
    if (c == '\\' && i + 1 < p.size()) {
      const char n = p[i + 1];
      if (n == 's') {
        out += in_class ? std::string(kWhiteSpaceMembers) : "[" + std::string(kWhiteSpaceMembers) + "]";
      } else if (n == 'S') {
        if (in_class) return p;  // not expressible by substitution; keep PCRE2's meaning
        out += "[^" + std::string(kWhiteSpaceMembers) + "]";
      } else {
        out += c;
        out += n;
      }
      ++i;
      continue;
    }
    if (c == '[' && !in_class) {
      in_class = true;
      out += c;
      if (i + 1 < p.size() && p[i + 1] == '^') out += p[++i];
      if (i + 1 < p.size() && p[i + 1] == ']') out += p[++i];  // literal ] first in class
      continue;
    }
    if (c == ']' && in_class) in_class = false;
    out += c;
  }
  return out;
}

struct RegexSplitter::Impl {
  pcre2_code* code = nullptr;
  ~Impl() {
    if (code) pcre2_code_free(code);
  }
};

RegexSplitter::RegexSplitter(const std::string& pattern, bool literal, SplitBehavior behavior, bool invert,
                             const std::string& origin)
    : impl_(std::make_unique<Impl>()), behavior_(behavior), invert_(invert) {
  const std::string pat = literal ? pattern : onig_to_pcre2(pattern);
  int err = 0;
  PCRE2_SIZE off = 0;
  const uint32_t opts = PCRE2_UTF | PCRE2_UCP | PCRE2_NO_UTF_CHECK | (literal ? PCRE2_LITERAL : 0);
  impl_->code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pat.data()), pat.size(), opts, &err, &off, nullptr);
  if (!impl_->code) {
    PCRE2_UCHAR msg[256];
    pcre2_get_error_message(err, msg, sizeof msg);
    fail(origin, "pre_tokenizer.Split.pattern",
         std::string("does not compile: ") + reinterpret_cast<char*>(msg) + " at offset " + std::to_string(off), "", pattern);
  }
  pcre2_jit_compile(impl_->code, PCRE2_JIT_COMPLETE);  // falls back to the interpreter if JIT is unavailable
}

RegexSplitter::~RegexSplitter() = default;

void RegexSplitter::matches(std::string_view text, std::vector<Span>& out) const {
  struct MatchData {
    pcre2_match_data* md = pcre2_match_data_create(4, nullptr);
    ~MatchData() { pcre2_match_data_free(md); }
  };
  thread_local MatchData tl;
  const auto* subject = reinterpret_cast<PCRE2_SPTR>(text.data());
  size_t start = 0;
  while (start <= text.size()) {
    const int rc = pcre2_match(impl_->code, subject, text.size(), start, PCRE2_NO_UTF_CHECK, tl.md, nullptr);
    if (rc == PCRE2_ERROR_NOMATCH) break;
    if (rc < 0) fail("", "pre-tokenizer regex", "failed while matching (code " + std::to_string(rc) + ")");
    const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(tl.md);
    size_t b = ov[0], e = ov[1];
    if (e == b) {  // empty match: skip one character, as find_iter does
      if (b >= text.size()) break;
      size_t n = 1;
      while (b + n < text.size() && (static_cast<unsigned char>(text[b + n]) & 0xc0) == 0x80) ++n;
      start = b + n;
      continue;
    }
    out.push_back({b, e});
    start = e;
  }
}

void RegexSplitter::split(std::string_view text, std::vector<Span>& out) const {
  thread_local std::vector<Span> m;
  m.clear();
  matches(text, m);
  // (span, is_match) covering the whole text in order.
  thread_local std::vector<std::pair<Span, bool>> parts;
  parts.clear();
  size_t prev = 0;
  for (const Span& s : m) {
    if (s.begin > prev) parts.push_back({{prev, s.begin}, invert_});
    parts.push_back({s, !invert_});
    prev = s.end;
  }
  if (prev < text.size()) parts.push_back({{prev, text.size()}, invert_});

  switch (behavior_) {
    case SplitBehavior::Removed:
      for (auto& [s, is_m] : parts)
        if (!is_m) out.push_back(s);
      break;
    case SplitBehavior::Isolated:
      for (auto& [s, is_m] : parts) out.push_back(s);
      break;
    case SplitBehavior::MergedWithPrevious: {
      bool prev_open = false;
      for (auto& [s, is_m] : parts) {
        if (is_m && prev_open) out.back().end = s.end;
        else out.push_back(s);
        prev_open = true;
      }
      break;
    }
    case SplitBehavior::MergedWithNext: {
      bool carry = false;
      for (auto& [s, is_m] : parts) {
        if (carry) out.back().end = s.end;
        else out.push_back(s);
        carry = is_m;
      }
      break;
    }
    case SplitBehavior::Contiguous: {
      bool prev_match = false;
      for (auto& [s, is_m] : parts) {
        if (is_m && prev_match) out.back().end = s.end;
        else out.push_back(s);
        prev_match = is_m;
      }
      break;
    }
  }
}

}  // namespace cc
