// Checkpoint directory validation: config refusals and tensors that disagree with the config.
#include <filesystem>
#include <fstream>

#include "core/atomic_file.hpp"
#include "core/safetensors.hpp"
#include "model/weights.hpp"
#include "test_util.hpp"

namespace cc {
namespace {

using test::expect_error;
using test::make_model;
using test::SmallModel;
using test::TempDir;

Json base_config() {
  return Json::parse(R"({"model_type":"qwen2","vocab_size":100,"hidden_size":32,"intermediate_size":64,
    "num_hidden_layers":2,"num_attention_heads":4,"num_key_value_heads":2,"rms_norm_eps":1e-6,
    "rope_theta":10000.0,"max_position_embeddings":512,"hidden_act":"silu","use_sliding_window":false,
    "sliding_window":4096,"max_window_layers":21,"rope_scaling":null})");
}

TEST(Config, ParsesDefaultsAndHeadDim) {
  Qwen2Config c = parse_qwen2_config(base_config(), "config.json");
  EXPECT_EQ(c.head_dim, 8);
  EXPECT_EQ(c.kv_dim(), 16);
  EXPECT_FALSE(c.tie_word_embeddings);
  Json j = base_config();
  j["head_dim"] = 16;
  EXPECT_EQ(parse_qwen2_config(j, "config.json").q_dim(), 64);
}

TEST(Config, RefusesWhatWeDoNotImplement) {
  Json j = base_config();
  j["model_type"] = "llama";
  expect_error([&] { parse_qwen2_config(j, "m/config.json"); }, {"m/config.json", "model_type", "llama"});
  j = base_config();
  j["rope_scaling"] = {{"type", "yarn"}, {"factor", 4.0}};
  expect_error([&] { parse_qwen2_config(j, "m/config.json"); }, {"rope_scaling", "yarn"});
  j = base_config();
  j["use_sliding_window"] = true;
  j["max_window_layers"] = 1;
  expect_error([&] { parse_qwen2_config(j, "m/config.json"); }, {"use_sliding_window"});
  j["max_window_layers"] = 2;  // sliding window enabled but applies to no layer: accepted
  EXPECT_NO_THROW(parse_qwen2_config(j, "m/config.json"));
  j = base_config();
  j["hidden_act"] = "gelu";
  expect_error([&] { parse_qwen2_config(j, "m/config.json"); }, {"hidden_act", "gelu"});
  j = base_config();
  j["num_key_value_heads"] = 3;
  expect_error([&] { parse_qwen2_config(j, "m/config.json"); }, {"num_key_value_heads", "divide"});
  j = base_config();
  j.erase("hidden_size");
  expect_error([&] { parse_qwen2_config(j, "m/config.json"); }, {"hidden_size", "missing"});
  j = base_config();
  j["vocab_size"] = "many";
  expect_error([&] { parse_qwen2_config(j, "m/config.json"); }, {"vocab_size", "wrong type"});
}

TEST(Config, MalformedJsonFile) {
  TempDir d;
  make_model(d.str(), SmallModel{});
  write_file_atomic(d / "config.json", "{\"model_type\": \"qwen2\",");
  expect_error([&] { load_qwen2_weights(d.str(), ComputeMode::F32); }, {"config.json", "malformed JSON"});
}

// Rewrites model.safetensors with `edit` applied to the tensor list.
void rewrite(const std::string& dir, const std::function<void(std::vector<TensorToWrite>&, std::vector<std::vector<uint8_t>>&)>& edit) {
  std::vector<TensorToWrite> ts;
  std::vector<std::vector<uint8_t>> keep;
  {
    SafetensorsFile f(dir + "/model.safetensors");
    for (const auto& [n, t] : f.tensors()) {
      keep.emplace_back(reinterpret_cast<const uint8_t*>(t.data), reinterpret_cast<const uint8_t*>(t.data) + t.nbytes);
      ts.push_back({n, t.dtype, t.shape, nullptr});
    }
  }
  for (size_t i = 0; i < ts.size(); ++i) ts[i].data = keep[i].data();
  edit(ts, keep);
  write_safetensors(dir + "/model.safetensors", ts);
}

TEST(Weights, MissingTensor) {
  TempDir d;
  make_model(d.str(), SmallModel{});
  rewrite(d.str(), [](auto& ts, auto&) {
    std::erase_if(ts, [](const TensorToWrite& t) { return t.name == "model.layers.1.mlp.up_proj.weight"; });
  });
  expect_error([&] { load_qwen2_weights(d.str(), ComputeMode::F32); }, {"model.layers.1.mlp.up_proj.weight", "missing"});
}

TEST(Weights, UnexpectedTensor) {
  TempDir d;
  make_model(d.str(), SmallModel{});
  static float extra[2] = {1, 2};
  rewrite(d.str(), [](auto& ts, auto&) { ts.push_back({"model.layers.0.mystery.weight", DType::F32, {2}, extra}); });
  expect_error([&] { load_qwen2_weights(d.str(), ComputeMode::F32); }, {"model.safetensors", "model.layers.0.mystery.weight", "unused"});
}

TEST(Weights, LmHeadPresentButTied) {
  TempDir d;
  SmallModel m;
  make_model(d.str(), m);
  Json c = read_json_file(d / "config.json");
  c["tie_word_embeddings"] = true;
  write_file_atomic(d / "config.json", c.dump());
  expect_error([&] { load_qwen2_weights(d.str(), ComputeMode::F32); }, {"lm_head.weight", "tie_word_embeddings=true"});
}

TEST(Weights, WrongShapeNamesExpectedAndGot) {
  TempDir d;
  make_model(d.str(), SmallModel{});
  Json c = read_json_file(d / "config.json");
  c["intermediate_size"] = 40;
  write_file_atomic(d / "config.json", c.dump());
  expect_error([&] { load_qwen2_weights(d.str(), ComputeMode::F32); },
               {"model.safetensors", "mlp.gate_proj.weight", "wrong shape", "[40,32]", "[48,32]"});
}

TEST(Weights, WrongDtype) {
  TempDir d;
  make_model(d.str(), SmallModel{});
  rewrite(d.str(), [](auto& ts, auto&) {
    for (auto& t : ts)
      if (t.name == "model.norm.weight") t.dtype = DType::I32;
  });
  expect_error([&] { load_qwen2_weights(d.str(), ComputeMode::F32); }, {"model.norm.weight", "dtype", "I32"});
}

TEST(Weights, NoWeightsFile) {
  TempDir d;
  make_model(d.str(), SmallModel{});
  std::filesystem::remove(d / "model.safetensors");
  expect_error([&] { load_qwen2_weights(d.str(), ComputeMode::F32); }, {"neither model.safetensors"});
}

TEST(Weights, ShardIndexProblems) {
  TempDir d;
  SmallModel m;
  m.shards = 3;
  make_model(d.str(), m);
  EXPECT_NO_THROW(load_qwen2_weights(d.str(), ComputeMode::BF16));
  Json idx = read_json_file(d / "model.safetensors.index.json");
  Json bad = idx;
  bad["weight_map"]["model.norm.weight"] = "model-00001-of-00003.safetensors";
  write_file_atomic(d / "model.safetensors.index.json", bad.dump());
  expect_error([&] { load_qwen2_weights(d.str(), ComputeMode::F32); }, {"model-00001-of-00003.safetensors", "model.norm.weight", "not in this shard"});
  bad = idx;
  bad["weight_map"].erase("model.norm.weight");
  write_file_atomic(d / "model.safetensors.index.json", bad.dump());
  expect_error([&] { load_qwen2_weights(d.str(), ComputeMode::F32); }, {"model.norm.weight", "not in model.safetensors.index.json"});
  bad = idx;
  bad["weight_map"]["model.norm.weight"] = "../../etc/passwd";
  write_file_atomic(d / "model.safetensors.index.json", bad.dump());
  expect_error([&] { load_qwen2_weights(d.str(), ComputeMode::F32); }, {"outside the model directory"});
  write_file_atomic(d / "model.safetensors.index.json", "[1,2");
  expect_error([&] { load_qwen2_weights(d.str(), ComputeMode::F32); }, {"model.safetensors.index.json", "malformed JSON"});
}

TEST(Weights, TruncatedShardIsReported) {
  TempDir d;
  make_model(d.str(), SmallModel{});
  std::filesystem::resize_file(d / "model.safetensors", std::filesystem::file_size(d / "model.safetensors") - 100);
  expect_error([&] { load_qwen2_weights(d.str(), ComputeMode::F32); }, {"model.safetensors", "past the end"});
}

TEST(Weights, MemoryAccounting) {
  TempDir d;
  SmallModel m;
  m.dtype = DType::BF16;
  make_model(d.str(), m);
  auto f32 = load_qwen2_weights(d.str(), ComputeMode::F32);
  auto b16 = load_qwen2_weights(d.str(), ComputeMode::BF16);
  const size_t params = size_t(m.vocab * m.d * 2 + m.layers * (m.d * 32 * 2 + m.d * 16 * 2 + 3 * m.d * m.mlp));
  EXPECT_EQ(f32->resident_bytes, params * 4);
  EXPECT_EQ(b16->resident_bytes + b16->mapped_bytes, params * 2);
}

}  // namespace
}  // namespace cc
