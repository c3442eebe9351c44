// config.json parsing with HF transformers' defaults and our refusals.
#include "model/config.hpp"

#include <algorithm>
#include <filesystem>

#include "core/error.hpp"

namespace cc {

namespace {
void add_ids(const Json& v, std::vector<int64_t>& out, const std::string& origin, const char* key) {
  if (v.is_null()) return;
  if (v.is_number_integer()) {
    out.push_back(v.get<int64_t>());
  } else if (v.is_array()) {
    for (const auto& x : v) {
      if (!x.is_number_integer()) fail(origin, key, "has a non-integer entry", "integer ids", v.dump());
      out.push_back(x.get<int64_t>());
    }
  } else {
    fail(origin, key, "has wrong type", "an integer or list of integers", v.dump());
  }
}
}  // namespace

Qwen2Config parse_qwen2_config(const Json& j, const std::string& origin) {
  if (!j.is_object()) fail(origin, "", "config is not a JSON object");
  Qwen2Config c;
  c.source = origin;
  const std::string mt = json_get<std::string>(j, "model_type", origin);
  if (mt != "qwen2")
    fail(origin, "model_type", "is not supported", "\"qwen2\"", "\"" + mt + "\"",
         "only the Qwen2 family (Qwen2, Qwen2.5, R1-Distill-Qwen) is implemented");
  c.vocab_size = json_get<int64_t>(j, "vocab_size", origin);
  c.hidden_size = json_get<int64_t>(j, "hidden_size", origin);
  c.intermediate_size = json_get<int64_t>(j, "intermediate_size", origin);
  c.num_hidden_layers = json_get<int64_t>(j, "num_hidden_layers", origin);
  c.num_attention_heads = json_get<int64_t>(j, "num_attention_heads", origin);
  c.num_key_value_heads = json_get_or<int64_t>(j, "num_key_value_heads", c.num_attention_heads, origin);
  c.rms_norm_eps = json_get_or<double>(j, "rms_norm_eps", 1e-6, origin);
  c.rope_theta = json_get_or<double>(j, "rope_theta", 10000.0, origin);
  c.tie_word_embeddings = json_get_or<bool>(j, "tie_word_embeddings", false, origin);
  c.max_position_embeddings = json_get_or<int64_t>(j, "max_position_embeddings", 32768, origin);
  c.bos_token_id = json_get_or<int64_t>(j, "bos_token_id", -1, origin);
  c.torch_dtype = json_get_or<std::string>(j, "torch_dtype", "", origin);
  if (j.contains("eos_token_id")) add_ids(j["eos_token_id"], c.eos_token_ids, origin, "eos_token_id");

  auto positive = [&](const char* k, int64_t v) {
    if (v <= 0) fail(origin, k, "must be positive", "> 0", std::to_string(v));
  };
  positive("vocab_size", c.vocab_size);
  positive("hidden_size", c.hidden_size);
  positive("intermediate_size", c.intermediate_size);
  positive("num_hidden_layers", c.num_hidden_layers);
  positive("num_attention_heads", c.num_attention_heads);
  positive("num_key_value_heads", c.num_key_value_heads);
  positive("max_position_embeddings", c.max_position_embeddings);
  if (c.rms_norm_eps <= 0) fail(origin, "rms_norm_eps", "must be positive", "> 0", std::to_string(c.rms_norm_eps));
  if (c.rope_theta <= 0) fail(origin, "rope_theta", "must be positive", "> 0", std::to_string(c.rope_theta));
  if (c.num_attention_heads % c.num_key_value_heads != 0)
    fail(origin, "num_key_value_heads", "must divide num_attention_heads",
         "a divisor of " + std::to_string(c.num_attention_heads), std::to_string(c.num_key_value_heads));
  if (j.contains("head_dim") && !j["head_dim"].is_null()) {
    c.head_dim = json_get<int64_t>(j, "head_dim", origin);
    positive("head_dim", c.head_dim);
  } else {
    if (c.hidden_size % c.num_attention_heads != 0)
      fail(origin, "hidden_size", "is not a multiple of num_attention_heads and no head_dim is given");
    c.head_dim = c.hidden_size / c.num_attention_heads;
  }
  if (c.head_dim % 2 != 0) fail(origin, "head_dim", "must be even for RoPE", "even", std::to_string(c.head_dim));

  const std::string act = json_get_or<std::string>(j, "hidden_act", "silu", origin);
  if (act != "silu") fail(origin, "hidden_act", "is not supported", "\"silu\"", "\"" + act + "\"");
  if (j.contains("rope_scaling") && !j["rope_scaling"].is_null()) {
    const Json& rs = j["rope_scaling"];
    const std::string type = rs.is_object() ? rs.value("rope_type", rs.value("type", std::string())) : "";
    if (type != "default")
      fail(origin, "rope_scaling", "is not supported (only plain RoPE is implemented)", "null", rs.dump());
  }
  // HF Qwen2 uses a sliding window on layers >= max_window_layers only when use_sliding_window is true.
  const bool use_sw = json_get_or<bool>(j, "use_sliding_window", false, origin);
  if (use_sw) {
    const int64_t mwl = json_get_or<int64_t>(j, "max_window_layers", c.num_hidden_layers, origin);
    if (mwl < c.num_hidden_layers)
      fail(origin, "use_sliding_window", "is true with layers past max_window_layers; sliding-window attention is not implemented",
           "false", "true");
  }
  if (j.contains("layer_types") && j["layer_types"].is_array()) {
    for (const auto& t : j["layer_types"])
      if (t != "full_attention")
        fail(origin, "layer_types", "contains a layer type other than full_attention", "\"full_attention\"", t.dump());
  }
  return c;
}

Qwen2Config load_qwen2_config(const std::string& dir) {
  namespace fs = std::filesystem;
  const std::string cfg = (fs::path(dir) / "config.json").string();
  if (!fs::exists(cfg)) fail(cfg, "", "not found", "", "", "a model directory needs a Hugging Face config.json");
  Qwen2Config c = parse_qwen2_config(read_json_file(cfg), cfg);
  const std::string gen = (fs::path(dir) / "generation_config.json").string();
  if (fs::exists(gen)) {
    Json g = read_json_file(gen);
    if (!g.is_object()) fail(gen, "", "is not a JSON object");
    if (g.contains("eos_token_id")) add_ids(g["eos_token_id"], c.eos_token_ids, gen, "eos_token_id");
    if (c.bos_token_id < 0) c.bos_token_id = json_get_or<int64_t>(g, "bos_token_id", -1, gen);
  }
  std::sort(c.eos_token_ids.begin(), c.eos_token_ids.end());
  c.eos_token_ids.erase(std::unique(c.eos_token_ids.begin(), c.eos_token_ids.end()), c.eos_token_ids.end());
  for (auto id : c.eos_token_ids)
    if (id < 0 || id >= c.vocab_size) fail(cfg, "eos_token_id", "is outside the vocabulary", "< " + std::to_string(c.vocab_size), std::to_string(id));
  return c;
}

Json qwen2_config_to_json(const Qwen2Config& c) {
  Json j = {{"architectures", {"Qwen2ForCausalLM"}},
            {"model_type", "qwen2"},
            {"vocab_size", c.vocab_size},
            {"hidden_size", c.hidden_size},
            {"intermediate_size", c.intermediate_size},
            {"num_hidden_layers", c.num_hidden_layers},
            {"num_attention_heads", c.num_attention_heads},
            {"num_key_value_heads", c.num_key_value_heads},
            {"rms_norm_eps", c.rms_norm_eps},
            {"rope_theta", c.rope_theta},
            {"tie_word_embeddings", c.tie_word_embeddings},
            {"max_position_embeddings", c.max_position_embeddings},
            {"hidden_act", "silu"},
            {"use_sliding_window", false},
            {"sliding_window", c.max_position_embeddings},
            {"max_window_layers", c.num_hidden_layers},
            {"attention_dropout", 0.0},
            {"torch_dtype", c.torch_dtype.empty() ? "bfloat16" : c.torch_dtype}};
  if (c.head_dim != c.hidden_size / c.num_attention_heads) j["head_dim"] = c.head_dim;
  if (c.bos_token_id >= 0) j["bos_token_id"] = c.bos_token_id;
  if (c.eos_token_ids.size() == 1) j["eos_token_id"] = c.eos_token_ids[0];
  else if (!c.eos_token_ids.empty()) j["eos_token_id"] = c.eos_token_ids;
  return j;
}

}  // namespace cc
