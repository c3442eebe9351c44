// Qwen2ForCausalLM parameter list as HF transformers names it.
#include "model/tensor_manifest.hpp"

namespace cc {

std::vector<TensorSpec> qwen2_tensor_manifest(const Qwen2Config& c) {
  const int64_t d = c.hidden_size, q = c.q_dim(), kv = c.kv_dim(), I = c.intermediate_size;
  std::vector<TensorSpec> m;
  m.push_back({"model.embed_tokens.weight", {c.vocab_size, d}, TensorRole::Embedding, -1});
  for (int l = 0; l < int(c.num_hidden_layers); ++l) {
    const std::string p = "model.layers." + std::to_string(l) + ".";
    m.push_back({p + "input_layernorm.weight", {d}, TensorRole::Norm, l});
    m.push_back({p + "self_attn.q_proj.weight", {q, d}, TensorRole::Matrix, l});
    m.push_back({p + "self_attn.q_proj.bias", {q}, TensorRole::Bias, l});
    m.push_back({p + "self_attn.k_proj.weight", {kv, d}, TensorRole::Matrix, l});
    m.push_back({p + "self_attn.k_proj.bias", {kv}, TensorRole::Bias, l});
    m.push_back({p + "self_attn.v_proj.weight", {kv, d}, TensorRole::Matrix, l});
    m.push_back({p + "self_attn.v_proj.bias", {kv}, TensorRole::Bias, l});
    m.push_back({p + "self_attn.o_proj.weight", {d, q}, TensorRole::Matrix, l});
    m.push_back({p + "post_attention_layernorm.weight", {d}, TensorRole::Norm, l});
    m.push_back({p + "mlp.gate_proj.weight", {I, d}, TensorRole::Matrix, l});
    m.push_back({p + "mlp.up_proj.weight", {I, d}, TensorRole::Matrix, l});
    m.push_back({p + "mlp.down_proj.weight", {d, I}, TensorRole::Matrix, l});
  }
  m.push_back({"model.norm.weight", {d}, TensorRole::Norm, -1});
  if (!c.tie_word_embeddings) m.push_back({"lm_head.weight", {c.vocab_size, d}, TensorRole::Matrix, -1});
  return m;
}

bool is_ignorable_tensor(const std::string& n) {
  const std::string suffix = "rotary_emb.inv_freq";
  return n.size() >= suffix.size() && n.compare(n.size() - suffix.size(), suffix.size(), suffix) == 0;
}

}  // namespace cc
