// Formats ErrorInfo into the single line that main() prints.
#include "core/error.hpp"

namespace cc {

static std::string format(const ErrorInfo& e) {
  std::string s;
  if (!e.file.empty()) s += e.file + ": ";
  if (!e.object.empty()) s += "'" + e.object + "' ";
  s += e.problem;
  if (!e.expected.empty() || !e.got.empty()) {
    s += "; expected " + (e.expected.empty() ? std::string("?") : e.expected) + ", got " +
         (e.got.empty() ? std::string("?") : e.got);
  }
  if (!e.hint.empty()) s += " (" + e.hint + ")";
  return s;
}

Error::Error(ErrorInfo info) : std::runtime_error(format(info)), info_(std::move(info)) {}

void fail(const std::string& file, const std::string& object, const std::string& problem,
          const std::string& expected, const std::string& got, const std::string& hint) {
  throw Error(ErrorInfo{file, object, problem, expected, got, hint});
}

}  // namespace cc
