// Read-only memory map of a whole file (RAII). Checkpoint weights are used straight from the map.
#pragma once
#include <cstddef>
#include <string>

namespace cc {

class MappedFile {
 public:
  explicit MappedFile(const std::string& path);  // throws cc::Error naming the path
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;
  MappedFile(MappedFile&& o) noexcept;
  MappedFile& operator=(MappedFile&& o) noexcept;

  const std::byte* data() const { return data_; }
  size_t size() const { return size_; }
  const std::string& path() const { return path_; }

 private:
  void release();
  std::string path_;
  std::byte* data_ = nullptr;
  size_t size_ = 0;
};

}  // namespace cc
