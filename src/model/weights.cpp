// Checkpoint loading driven by the tensor manifest.
#include "model/weights.hpp"

#include <filesystem>
#include <map>
#include <set>

#include "core/error.hpp"
#include "core/finite.hpp"
#include "core/parallel.hpp"
#include "model/tensor_manifest.hpp"

namespace cc {

namespace fs = std::filesystem;

ComputeMode compute_mode_from_name(const std::string& s) {
  if (s == "f32") return ComputeMode::F32;
  if (s == "bf16") return ComputeMode::BF16;
  if (s == "bf16-act") return ComputeMode::BF16Act;
  fail("", "--dtype", "is not a compute mode", "f32, bf16 or bf16-act", s);
}

const char* compute_mode_name(ComputeMode m) {
  switch (m) {
    case ComputeMode::F32: return "f32";
    case ComputeMode::BF16: return "bf16";
    case ComputeMode::BF16Act: return "bf16-act";
  }
  return "?";
}

namespace {

using Located = CheckpointTensor;

}  // namespace

std::map<std::string, CheckpointTensor> open_checkpoint_tensors(const std::string& dir, std::vector<std::unique_ptr<SafetensorsFile>>& files) {
  std::map<std::string, Located> where;
  const fs::path index = fs::path(dir) / "model.safetensors.index.json";
  const fs::path single = fs::path(dir) / "model.safetensors";
  if (fs::exists(index)) {
    const std::string ip = index.string();
    Json j = read_json_file(ip);
    if (!j.is_object() || !j.contains("weight_map") || !j["weight_map"].is_object())
      fail(ip, "weight_map", "is missing or not an object");
    std::map<std::string, const SafetensorsFile*> shard_of;
    for (auto it = j["weight_map"].begin(); it != j["weight_map"].end(); ++it) {
      if (!it.value().is_string()) fail(ip, it.key(), "weight_map entry is not a file name");
      const std::string shard = it.value().get<std::string>();
      if (shard.find('/') != std::string::npos || shard == "..")
        fail(ip, it.key(), "weight_map names a file outside the model directory", "a file name", shard);
      if (!shard_of.count(shard)) {
        files.push_back(std::make_unique<SafetensorsFile>((fs::path(dir) / shard).string()));
        shard_of[shard] = files.back().get();
      }
      const SafetensorsFile* f = shard_of[shard];
      const TensorInfo* t = f->find(it.key());
      if (!t) fail(f->path(), it.key(), "is listed in model.safetensors.index.json but not in this shard");
      where[it.key()] = {t, f};
    }
    for (const auto& [shard, f] : shard_of)
      for (const auto& [name, t] : f->tensors())
        if (!where.count(name) && !is_ignorable_tensor(name))
          fail(f->path(), name, "is in the shard but not in model.safetensors.index.json's weight_map");
  } else if (fs::exists(single)) {
    files.push_back(std::make_unique<SafetensorsFile>(single.string()));
    for (const auto& [name, t] : files.back()->tensors()) where[name] = {&t, files.back().get()};
  } else {
    fail(dir, "", "has neither model.safetensors nor model.safetensors.index.json");
  }
  return where;
}

namespace {

std::vector<float> to_f32_vector(const Located& l) {
  std::vector<float> v(size_t(l.info->numel()));
  convert_to_f32(l.info->dtype, l.info->data, v.data(), v.size());
  return v;
}

WeightMatrix make_matrix(const Located& l, ComputeMode mode, Qwen2Weights& w) {
  const TensorInfo& t = *l.info;
  WeightMatrix m;
  m.rows = t.shape[0];
  m.cols = t.shape[1];
  const size_t n = size_t(t.numel());
  const bool aligned = reinterpret_cast<uintptr_t>(t.data) % dtype_size(t.dtype) == 0;
  if (mode != ComputeMode::F32) {
    m.dtype = DType::BF16;
    m.bf16_inputs = mode == ComputeMode::BF16Act;
    if (t.dtype == DType::BF16 && aligned) {
      m.data = t.data;  // zero-copy: the page cache holds it
      w.mapped_bytes += t.nbytes;
      return m;
    }
    std::vector<uint16_t> buf(n);
    parallel_for(int64_t(n), 1 << 16, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) {
        float f;
        convert_to_f32(t.dtype, t.data + size_t(i) * dtype_size(t.dtype), &f, 1);
        buf[size_t(i)] = f32_to_bf16(f);
      }
    });
    w.resident_bytes += n * 2;
    w.owned_bf16.push_back(std::move(buf));
    m.data = w.owned_bf16.back().data();
    return m;
  }
  m.dtype = DType::F32;
  std::vector<float> buf(n);
  parallel_for(int64_t(n), 1 << 16, [&](int64_t b, int64_t e) {
    convert_to_f32(t.dtype, t.data + size_t(b) * dtype_size(t.dtype), buf.data() + b, size_t(e - b));
  });
  w.resident_bytes += n * 4;
  w.owned_f32.push_back(std::move(buf));
  m.data = w.owned_f32.back().data();
  return m;
}

}  // namespace

