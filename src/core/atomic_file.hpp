// Writes a file so that it appears under its final name complete or not at all: data goes to a
// temporary file beside it, is flushed and fsync'ed, then renamed over the final path.
#pragma once
#include <cstddef>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace cc {

class AtomicFile {
 public:
  explicit AtomicFile(std::string path);  // creates PATH.tmp-<pid>
  ~AtomicFile();                           // removes the temp file unless commit() succeeded
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;

  void write(const void* data, size_t n);  // throws cc::Error (e.g. disk full) naming the path
  void write(std::string_view s) { write(s.data(), s.size()); }
  void commit();

 private:
  std::string path_, tmp_;
  int fd_ = -1;
  bool committed_ = false;
};

// Whole-file convenience.
void write_file_atomic(const std::string& path, std::string_view contents);
std::string read_file(const std::string& path);  // throws cc::Error naming the path
// create_directories with the usual one-line error (naming the folder and the reason) on failure.
void make_dirs(const std::string& dir);
// The entries of a folder, sorted, with the same kind of error (unreadable, not a folder).
std::vector<std::filesystem::path> list_dir(const std::string& dir);

}  // namespace cc
