// JSON helpers over nlohmann::json (chosen: header-only, Debian-packaged, exact error offsets).
#include "core/json_file.hpp"

#include <cstdint>
#include <fstream>

#include "core/atomic_file.hpp"
#include "core/error.hpp"

namespace cc {

Json parse_json(const std::string& text, const std::string& origin) {
  // nlohmann stops at a NUL byte and accepts what came before it, so a zero-filled or spliced file
  // would parse as its prefix (found by fuzzing): refuse it instead.
  if (const size_t nul = text.find('\0'); nul != std::string::npos)
    fail(origin, "", "holds a NUL byte at offset " + std::to_string(nul) + " (a damaged or binary file, not JSON)");
  try {
    return Json::parse(text);
  } catch (const Json::exception& e) {  // parse_error, and out_of_range for numbers like 9E9990
    fail(origin, "", std::string("malformed JSON: ") + e.what());
  }
}

Json read_json_file(const std::string& path) { return parse_json(read_file(path), path); }

void throw_json_layout_error(const std::string& path, const nlohmann::json::exception& e) {
  fail(path, "", std::string("does not have the layout this program writes (edited or damaged?): ") + e.what());
}

void for_each_jsonl(const std::string& path, const std::function<void(const Json&, size_t)>& f) {
  std::ifstream in(path);
  if (!in) fail(path, "", "cannot be opened");
  std::string line;
  size_t n = 0;
  while (std::getline(in, line)) {
    ++n;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.find_first_not_of(" \t") != std::string::npos) f(parse_json(line, path + ":" + std::to_string(n)), n);
  }
}

namespace {
template <class T>
const char* type_word() {
  if constexpr (std::is_same_v<T, bool>) return "a boolean";
  else if constexpr (std::is_integral_v<T>) return "an integer";
  else if constexpr (std::is_floating_point_v<T>) return "a number";
  else return "a string";
}
template <class T>
bool has_type(const Json& v) {
  if constexpr (std::is_same_v<T, bool>) return v.is_boolean();
  else if constexpr (std::is_integral_v<T>) return v.is_number_integer();
  else if constexpr (std::is_floating_point_v<T>) return v.is_number();
  else return v.is_string();
}
}  // namespace

template <class T>
T json_get(const Json& j, const std::string& key, const std::string& file) {
  if (!j.is_object() || !j.contains(key)) fail(file, key, "is missing");
  const Json& v = j.at(key);
  if (!has_type<T>(v)) fail(file, key, "has wrong type", type_word<T>(), v.dump());
  return v.get<T>();
}

template <class T>
T json_get_or(const Json& j, const std::string& key, const T& fallback, const std::string& file) {
  if (!j.is_object() || !j.contains(key) || j.at(key).is_null()) return fallback;
  return json_get<T>(j, key, file);
}

template bool json_get<bool>(const Json&, const std::string&, const std::string&);
template int64_t json_get<int64_t>(const Json&, const std::string&, const std::string&);
template double json_get<double>(const Json&, const std::string&, const std::string&);
template std::string json_get<std::string>(const Json&, const std::string&, const std::string&);
template bool json_get_or<bool>(const Json&, const std::string&, const bool&, const std::string&);
template int64_t json_get_or<int64_t>(const Json&, const std::string&, const int64_t&, const std::string&);
template double json_get_or<double>(const Json&, const std::string&, const double&, const std::string&);
template std::string json_get_or<std::string>(const Json&, const std::string&, const std::string&,
                                              const std::string&);

}  // namespace cc
