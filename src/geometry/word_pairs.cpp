// Loading of the word-pair task files with nlohmann::json.
#include "geometry/word_pairs.hpp"

#include <algorithm>
#include <filesystem>

#include "core/atomic_file.hpp"
#include "core/error.hpp"
#include "core/json_file.hpp"

namespace cc {

namespace fs = std::filesystem;

WordPairTask load_word_pair_task(const std::string& path) {
  const Json j = read_json_file(path);
  WordPairTask t;
  t.path = path;
  t.name = fs::path(path).stem().string();
  if (!j.is_array()) fail(path, "", "is not a JSON array of {\"input\", \"output\"} objects", "array", j.type_name());
  if (j.empty()) fail(path, "", "holds no word pair");
  for (size_t i = 0; i < j.size(); ++i) {
    const Json& e = j[i];
    const std::string where = "element " + std::to_string(i);
    if (!e.is_object()) fail(path, where, "is not an object", "{\"input\": ..., \"output\": ...}", e.type_name());
    for (const char* k : {"input", "output"})
      if (!e.contains(k) || !e[k].is_string()) fail(path, where + "." + k, "is missing or not a string");
    t.pairs.push_back({e["input"].get<std::string>(), e["output"].get<std::string>()});
  }
  return t;
}

std::vector<WordPairTask> load_word_pair_tasks(const std::string& dir, const std::vector<std::string>& only) {
  if (!fs::is_directory(dir)) fail(dir, "", "is not a folder of word-pair task files");
  std::vector<std::string> names;
  for (const fs::path& e : list_dir(dir))
    if (fs::is_regular_file(e) && e.extension() == ".json") names.push_back(e.stem().string());
  std::sort(names.begin(), names.end());
  if (names.empty()) fail(dir, "", "holds no *.json task file");
  std::vector<WordPairTask> out;
  if (only.empty()) {
    for (const auto& n : names) out.push_back(load_word_pair_task((fs::path(dir) / (n + ".json")).string()));
    return out;
  }
  for (const auto& n : only) {
    if (std::find(names.begin(), names.end(), n) == names.end()) {
      std::string all;
      for (const auto& m : names) all += (all.empty() ? "" : ", ") + m;
      fail(dir, "task '" + n + "'", "does not exist", all, n);
    }
    out.push_back(load_word_pair_task((fs::path(dir) / (n + ".json")).string()));
  }
  return out;
}

}  // namespace cc
