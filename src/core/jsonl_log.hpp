// A JSONL file of finished work that survives a kill: each line is appended, flushed and fsynced
// under a lock; on open, a torn last line (the process died mid-write) is dropped and the file
// rewritten atomically without it, while a bad line anywhere else is an error naming it.
#pragma once
#include <mutex>
#include <string>
#include <vector>

#include "core/json_file.hpp"

namespace cc {

class JsonlLog {
 public:
  explicit JsonlLog(std::string path);
  const std::vector<Json>& lines() const { return lines_; }  // read it only when no append is running
  void append(const Json& j);

 private:
  std::string path_;
  std::vector<Json> lines_;
  std::mutex mu_;
};

}  // namespace cc
