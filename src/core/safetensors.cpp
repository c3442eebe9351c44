// safetensors reader/writer. The reader trusts nothing in the header.
#include "core/safetensors.hpp"

#include <algorithm>
#include <limits>
#include <stdexcept>

#include "core/atomic_file.hpp"
#include "core/error.hpp"

namespace cc {

std::string shape_str(const Shape& s) {
  std::string r = "[";
  for (size_t i = 0; i < s.size(); ++i) {
    if (i) r += ',';
    r += std::to_string(s[i]);
  }
  r += ']';
  return r;
}

int64_t shape_numel(const Shape& s) {
  int64_t n = 1;
  for (auto d : s) n *= d;
  return n;
}

static constexpr uint64_t kMaxHeader = 100ull << 20;  // the reference implementation's limit

SafetensorsFile::SafetensorsFile(const std::string& path) : map_(path) {
  const size_t fsize = map_.size();
  if (fsize < 8) fail(path, "", "truncated safetensors file: shorter than the 8-byte header length",
                      ">= 8 bytes", std::to_string(fsize) + " bytes");
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | uint64_t(uint8_t(map_.data()[i]));
  if (n > fsize - 8)
    fail(path, "", "safetensors header length reaches beyond the end of the file",
         "<= " + std::to_string(fsize - 8), std::to_string(n), "file truncated or not safetensors");
  if (n > kMaxHeader) fail(path, "", "safetensors header is implausibly large", "<= 100 MiB", std::to_string(n));
  const std::string header(reinterpret_cast<const char*>(map_.data() + 8), size_t(n));
  const Json h = parse_json(header, path + " (safetensors header)");
  if (!h.is_object()) fail(path, "", "safetensors header is not a JSON object");

  const size_t buf_begin = 8 + size_t(n);
  const size_t buf_size = fsize - buf_begin;
  std::vector<std::pair<size_t, size_t>> ranges;  // [begin,end) within the buffer
  std::vector<std::string> range_names;
  for (auto it = h.begin(); it != h.end(); ++it) {
    const std::string& name = it.key();
    const Json& v = it.value();
    if (name == "__metadata__") {
      metadata_ = v;
      continue;
    }
    if (!v.is_object() || !v.contains("dtype") || !v.contains("shape") || !v.contains("data_offsets"))
      fail(path, name, "header entry lacks dtype/shape/data_offsets");
    if (!v["dtype"].is_string()) fail(path, name, "dtype is not a string");
    auto dt = dtype_from_name(v["dtype"].get<std::string>());
    if (!dt) fail(path, name, "has an unsupported dtype", "F32, F16, BF16, F64, I32, I64 or U8", v["dtype"].dump());
    const Json& sh = v["shape"];
    if (!sh.is_array()) fail(path, name, "shape is not an array");
    Shape shape;
    int64_t numel = 1;
    for (const auto& d : sh) {
      if (!d.is_number_unsigned() && !(d.is_number_integer() && d.get<int64_t>() >= 0))
        fail(path, name, "shape has a non-integer or negative dimension", "", sh.dump());
      const int64_t di = d.get<int64_t>();
      if (di != 0 && numel > std::numeric_limits<int64_t>::max() / 8 / di)
        fail(path, name, "shape is too large", "", sh.dump());
      numel *= di;
      shape.push_back(di);
    }
    const Json& off = v["data_offsets"];
    if (!off.is_array() || off.size() != 2 || !off[0].is_number_unsigned() || !off[1].is_number_unsigned())
      fail(path, name, "data_offsets is not a pair of non-negative integers", "", off.dump());
    const uint64_t b = off[0].get<uint64_t>(), e = off[1].get<uint64_t>();
    if (b > e) fail(path, name, "data_offsets begin after they end", "", off.dump());
    if (e > buf_size)
      fail(path, name, "data_offsets reach past the end of the file", "end <= " + std::to_string(buf_size),
           std::to_string(e), "file truncated?");
    const uint64_t want = uint64_t(numel) * dtype_size(*dt);
    if (e - b != want)
      fail(path, name, "byte length disagrees with dtype and shape", std::to_string(want) + " bytes",
           std::to_string(e - b) + " bytes");
    ranges.emplace_back(size_t(b), size_t(e));
    range_names.push_back(name);
    tensors_[name] = TensorInfo{name, *dt, shape, buf_begin + size_t(b), size_t(e - b),
                                map_.data() + buf_begin + size_t(b)};
  }
  std::vector<size_t> order(ranges.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return ranges[a] < ranges[b]; });
  for (size_t k = 1; k < order.size(); ++k) {
    const auto& prev = ranges[order[k - 1]];
    const auto& cur = ranges[order[k]];
    if (cur.first < prev.second && cur.second > cur.first)
      fail(path, range_names[order[k]], "byte range overlaps tensor '" + range_names[order[k - 1]] + "'");
  }
}

const TensorInfo* SafetensorsFile::find(const std::string& name) const {
  auto it = tensors_.find(name);
  return it == tensors_.end() ? nullptr : &it->second;
}

void write_safetensors_streamed(const std::string& path, const std::vector<TensorToWrite>& tensors,
                                const std::map<std::string, std::string>& metadata,
                                const std::function<void(size_t, const ByteWriter&)>& fill) {
  Json h = Json::object();
  if (!metadata.empty()) h["__metadata__"] = metadata;
  size_t off = 0;
  for (const auto& t : tensors) {
    const size_t nb = size_t(shape_numel(t.shape)) * dtype_size(t.dtype);
    h[t.name] = {{"dtype", dtype_name(t.dtype)}, {"shape", t.shape}, {"data_offsets", {off, off + nb}}};
    off += nb;
  }
  std::string hs = h.dump();
  while ((hs.size() + 8) % 8 != 0) hs.push_back(' ');
  uint8_t len[8];
  uint64_t n = hs.size();
  for (int i = 0; i < 8; ++i) len[i] = uint8_t(n >> (8 * i));
  AtomicFile f(path);
  f.write(len, 8);
  f.write(hs);
  for (size_t i = 0; i < tensors.size(); ++i) {
    const size_t nb = size_t(shape_numel(tensors[i].shape)) * dtype_size(tensors[i].dtype);
    size_t written = 0;
    fill(i, [&](const void* data, size_t bytes) {
      if (written + bytes > nb) throw std::logic_error("write_safetensors_streamed: too many bytes for " + tensors[i].name);
      f.write(data, bytes);
      written += bytes;
    });
    if (written != nb) throw std::logic_error("write_safetensors_streamed: too few bytes for " + tensors[i].name);
  }
  f.commit();
}

void write_safetensors(const std::string& path, const std::vector<TensorToWrite>& tensors,
                       const std::map<std::string, std::string>& metadata) {
  write_safetensors_streamed(path, tensors, metadata, [&](size_t i, const ByteWriter& write) {
    write(tensors[i].data, size_t(shape_numel(tensors[i].shape)) * dtype_size(tensors[i].dtype));
  });
}

}  // namespace cc
