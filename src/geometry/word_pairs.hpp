// Function-vector word-pair tasks (Todd et al. 2023): a JSON array of {"input": a, "output": b}.
#pragma once
#include <string>
#include <utility>
#include <vector>

namespace cc {

struct WordPairTask {
  std::string name;   // file stem, e.g. "antonym"
  std::string path;
  std::vector<std::pair<std::string, std::string>> pairs;
};

// Errors name the file and the element: not an array, missing or non-string fields, empty.
WordPairTask load_word_pair_task(const std::string& path);

// Every *.json task of a folder (sorted by name), or only those named in `only` (errors list the
// tasks there when a name is unknown).
std::vector<WordPairTask> load_word_pair_tasks(const std::string& dir, const std::vector<std::string>& only);

}  // namespace cc
