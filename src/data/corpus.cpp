// Corpus indexing and field extraction.
#include "data/corpus.hpp"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>

#include "core/atomic_file.hpp"
#include "core/error.hpp"
#include "core/strings.hpp"
#include "tokenizer/chat_template.hpp"
#include "tokenizer/utf8.hpp"

namespace cc {

namespace fs = std::filesystem;

std::string CorpusSpec::text() const {
  std::string s = path;
  if (!field.empty()) s += ":" + field;
  char w[32];
  std::snprintf(w, sizeof w, "@%g", weight);
  s += w;
  if (!chat.empty()) s += "#" + chat;
  return s;
}

CorpusSpec parse_corpus_spec(const std::string& s) {
  CorpusSpec c;
  std::string rest = s;
  if (auto h = rest.rfind('#'); h != std::string::npos) {
    c.chat = rest.substr(h + 1);
    chat_template_from_name(c.chat);  // validates
    rest.resize(h);
  }
  if (auto a = rest.rfind('@'); a != std::string::npos) {
    const std::string w = rest.substr(a + 1);
    char* end = nullptr;
    c.weight = std::strtod(w.c_str(), &end);
    if (w.empty() || *end != '\0' || !(c.weight > 0))
      fail("", "--corpus " + s, "has a bad weight", "a positive number after @", w);
    rest.resize(a);
  }
  // A ':' after the last '/' separates the field (paths may contain ':' in folder names).
  const size_t slash = rest.rfind('/');
  if (auto colon = rest.rfind(':'); colon != std::string::npos && (slash == std::string::npos || colon > slash)) {
    c.field = rest.substr(colon + 1);
    rest.resize(colon);
  }
  c.path = rest;
  if (c.path.empty()) fail("", "--corpus " + s, "has no path", "PATH[:FIELD][@WEIGHT][#TEMPLATE]", s);
  return c;
}

namespace {

bool is_jsonl(const fs::path& p) { return p.extension() == ".jsonl" || p.extension() == ".json"; }

// Licences and upstream notes kept beside data (LICENSE.txt, README.txt, SOURCES.md...) are not text
// to harvest, whatever their extension.
bool is_documentation(const fs::path& p) {
  std::string n = p.filename().string();
  for (char& c : n) c = char(std::toupper(static_cast<unsigned char>(c)));
  for (const char* prefix : {"LICENSE", "LICENCE", "README", "SOURCES", "COPYING", "NOTICE"})
    if (n.rfind(prefix, 0) == 0) return true;
  return n.find(".README.") != std::string::npos;
}

// Resolves "a.b" inside a JSON object; nullptr when absent.
const Json* at_path(const Json& j, const std::string& path) {
  const Json* cur = &j;
  for (const std::string& k : split(path, '.')) {
    if (!cur->is_object() || !cur->contains(k)) return nullptr;
    cur = &(*cur)[k];
  }
  return cur;
}

// One part of a field expression → text; "x[].y" joins y over the array x; an array of chat
// messages joins their "content".
std::string part_text(const Json& j, const std::string& part, const std::string& where) {
  std::string arr = part, sub;
  if (auto p = part.find("[]."); p != std::string::npos) {
    arr = part.substr(0, p);
    sub = part.substr(p + 3);
  }
  const Json* v = at_path(j, arr);
  if (!v) fail(where, part, "field is missing");
  if (v->is_string()) return v->get<std::string>();
  if (v->is_array()) {
    std::string out;
    for (const Json& e : *v) {
      const Json* x = sub.empty() ? (e.is_object() && e.contains("content") ? &e["content"] : &e) : at_path(e, sub);
      if (!x || !x->is_string()) fail(where, part, "has an element without a string " + (sub.empty() ? std::string("content") : sub));
      if (!out.empty()) out += "\n\n";
      out += x->get<std::string>();
    }
    return out;
  }
  fail(where, part, "is not a string or a list of messages", "string", v->dump().substr(0, 60));
}

}  // namespace

Corpus::Corpus(const CorpusSpec& spec) : spec_(spec) {
  std::vector<fs::path> paths;
  if (fs::is_directory(spec.path)) {
    for (const fs::path& e : list_dir(spec.path)) {
      const auto ext = e.extension();
      if (fs::is_regular_file(e) && (ext == ".txt" || ext == ".jsonl") && !is_documentation(e)) paths.push_back(e);
    }
    if (paths.empty()) fail(spec.path, "", "holds no .txt or .jsonl files (LICENSE/README/SOURCES files are not read)");
  } else if (fs::exists(spec.path)) {
    paths.push_back(spec.path);
  } else {
    fail(spec.path, "", "not found (corpus)");
  }
  jsonl_ = is_jsonl(paths[0]);
  for (const auto& p : paths)
    if (is_jsonl(p) != jsonl_) fail(spec.path, "", "mixes JSONL and text files; give them as separate corpora");
  if (spec_.field.empty()) spec_.field = jsonl_ ? "text" : "blocks";
  if (!jsonl_ && spec_.field != "blocks" && spec_.field != "file")
    fail(spec.path, spec_.field, "is not a text-corpus mode", "blocks or file");

  for (const auto& p : paths) {
    files_.emplace_back(p.string());
    const MappedFile& f = files_.back();
    const char* d = reinterpret_cast<const char*>(f.data());
    const uint32_t fi = uint32_t(files_.size() - 1);
    const size_t n = f.size();
    if (jsonl_ || spec_.field == "blocks") {
      // JSONL: one document per non-empty line. Text: blocks separated by blank lines.
      size_t i = 0;
      uint32_t line = 1;
      size_t block_begin = SIZE_MAX;
      uint32_t block_line = 0;
      while (i < n) {
        const char* nl = static_cast<const char*>(std::memchr(d + i, '\n', n - i));
        const size_t e = nl ? size_t(nl - d) : n;
        bool blank = true;
        for (size_t k = i; k < e; ++k)
          if (d[k] != ' ' && d[k] != '\t' && d[k] != '\r') {
            blank = false;
            break;
          }
        if (jsonl_) {
          if (!blank) docs_.push_back({fi, i, e, line});
        } else if (blank) {
          if (block_begin != SIZE_MAX) docs_.push_back({fi, block_begin, i, block_line});
          block_begin = SIZE_MAX;
        } else if (block_begin == SIZE_MAX) {
          block_begin = i;
          block_line = line;
        }
        i = e + 1;
        ++line;
      }
      if (!jsonl_ && block_begin != SIZE_MAX) docs_.push_back({fi, block_begin, n, block_line});
    } else if (n > 0) {
      docs_.push_back({fi, 0, n, 1});
    }
  }
  // Validate everything now rather than hours into a harvest.
  for (size_t k = 0; k < docs_.size(); ++k) extract(docs_[k]);
  if (docs_.empty()) fail(spec.path, "", "is an empty corpus (no documents)");
}

std::string Corpus::where(size_t i) const { return where(docs_[i]); }

std::vector<std::string> Corpus::files() const {
  std::vector<std::string> out;
  for (const MappedFile& f : files_) out.push_back(f.path());
  return out;
}

std::string Corpus::where(const DocRef& r) const { return files_[r.file].path() + ":" + std::to_string(r.line); }

std::string Corpus::document(size_t i) const { return extract(docs_[i]); }

std::string Corpus::extract(const DocRef& r) const {
  const char* d = reinterpret_cast<const char*>(files_[r.file].data());
  const std::string raw(d + r.begin, r.end - r.begin);
  if (!jsonl_) {
    // JSON strings are valid UTF-8 by construction (the parser checks); text files are not, and the
    // tokenizer needs it. Caught here, at open, with the line, rather than hours into a harvest.
    if (const size_t bad = utf8_invalid_offset(raw); bad != std::string::npos)
      fail(where(r), "", "is not valid UTF-8 (byte " + std::to_string(bad) + " of the document)", "", "",
           "convert the file to UTF-8, e.g. iconv -f latin1 -t utf-8");
    if (spec_.chat.empty()) return raw;
    return apply_chat_template(chat_template_from_name(spec_.chat), raw);
  }
  const std::string at = where(r);
  const Json j = parse_json(raw, at);
  if (!j.is_object()) fail(at, "", "is not a JSON object");
  const auto parts = split(spec_.field, '+');
  std::string out;
  for (size_t p = 0; p < parts.size(); ++p) {
    std::string t = part_text(j, parts[p], at);
    if (p == 0 && !spec_.chat.empty()) {
      out = apply_chat_template(chat_template_from_name(spec_.chat), t);
      continue;
    }
    if (!out.empty() && spec_.chat.empty()) out += "\n\n";
    out += t;
  }
  return out;
}

}  // namespace cc
