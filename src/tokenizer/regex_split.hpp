// HF `Split` pre-tokenizer: a regex (Oniguruma syntax in tokenizer.json) run with PCRE2 (UTF + UCP,
// JIT-compiled), and the five split behaviours. `\s`/`\S` are rewritten to Oniguruma's exact
// White_Space set, because PCRE2's \s also matches U+180E.
#pragma once
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace cc {

enum class SplitBehavior { Removed, Isolated, MergedWithPrevious, MergedWithNext, Contiguous };

struct Span {
  size_t begin, end;  // byte offsets
};

class RegexSplitter {
 public:
  // pattern: Oniguruma-syntax regex, or a literal when `literal` is true. origin names the file.
  RegexSplitter(const std::string& pattern, bool literal, SplitBehavior behavior, bool invert,
                const std::string& origin);
  ~RegexSplitter();
  RegexSplitter(const RegexSplitter&) = delete;
  RegexSplitter& operator=(const RegexSplitter&) = delete;

  // Splits `text` (valid UTF-8) into pieces, appended to `out` as spans relative to text.
  void split(std::string_view text, std::vector<Span>& out) const;

 private:
  void matches(std::string_view text, std::vector<Span>& out) const;
  struct Impl;
  std::unique_ptr<Impl> impl_;
  SplitBehavior behavior_;
  bool invert_;
};

// Exposed for tests: the \s / \S rewrite.
std::string onig_to_pcre2(const std::string& pattern);

}  // namespace cc
