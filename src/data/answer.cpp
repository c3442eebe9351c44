// Answer extraction and comparison for the steering experiment's correctness column.
#include "data/answer.hpp"

#include <cctype>
#include <cmath>
#include <cstdlib>
#include <regex>

namespace cc {

namespace {

std::string replace_all(std::string s, const std::string& from, const std::string& to) {
  for (size_t i = s.find(from); i != std::string::npos; i = s.find(from, i + to.size())) s.replace(i, from.size(), to);
  return s;
}

std::string normalise(std::string s) {
  for (const char* t : {"\\left", "\\right", "\\!", "\\,", "\\;", "$", " ", "\n", "\t"}) s = replace_all(s, t, "");
  s = replace_all(s, "\\dfrac", "\\frac");
  s = replace_all(s, "\\tfrac", "\\frac");
  if (s.rfind("\\text{", 0) == 0 && !s.empty() && s.back() == '}') s = s.substr(6, s.size() - 7);
  while (!s.empty() && s.back() == '.') s.pop_back();
  return s;
}

// A plain number, a/b, or \frac{a}{b}, after dropping commas, $ and %.
std::optional<double> as_number(const std::string& raw) {
  std::string s = normalise(raw);
  s = replace_all(s, ",", "");
  s = replace_all(s, "%", "");
  s = replace_all(s, "\\%", "");
  static const std::regex num(R"(^[-+]?(\d+\.?\d*|\.\d+)$)");
  static const std::regex frac(R"(^([-+]?)\\frac\{([-+]?\d+\.?\d*)\}\{([-+]?\d+\.?\d*)\}$)");
  static const std::regex slash(R"(^([-+]?\d+\.?\d*)/(\d+\.?\d*)$)");
  std::smatch m;
  if (std::regex_match(s, num)) return std::strtod(s.c_str(), nullptr);
  if (std::regex_match(s, m, frac)) {
    const double den = std::strtod(m[3].str().c_str(), nullptr);
    if (den == 0) return std::nullopt;
    return (m[1] == "-" ? -1 : 1) * std::strtod(m[2].str().c_str(), nullptr) / den;
  }
  if (std::regex_match(s, m, slash)) {
    const double den = std::strtod(m[2].str().c_str(), nullptr);
    if (den == 0) return std::nullopt;
    return std::strtod(m[1].str().c_str(), nullptr) / den;
  }
  return std::nullopt;
}

}  // namespace

std::optional<std::string> extract_answer(const std::string& full) {
  const size_t think = full.rfind("</think>");
  const std::string text = think == std::string::npos ? full : full.substr(think + 8);
  const size_t b = text.rfind("\\boxed{");
  if (b != std::string::npos) {
    int depth = 1;
    size_t i = b + 7;
    for (; i < text.size() && depth > 0; ++i) depth += text[i] == '{' ? 1 : text[i] == '}' ? -1 : 0;
    if (depth == 0) return text.substr(b + 7, i - 1 - (b + 7));
  }
  static const std::regex number(R"([-+]?\d[\d,]*(\.\d+)?)");
  std::string last;
  for (auto it = std::sregex_iterator(text.begin(), text.end(), number); it != std::sregex_iterator(); ++it) last = it->str();
  while (!last.empty() && last.back() == ',') last.pop_back();
  if (last.empty()) return std::nullopt;
  return last;
}

std::string reference_answer(const std::string& answer_field) {
  const size_t h = answer_field.rfind("####");
  if (h == std::string::npos) return answer_field;
  std::string s = answer_field.substr(h + 4);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.erase(s.begin());
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.pop_back();
  return s;
}

bool answers_match(const std::string& got, const std::string& reference) {
  const auto a = as_number(got), b = as_number(reference);
  if (a && b) return std::fabs(*a - *b) <= 1e-6 * std::max(1.0, std::fabs(*b));
  return normalise(got) == normalise(reference);
}

}  // namespace cc
