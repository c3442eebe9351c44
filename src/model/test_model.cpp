// Random checkpoint writer, driven by the tensor manifest.
#include "model/test_model.hpp"

#include <cmath>
#include <cstring>
#include <map>
#include <filesystem>
#include <random>
#include <vector>

#include "core/atomic_file.hpp"
#include "core/error.hpp"
#include "core/safetensors.hpp"
#include "model/tensor_manifest.hpp"

namespace cc {

namespace fs = std::filesystem;

void write_test_model(const std::string& dir, const TestModelSpec& spec) {
  if (spec.dtype != DType::F32 && spec.dtype != DType::F16 && spec.dtype != DType::BF16)
    fail(dir, "dtype", "is not a weight dtype", "F32, F16 or BF16", dtype_name(spec.dtype));
  if (spec.shards < 1) fail(dir, "shards", "must be >= 1", ">= 1", std::to_string(spec.shards));
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) fail(dir, "", "cannot create directory: " + ec.message());
  // Round-trip through the parser so what we write is exactly what we accept.
  const Qwen2Config& c = parse_qwen2_config(qwen2_config_to_json(spec.config), dir + "/config.json");

  const auto manifest = qwen2_tensor_manifest(c);
  std::mt19937_64 rng(spec.seed);
  std::normal_distribution<float> normal(0.f, 1.f);
  std::vector<std::vector<uint8_t>> bufs;
  for (const TensorSpec& s : manifest) {
    const size_t n = size_t(shape_numel(s.shape));
    std::vector<float> v(n);
    float scale = 1.f, offset = 0.f;
    switch (s.role) {
      case TensorRole::Matrix: scale = float(spec.init_scale / std::sqrt(double(s.shape[1]))); break;
      case TensorRole::Embedding: scale = 1.f; break;
      case TensorRole::Norm: scale = 0.1f; offset = 1.f; break;
      case TensorRole::Bias: scale = 0.1f; break;
    }
    for (auto& x : v) x = offset + scale * normal(rng);
    std::vector<uint8_t> raw(n * dtype_size(spec.dtype));
    if (spec.dtype == DType::F32) {
      std::memcpy(raw.data(), v.data(), n * 4);
    } else {
      auto* o = reinterpret_cast<uint16_t*>(raw.data());
      for (size_t i = 0; i < n; ++i) o[i] = spec.dtype == DType::BF16 ? f32_to_bf16(v[i]) : f32_to_f16(v[i]);
    }
    bufs.push_back(std::move(raw));
  }

  const int n_shards = std::min<int>(spec.shards, int(manifest.size()));
  const std::map<std::string, std::string> meta = {{"format", "pt"}};
  if (n_shards == 1) {
    std::vector<TensorToWrite> t;
    for (size_t i = 0; i < manifest.size(); ++i) t.push_back({manifest[i].hf_name, spec.dtype, manifest[i].shape, bufs[i].data()});
    write_safetensors((fs::path(dir) / "model.safetensors").string(), t, meta);
  } else {
    Json weight_map = Json::object();
    size_t total = 0;
    for (int s = 0; s < n_shards; ++s) {
      char name[64];
      std::snprintf(name, sizeof name, "model-%05d-of-%05d.safetensors", s + 1, n_shards);
      std::vector<TensorToWrite> t;
      for (size_t i = manifest.size() * size_t(s) / size_t(n_shards); i < manifest.size() * size_t(s + 1) / size_t(n_shards); ++i) {
        t.push_back({manifest[i].hf_name, spec.dtype, manifest[i].shape, bufs[i].data()});
        weight_map[manifest[i].hf_name] = name;
        total += bufs[i].size();
      }
      write_safetensors((fs::path(dir) / name).string(), t, meta);
    }
    Json index = {{"metadata", {{"total_size", total}}}, {"weight_map", weight_map}};
    write_file_atomic((fs::path(dir) / "model.safetensors.index.json").string(), index.dump(2));
  }
  write_file_atomic((fs::path(dir) / "config.json").string(), qwen2_config_to_json(c).dump(2));
  Json gen = {{"do_sample", false}};
  if (c.bos_token_id >= 0) gen["bos_token_id"] = c.bos_token_id;
  if (!c.eos_token_ids.empty()) gen["eos_token_id"] = c.eos_token_ids;
  write_file_atomic((fs::path(dir) / "generation_config.json").string(), gen.dump(2));
}

}  // namespace cc
