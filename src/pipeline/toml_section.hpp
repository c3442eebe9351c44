// Typed, strict access to one table of an experiment TOML: every read names the file and the dotted
// key on error, relative paths resolve against the TOML file's folder, and keys nobody read are
// refused (a misspelt setting must not be silently ignored).
#pragma once
#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include <toml++/toml.h>

namespace cc {

class TomlSection {
 public:
  // t may be null (the table is absent: every read returns its default).
  TomlSection(const toml::table* t, std::string file, std::string prefix, std::string base_dir);

  bool present() const { return t_ != nullptr; }
  bool has(const std::string& key) const;
  std::string str(const std::string& key, const std::string& def) const;
  int64_t integer(const std::string& key, int64_t def) const;
  double number(const std::string& key, double def) const;
  bool flag(const std::string& key, bool def) const;
  // A string that must be one of `allowed`; the error lists them.
  std::string choice(const std::string& key, const std::string& def, const std::vector<std::string>& allowed) const;
  std::vector<std::string> strings(const std::string& key, const std::vector<std::string>& def) const;
  std::vector<double> numbers(const std::string& key, const std::vector<double>& def) const;
  // A path: "" stays ""; relative ones are joined to the TOML file's folder.
  std::string path(const std::string& key, const std::string& def) const;
  std::string resolve(const std::string& p) const;
  // A sub-table (null section when absent); errors when the key holds something else.
  TomlSection sub(const std::string& key) const;
  std::vector<std::string> keys() const;  // in file order

  // Errors on any key not read so far.
  void finish() const;

  const std::string& file() const { return file_; }
  std::string where(const std::string& key) const { return prefix_.empty() ? key : prefix_ + "." + key; }

 private:
  const toml::table* t_;
  std::string file_, prefix_, base_;
  mutable std::set<std::string> read_;
};

}  // namespace cc
