#include "core/jsonl_log.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "core/atomic_file.hpp"
#include "core/error.hpp"

namespace cc {

JsonlLog::JsonlLog(std::string path) : path_(std::move(path)) {
  if (!std::filesystem::exists(path_)) return;
  std::ifstream in(path_);
  std::string line, kept;
  size_t n = 0, bad = 0;
  while (std::getline(in, line)) {
    ++n;
    if (line.empty()) continue;
    Json j = Json::parse(line, nullptr, false);
    if (j.is_discarded() || !j.is_object()) {
      ++bad;
      continue;
    }
    if (bad) fail(path_ + ":" + std::to_string(n - 1), "", "is not JSON and is not the last line", "a torn last line at most", "a bad line inside");
    lines_.push_back(j);
    kept += line + "\n";
  }
  if (bad) write_file_atomic(path_, kept);
}

void JsonlLog::append(const Json& j) {
  std::lock_guard lock(mu_);
  const std::string s = j.dump() + "\n";
  const int fd = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  if (fd < 0 || ::write(fd, s.data(), s.size()) != ssize_t(s.size()) || ::fsync(fd) != 0) {
    const std::string why = std::strerror(errno);
    if (fd >= 0) ::close(fd);
    fail(path_, "", "could not be appended to", "a writable file", why);
  }
  ::close(fd);
  lines_.push_back(j);  // what the file now holds, without reading it again
}

}  // namespace cc
