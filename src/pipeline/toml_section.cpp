#include "pipeline/toml_section.hpp"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <toml++/toml.h>

#include "core/error.hpp"

namespace cc {

namespace fs = std::filesystem;

TomlSection::TomlSection(const toml::table* t, std::string file, std::string prefix, std::string base_dir)
    : t_(t), file_(std::move(file)), prefix_(std::move(prefix)), base_(std::move(base_dir)) {}

bool TomlSection::has(const std::string& key) const { return t_ && t_->contains(key); }

std::string TomlSection::str(const std::string& key, const std::string& def) const {
  read_.insert(key);
  if (!has(key)) return def;
  auto v = (*t_)[key].value<std::string>();
  if (!v || !(*t_)[key].is_string()) fail(file_, where(key), "is not a string");
  return *v;
}

int64_t TomlSection::integer(const std::string& key, int64_t def) const {
  read_.insert(key);
  if (!has(key)) return def;
  const auto node = (*t_)[key];
  if (node.is_integer()) return *node.value<int64_t>();
  // 4e5 is a natural way to write a token budget; accept floats that are whole numbers.
  if (node.is_floating_point()) {
    const double d = *node.value<double>();
    if (std::isfinite(d) && d == std::floor(d) && std::fabs(d) < 9e18) return int64_t(d);
  }
  fail(file_, where(key), "is not an integer");
}

double TomlSection::number(const std::string& key, double def) const {
  read_.insert(key);
  if (!has(key)) return def;
  const auto node = (*t_)[key];
  if (!node.is_number()) fail(file_, where(key), "is not a number");
  const double d = *node.value<double>();
  if (!std::isfinite(d)) fail(file_, where(key), "is not finite");
  return d;
}

std::string TomlSection::choice(const std::string& key, const std::string& def, const std::vector<std::string>& allowed) const {
  const std::string v = str(key, def);
  std::string all;
  for (const auto& a : allowed) {
    if (a == v) return v;
    all += (all.empty() ? "\"" : " or \"") + a + "\"";
  }
  fail(file_, where(key), "must be " + all, all, v);
}

bool TomlSection::flag(const std::string& key, bool def) const {
  read_.insert(key);
  if (!has(key)) return def;
  const auto node = (*t_)[key];
  if (!node.is_boolean()) fail(file_, where(key), "is not true or false");
  return *node.value<bool>();
}

std::vector<std::string> TomlSection::strings(const std::string& key, const std::vector<std::string>& def) const {
  read_.insert(key);
  if (!has(key)) return def;
  const toml::array* a = (*t_)[key].as_array();
  if (!a) {
    if ((*t_)[key].is_string()) return {*(*t_)[key].value<std::string>()};
    fail(file_, where(key), "is not an array of strings");
  }
  std::vector<std::string> out;
  for (auto&& e : *a) {
    if (!e.is_string()) fail(file_, where(key), "has an entry that is not a string");
    out.push_back(*e.value<std::string>());
  }
  return out;
}

std::vector<double> TomlSection::numbers(const std::string& key, const std::vector<double>& def) const {
  read_.insert(key);
  if (!has(key)) return def;
  const toml::array* a = (*t_)[key].as_array();
  if (!a) fail(file_, where(key), "is not an array of numbers");
  std::vector<double> out;
  for (auto&& e : *a) {
    if (!e.is_number()) fail(file_, where(key), "has an entry that is not a number");
    out.push_back(*e.value<double>());
  }
  return out;
}

std::string TomlSection::resolve(const std::string& p) const {
  if (p.empty() || fs::path(p).is_absolute()) return p;
  return (fs::path(base_) / p).lexically_normal().string();
}

std::string TomlSection::path(const std::string& key, const std::string& def) const { return resolve(str(key, def)); }

TomlSection TomlSection::sub(const std::string& key) const {
  read_.insert(key);
  if (!has(key)) return TomlSection(nullptr, file_, where(key), base_);
  const toml::table* s = (*t_)[key].as_table();
  if (!s) fail(file_, where(key), "is not a table");
  return TomlSection(s, file_, where(key), base_);
}

std::vector<std::string> TomlSection::keys() const {
  // In the order they appear in the file (toml++ iterates alphabetically); keys added by --set
  // have no source position and come last.
  std::vector<std::pair<uint64_t, std::string>> ks;
  if (t_)
    for (auto&& [k, v] : *t_) {
      const auto line = v.source().begin.line;
      ks.emplace_back(line > 0 ? uint64_t(line) : UINT64_MAX, std::string(k.str()));
    }
  std::sort(ks.begin(), ks.end());
  std::vector<std::string> out;
  for (auto& [line, k] : ks) out.push_back(std::move(k));
  return out;
}

void TomlSection::finish() const {
  if (!t_) return;
  for (auto&& [k, v] : *t_)
    if (!read_.count(std::string(k.str()))) fail(file_, where(std::string(k.str())), "is not a setting this section knows (misspelt?)");
}

}  // namespace cc
