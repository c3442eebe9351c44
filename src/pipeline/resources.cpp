#include "pipeline/resources.hpp"

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <vector>

#include "core/error.hpp"

namespace cc {

namespace fs = std::filesystem;

namespace {

bool holds_resources(const fs::path& dir) {
  std::error_code ec;
  return fs::is_regular_file(dir / "configs" / "organism.toml", ec);
}

std::string executable_dir() {
  std::error_code ec;
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  return ec ? std::string() : exe.parent_path().string();
}

std::string find_root() {
  std::vector<std::string> tried;
  if (const char* home = std::getenv("CROSSCODER_HOME"); home && *home) {
    if (holds_resources(home)) return fs::absolute(home).lexically_normal().string();
    fail(home, "CROSSCODER_HOME", "does not hold crosscoder's resources", "a folder with configs/organism.toml",
         fs::is_directory(home) ? "a folder without configs/organism.toml" : "no such folder",
         "unset it to use the installed or source-tree resources");
  }
  if (const std::string bin = executable_dir(); !bin.empty()) {
    const fs::path installed = fs::path(bin) / ".." / "share" / "crosscoder";
    if (holds_resources(installed)) return installed.lexically_normal().string();
    tried.push_back(installed.lexically_normal().string());
  }
#ifdef CROSSCODER_SOURCE_DIR
  if (holds_resources(CROSSCODER_SOURCE_DIR)) return CROSSCODER_SOURCE_DIR;
  tried.push_back(CROSSCODER_SOURCE_DIR);
#endif
  std::string list;
  for (const auto& t : tried) list += (list.empty() ? "" : ", ") + t;
  fail("", "crosscoder resources (configs/, data/, organism/, report/)", "not found", "", list,
       "install with cmake --install, or set CROSSCODER_HOME to the project folder");
}

}  // namespace

const std::string& resource_root() {
  static const std::string root = find_root();
  return root;
}

std::string resource_path(const std::string& rel) { return resource_root() + "/" + rel; }

}  // namespace cc
