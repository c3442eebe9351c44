// Lexicon loading with toml++ (Debian's libtomlplusplus-dev: a maintained TOML 1.0 parser with
// line/column errors) and prefix matching.
#include "data/lexicon.hpp"

#include <cctype>
#include <toml++/toml.h>

#include "core/error.hpp"

namespace cc {

namespace {
std::string lower(std::string s) {
  for (char& c : s) c = char(std::tolower(static_cast<unsigned char>(c)));
  return s;
}
}  // namespace

Lexicon load_lexicon(const std::string& path) {
  toml::table t;
  try {
    t = toml::parse_file(path);
  } catch (const toml::parse_error& e) {
    fail(path, "", std::string("malformed TOML at line ") + std::to_string(e.source().begin.line) + ": " + std::string(e.description()));
  }
  Lexicon lx;
  for (auto&& [k, v] : t) {
    const toml::table* cat = v.as_table();
    if (!cat) fail(path, std::string(k.str()), "is not a table of phrases");
    const toml::array* arr = (*cat)["phrases"].as_array();
    if (!arr || arr->empty()) fail(path, std::string(k.str()) + ".phrases", "is missing or empty");
    std::vector<std::string> ph;
    for (auto&& e : *arr) {
      auto s = e.value<std::string>();
      if (!s || s->empty()) fail(path, std::string(k.str()) + ".phrases", "has an entry that is not a non-empty string");
      ph.push_back(lower(*s));
    }
    std::vector<std::string> tg;
    if (auto node = (*cat)["targets"]) {
      const toml::array* ta = node.as_array();
      if (!ta) fail(path, std::string(k.str()) + ".targets", "is not an array of strings");
      for (auto&& e : *ta) {
        auto s = e.value<std::string>();
        if (!s || s->empty()) fail(path, std::string(k.str()) + ".targets", "has an entry that is not a non-empty string");
        tg.push_back(*s);
      }
    }
    lx.categories.push_back(std::string(k.str()));
    lx.phrases.push_back(std::move(ph));
    lx.targets.push_back(std::move(tg));
  }
  if (lx.categories.empty()) fail(path, "", "defines no category");
  return lx;
}

int Lexicon::match(const std::string& text) const {
  size_t b = 0;
  while (b < text.size() && (std::isspace(static_cast<unsigned char>(text[b])) || text[b] == ',' || text[b] == '.' ||
                             text[b] == '"' || text[b] == '(' || text[b] == '*'))
    ++b;
  const std::string t = lower(text.substr(b));
  for (size_t c = 0; c < phrases.size(); ++c)
    for (const std::string& p : phrases[c])
      if (t.compare(0, p.size(), p) == 0 && (t.size() == p.size() || !std::isalpha(static_cast<unsigned char>(t[p.size()]))))
        return int(c);
  return -1;
}

std::vector<int64_t> Lexicon::count(const std::string& text) const {
  const std::string t = lower(text);
  auto word = [&](size_t i) { return i < t.size() && (std::isalnum(static_cast<unsigned char>(t[i])) || t[i] == '\''); };
  std::vector<int64_t> n(categories.size(), 0);
  size_t i = 0;
  while (i < t.size()) {
    if (i > 0 && word(i - 1)) {
      ++i;
      continue;
    }
    size_t best = 0;
    int best_c = -1;
    for (size_t c = 0; c < phrases.size(); ++c)
      for (const std::string& p : phrases[c])
        if (p.size() > best && t.compare(i, p.size(), p) == 0 && !word(i + p.size())) {
          best = p.size();
          best_c = int(c);
        }
    if (best_c >= 0) {
      ++n[size_t(best_c)];
      i += best;
    } else {
      ++i;
    }
  }
  return n;
}

int Lexicon::find(const std::string& category) const {
  for (size_t c = 0; c < categories.size(); ++c)
    if (categories[c] == category) return int(c);
  return -1;
}

}  // namespace cc
