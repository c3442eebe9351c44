// The one exception type of the library: it says which file and object went wrong, what was
// expected, what was found, and how to fix it. Only main() catches it.
#pragma once
#include <stdexcept>
#include <string>

namespace cc {

struct ErrorInfo {
  std::string file;      // path of the offending file, e.g. "model/config.json"
  std::string object;    // tensor / field / option, e.g. "model.layers.3.self_attn.q_proj.weight"
  std::string problem;   // what is wrong, e.g. "has wrong shape"
  std::string expected;  // e.g. "[1536,1536]"
  std::string got;       // e.g. "[1536,256]"
  std::string hint;      // how to fix it, optional
};

class Error : public std::runtime_error {
 public:
  explicit Error(ErrorInfo info);
  const ErrorInfo& info() const { return info_; }

 private:
  ErrorInfo info_;
};

// Shorthand for the common case "FILE: OBJECT PROBLEM".
[[noreturn]] void fail(const std::string& file, const std::string& object, const std::string& problem,
                       const std::string& expected = "", const std::string& got = "",
                       const std::string& hint = "");

}  // namespace cc
