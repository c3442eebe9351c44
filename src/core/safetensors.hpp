// safetensors files: a validated, memory-mapped reader and an atomic writer.
// Format: u64 little-endian header length N, N bytes of JSON {name: {dtype, shape, data_offsets}},
// then the byte buffer; offsets are relative to the start of the buffer.
#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/dtype.hpp"
#include "core/json_file.hpp"
#include "core/mapped_file.hpp"

namespace cc {

using Shape = std::vector<int64_t>;
std::string shape_str(const Shape& s);  // "[1536,256]"
int64_t shape_numel(const Shape& s);

struct TensorInfo {
  std::string name;
  DType dtype;
  Shape shape;
  size_t offset;  // absolute byte offset in the file
  size_t nbytes;
  const std::byte* data;  // points into the map
  int64_t numel() const { return shape_numel(shape); }
};

class SafetensorsFile {
 public:
  // Maps and validates the whole header: length within the file, JSON, known dtypes, byte counts
  // matching shapes, ranges inside the buffer and not overlapping. Throws cc::Error naming path.
  explicit SafetensorsFile(const std::string& path);

  const std::string& path() const { return map_.path(); }
  const std::map<std::string, TensorInfo>& tensors() const { return tensors_; }
  const TensorInfo* find(const std::string& name) const;
  const Json& metadata() const { return metadata_; }

 private:
  MappedFile map_;
  std::map<std::string, TensorInfo> tensors_;
  Json metadata_;
};

struct TensorToWrite {
  std::string name;
  DType dtype;
  Shape shape;
  const void* data;  // numel * dtype_size bytes
};

// Writes atomically (temp + rename). Tensors are laid out in the given order, 8-byte aligned header.
void write_safetensors(const std::string& path, const std::vector<TensorToWrite>& tensors,
                       const std::map<std::string, std::string>& metadata = {});

// The same file with each tensor's bytes produced in pieces: fill(i, write) calls write(data, n)
// until tensor i's numel * dtype_size bytes are out (`data` of TensorToWrite is not read). For files
// no process holds whole, e.g. a checkpoint whose slices arrive from other MPI ranks.
using ByteWriter = std::function<void(const void*, size_t)>;
void write_safetensors_streamed(const std::string& path, const std::vector<TensorToWrite>& tensors,
                                const std::map<std::string, std::string>& metadata,
                                const std::function<void(size_t, const ByteWriter&)>& fill);

}  // namespace cc
