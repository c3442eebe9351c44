// Lexicon loading with toml++ (Debian's libtomlplusplus-dev: a maintained TOML 1.0 parser with
// line/column errors) and prefix matching.
#include "analysis/lexicon.hpp"

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
    lx.categories.push_back(std::string(k.str()));
    lx.phrases.push_back(std::move(ph));
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

}  // namespace cc
