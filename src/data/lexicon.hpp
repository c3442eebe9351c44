// Reasoning-category lexicon (TOML): category → phrases, matched case-insensitively at a word
// boundary at the start of a text (the token a feature fires on and the next two).
#pragma once
#include <string>
#include <vector>

namespace cc {

struct Lexicon {
  std::vector<std::string> categories;              // in file order
  std::vector<std::vector<std::string>> phrases;    // lower-case, per category
  std::vector<std::vector<std::string>> targets;    // per category, as written: the ablation's target tokens
  // Index of the first category whose phrase starts `text` (after leading spaces/punctuation), or -1.
  int match(const std::string& text) const;
  // Occurrences of each category's phrases in `text`, case-insensitive, at word boundaries on both
  // sides; at each place the longest phrase of any category is counted and skipped over.
  std::vector<int64_t> count(const std::string& text) const;
  int find(const std::string& category) const;  // index or -1
};

Lexicon load_lexicon(const std::string& path);  // errors name the file and the table

}  // namespace cc
