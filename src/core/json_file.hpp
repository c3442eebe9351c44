// Reading JSON files and typed fields with errors that name the file and the field.
#pragma once
#include <nlohmann/json.hpp>
#include <functional>
#include <string>

namespace cc {

using Json = nlohmann::json;

Json read_json_file(const std::string& path);                      // parse error names file + byte
Json parse_json(const std::string& text, const std::string& origin);  // origin names the source

// Runs f, which reads fields of a JSON file this program wrote, turning a field of an unexpected type
// or a root of the wrong kind (a hand-edited or damaged file) into a cc::Error naming the file.
[[noreturn]] void throw_json_layout_error(const std::string& path, const nlohmann::json::exception& e);
template <class F>
auto reading_json(const std::string& path, F&& f) -> decltype(f()) {
  try {
    return f();
  } catch (const nlohmann::json::exception& e) {
    throw_json_layout_error(path, e);
  }
}

// Calls f(object, 1-based line) for each non-empty line of a JSONL file; errors name FILE:LINE.
void for_each_jsonl(const std::string& path, const std::function<void(const Json&, size_t)>& f);

// Typed access: throws cc::Error "<file>: '<key>' missing" / "has wrong type".
template <class T>
T json_get(const Json& j, const std::string& key, const std::string& file);
template <class T>
T json_get_or(const Json& j, const std::string& key, const T& fallback, const std::string& file);

}  // namespace cc