std::unique_ptr<Qwen2Weights> load_qwen2_weights(const std::string& dir, ComputeMode mode) {
  auto w = std::make_unique<Qwen2Weights>();
  w->config = load_qwen2_config(dir);
  w->mode = mode;
  const Qwen2Config& c = w->config;
  auto where = open_checkpoint_tensors(dir, w->files);

  std::map<std::string, Located> found;
  for (const TensorSpec& s : qwen2_tensor_manifest(c)) {
    auto it = where.find(s.hf_name);
    if (it == where.end())
      fail(dir, s.hf_name, "is missing from the checkpoint", shape_str(s.shape), "nothing",
           s.hf_name == "lm_head.weight" ? "config.json says tie_word_embeddings=false" : "");
    const TensorInfo& t = *it->second.info;
    const std::string& file = it->second.file->path();
    if (t.dtype != DType::F32 && t.dtype != DType::F16 && t.dtype != DType::BF16)
      fail(file, s.hf_name, "has an unsupported dtype", "F32, F16 or BF16", dtype_name(t.dtype));
    if (t.shape != s.shape) fail(file, s.hf_name, "has wrong shape", shape_str(s.shape), shape_str(t.shape),
                                 "does config.json belong to these weights?");
    found[s.hf_name] = it->second;
    where.erase(it);
  }
  for (const auto& [name, l] : where) {
    if (is_ignorable_tensor(name)) continue;
    fail(l.file->path(), name, "is not a Qwen2 parameter this config expects (unused tensor)", "", "",
         name == "lm_head.weight" ? "config.json says tie_word_embeddings=true" : "wrong model type or config?");
  }

  // A NaN or Inf in a checkpoint is a corrupt download or a broken conversion: name it here rather
  // than let it surface as NaN logits (a raw-bit scan, ~21 GB/s per thread: docs/RELIABILITY.md).
  for (const auto& [name, l] : found)
    check_finite(l.info->dtype, l.info->data, l.info->shape, l.file->path(), name, "",
                 "the checkpoint is corrupt: re-download or re-convert it");

  w->embed = make_matrix(found.at("model.embed_tokens.weight"), mode, *w);
  w->layers.resize(size_t(c.num_hidden_layers));
  for (int l = 0; l < int(c.num_hidden_layers); ++l) {
    const std::string p = "model.layers." + std::to_string(l) + ".";
    LayerWeights& L = w->layers[size_t(l)];
    auto mat = [&](const char* n) { return make_matrix(found.at(p + n), mode, *w); };
    auto vec = [&](const char* n) { return to_f32_vector(found.at(p + n)); };
    L.ln1 = vec("input_layernorm.weight");
    L.ln2 = vec("post_attention_layernorm.weight");
    L.q = mat("self_attn.q_proj.weight");
    L.k = mat("self_attn.k_proj.weight");
    L.v = mat("self_attn.v_proj.weight");
    L.o = mat("self_attn.o_proj.weight");
    L.q_bias = vec("self_attn.q_proj.bias");
    L.k_bias = vec("self_attn.k_proj.bias");
    L.v_bias = vec("self_attn.v_proj.bias");
    L.gate = mat("mlp.gate_proj.weight");
    L.up = mat("mlp.up_proj.weight");
    L.down = mat("mlp.down_proj.weight");
  }
  w->final_norm = to_f32_vector(found.at("model.norm.weight"));
  w->lm_head = c.tie_word_embeddings ? w->embed : make_matrix(found.at("lm_head.weight"), mode, *w);
  return w;
}

}  // namespace cc
