// Forward with saved activations and the backward of the Qwen2 block stack:
//   x → rmsnorm → q/k/v (+bias) → RoPE → causal GQA → o_proj (+x) → rmsnorm → SwiGLU → down (+) → … → norm → lm_head.
#include "organism/train_model.hpp"

#include <cmath>
#include <cstring>
#include <filesystem>
#include <random>

#include "core/atomic_file.hpp"
#include "core/error.hpp"
#include "core/safetensors.hpp"
#include "model/layers.hpp"
#include "model/layers_backward.hpp"
#include "model/linear.hpp"
#include "model/weights.hpp"

namespace cc {

namespace fs = std::filesystem;

TrainParams TrainParams::zeros(const Qwen2Config& c) {
  if (c.tie_word_embeddings) fail(c.source, "tie_word_embeddings", "must be false for a trained organism (it keeps lm_head apart)");
  TrainParams p;
  p.config = c;
  p.manifest = qwen2_tensor_manifest(c);
  for (const auto& s : p.manifest) p.t.emplace_back(size_t(shape_numel(s.shape)), 0.f);
  p.layers.resize(size_t(c.num_hidden_layers));
  for (size_t i = 0; i < p.manifest.size(); ++i) {
    const std::string& n = p.manifest[i].hf_name;
    const int l = p.manifest[i].layer;
    auto ends = [&](const char* s) { return n.size() >= std::strlen(s) && n.compare(n.size() - std::strlen(s), std::string::npos, s) == 0; };
    if (l < 0) {
      if (n == "model.embed_tokens.weight") p.embed = i;
      else if (n == "model.norm.weight") p.final_norm = i;
      else if (n == "lm_head.weight") p.lm_head = i;
      continue;
    }
    Layer& L = p.layers[size_t(l)];
    if (ends("input_layernorm.weight")) L.ln1 = i;
    else if (ends("q_proj.weight")) L.q = i;
    else if (ends("q_proj.bias")) L.qb = i;
    else if (ends("k_proj.weight")) L.k = i;
    else if (ends("k_proj.bias")) L.kb = i;
    else if (ends("v_proj.weight")) L.v = i;
    else if (ends("v_proj.bias")) L.vb = i;
    else if (ends("o_proj.weight")) L.o = i;
    else if (ends("post_attention_layernorm.weight")) L.ln2 = i;
    else if (ends("gate_proj.weight")) L.gate = i;
    else if (ends("up_proj.weight")) L.up = i;
    else if (ends("down_proj.weight")) L.down = i;
  }
  return p;
}

TrainParams TrainParams::init(const Qwen2Config& c, uint64_t seed) {
  TrainParams p = zeros(c);
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> n(0.f, 0.02f);
  const float resid_scale = 1.f / std::sqrt(2.f * float(c.num_hidden_layers));
  for (size_t i = 0; i < p.manifest.size(); ++i) {
    const TensorSpec& s = p.manifest[i];
    auto& v = p.t[i];
    const bool resid = s.hf_name.find("o_proj") != std::string::npos || s.hf_name.find("down_proj") != std::string::npos;
    switch (s.role) {
      case TensorRole::Norm: std::fill(v.begin(), v.end(), 1.f); break;
      case TensorRole::Bias: break;
      case TensorRole::Embedding:
      case TensorRole::Matrix:
        for (auto& x : v) x = n(rng) * (resid ? resid_scale : 1.f);
        break;
    }
  }
  return p;
}

void TrainParams::zero() {
  for (auto& v : t) std::fill(v.begin(), v.end(), 0.f);
}

size_t TrainParams::numel() const {
  size_t n = 0;
  for (const auto& v : t) n += v.size();
  return n;
}

void save_train_params(const std::string& dir, const TrainParams& p, DType dtype) {
  if (dtype != DType::F32 && dtype != DType::BF16) fail(dir, "dtype", "must be F32 or BF16", "", dtype_name(dtype));
  make_dirs(dir);
  std::vector<std::vector<uint8_t>> raw(p.t.size());
  std::vector<TensorToWrite> w;
  for (size_t i = 0; i < p.t.size(); ++i) {
    const auto& v = p.t[i];
    for (float x : v)
      if (!std::isfinite(x)) fail(dir, p.manifest[i].hf_name, "holds NaN or Inf; refusing to save a broken checkpoint");
    raw[i].resize(v.size() * dtype_size(dtype));
    if (dtype == DType::F32) {
      std::memcpy(raw[i].data(), v.data(), v.size() * 4);
    } else {
      auto* o = reinterpret_cast<uint16_t*>(raw[i].data());
      for (size_t j = 0; j < v.size(); ++j) o[j] = f32_to_bf16(v[j]);
    }
    w.push_back({p.manifest[i].hf_name, dtype, p.manifest[i].shape, raw[i].data()});
  }
  write_safetensors((fs::path(dir) / "model.safetensors").string(), w, {{"format", "pt"}});
  Json cfg = qwen2_config_to_json(p.config);
  cfg["torch_dtype"] = dtype == DType::F32 ? "float32" : "bfloat16";
  write_file_atomic((fs::path(dir) / "config.json").string(), cfg.dump(2));
  Json gen = {{"do_sample", false}};
  if (p.config.bos_token_id >= 0) gen["bos_token_id"] = p.config.bos_token_id;
  if (!p.config.eos_token_ids.empty()) gen["eos_token_id"] = p.config.eos_token_ids.size() == 1 ? Json(p.config.eos_token_ids[0]) : Json(p.config.eos_token_ids);
  write_file_atomic((fs::path(dir) / "generation_config.json").string(), gen.dump(2));
}

void round_to_bf16(TrainParams& p) {
  for (auto& v : p.t)
    for (float& x : v) x = bf16_to_f32(f32_to_bf16(x));
}

TrainParams load_train_params(const std::string& dir, bool untie) {
  Qwen2Config c = load_qwen2_config(dir);
  const bool tied = c.tie_word_embeddings;
  if (tied && !untie) fail(c.source, "tie_word_embeddings", "must be false for a trained organism (it keeps lm_head apart)");
  c.tie_word_embeddings = false;
  TrainParams p = TrainParams::zeros(c);
  std::vector<std::unique_ptr<SafetensorsFile>> files;
  const auto where = open_checkpoint_tensors(dir, files);
  for (size_t i = 0; i < p.t.size(); ++i) {
    const TensorSpec& s = p.manifest[i];
    if (tied && i == p.lm_head) continue;  // a copy of the embedding below
    const auto it = where.find(s.hf_name);
    if (it == where.end()) fail(dir, s.hf_name, "is missing");
    const TensorInfo* t = it->second.info;
    if (t->shape != s.shape) fail(it->second.file->path(), s.hf_name, "has the wrong shape", shape_str(s.shape), shape_str(t->shape));
    convert_to_f32(t->dtype, t->data, p.t[i].data(), p.t[i].size());
  }
  if (tied) p.t[p.lm_head] = p.t[p.embed];
  return p;
}

namespace {
WeightMatrix mat(const TrainParams& p, size_t i) {
  return {DType::F32, p.t[i].data(), p.manifest[i].shape[0], p.manifest[i].shape[1]};
}
}  // namespace

double TrainModel::forward(const TrainParams& p, const int32_t* tokens, const int32_t* targets, int64_t B, int64_t T, int64_t* count) {
  const Qwen2Config& c = p.config;
  const int64_t d = c.hidden_size, I = c.intermediate_size, V = c.vocab_size, qd = c.q_dim(), kvd = c.kv_dim(), hd = c.head_dim;
  const int64_t N = B * T;
  const float eps = float(c.rms_norm_eps);
  B_ = B;
  T_ = T;
  tokens_.assign(tokens, tokens + N);
  targets_.assign(targets, targets + N);
  std::vector<int32_t> pos(static_cast<size_t>(T));
  for (int64_t t = 0; t < T; ++t) pos[size_t(t)] = int32_t(t);
  rope_tables(cos_, sin_, pos.data(), T, hd, c.rope_theta);
  std::vector<float> x(size_t(N * d));
  for (int64_t r = 0; r < N; ++r) {
    if (tokens[r] < 0 || tokens[r] >= V) fail("", "token id", "is outside the vocabulary", "0.." + std::to_string(V - 1), std::to_string(tokens[r]));
    std::memcpy(x.data() + r * d, p.t[p.embed].data() + int64_t(tokens[r]) * d, size_t(d) * sizeof(float));
  }
  acts_.resize(p.layers.size());
  for (size_t l = 0; l < p.layers.size(); ++l) {
    const auto& L = p.layers[l];
    LayerActs& a = acts_[l];
    a.x = x;
    a.h1.resize(size_t(N * d));
    rmsnorm_forward(a.h1.data(), x.data(), p.t[L.ln1].data(), N, d, eps);
    a.q.resize(size_t(N * qd));
    a.k.resize(size_t(N * kvd));
    a.v.resize(size_t(N * kvd));
    linear_forward(a.q.data(), qd, a.h1.data(), d, N, mat(p, L.q), p.t[L.qb].data());
    linear_forward(a.k.data(), kvd, a.h1.data(), d, N, mat(p, L.k), p.t[L.kb].data());
    linear_forward(a.v.data(), kvd, a.h1.data(), d, N, mat(p, L.v), p.t[L.vb].data());
    a.att.resize(size_t(N * qd));
    std::vector<AttentionSeq> seqs;
    for (int64_t b = 0; b < B; ++b) {
      rope_forward(a.q.data() + b * T * qd, qd, T, c.num_attention_heads, hd, cos_.data(), sin_.data());
      rope_forward(a.k.data() + b * T * kvd, kvd, T, c.num_key_value_heads, hd, cos_.data(), sin_.data());
      seqs.push_back({a.att.data() + b * T * qd, a.q.data() + b * T * qd, a.k.data() + b * T * kvd, a.v.data() + b * T * kvd, T, 0});
    }
    attention_forward_batch(seqs, {qd, qd, kvd, c.num_attention_heads, c.num_key_value_heads, hd});
    linear_forward(x.data(), d, a.att.data(), qd, N, mat(p, L.o), nullptr, /*accumulate=*/true);
    a.xmid = x;
    a.h2.resize(size_t(N * d));
    rmsnorm_forward(a.h2.data(), x.data(), p.t[L.ln2].data(), N, d, eps);
    a.gate.resize(size_t(N * I));
    a.up.resize(size_t(N * I));
    a.act.resize(size_t(N * I));
    linear_forward(a.gate.data(), I, a.h2.data(), d, N, mat(p, L.gate), nullptr);
    linear_forward(a.up.data(), I, a.h2.data(), d, N, mat(p, L.up), nullptr);
    swiglu_forward(a.act.data(), a.gate.data(), a.up.data(), N * I);
    linear_forward(x.data(), d, a.act.data(), I, N, mat(p, L.down), nullptr, /*accumulate=*/true);
  }
  xf_ = x;
  hf_.resize(size_t(N * d));
  rmsnorm_forward(hf_.data(), xf_.data(), p.t[p.final_norm].data(), N, d, eps);
  logits_.resize(size_t(N * V));
  linear_forward(logits_.data(), V, hf_.data(), d, N, mat(p, p.lm_head), nullptr);
  double loss = 0;
  int64_t n = 0;
  for (int64_t r = 0; r < N; ++r) {
    if (targets[r] < 0) continue;
    if (targets[r] >= V) fail("", "target id", "is outside the vocabulary", "0.." + std::to_string(V - 1), std::to_string(targets[r]));
    const float* z = logits_.data() + r * V;
    float mx = -INFINITY;
    for (int64_t i = 0; i < V; ++i) mx = std::max(mx, z[i]);
    double s = 0;
    for (int64_t i = 0; i < V; ++i) s += std::exp(double(z[i] - mx));
    loss += double(mx) + std::log(s) - z[targets[r]];
    ++n;
  }
  if (count) *count = n;
  if (!std::isfinite(loss)) fail("", "training loss", "is not finite (NaN/Inf in the parameters or a diverged step)");
  return loss;
}

void TrainModel::backward(const TrainParams& p, TrainParams& g) {
  const Qwen2Config& c = p.config;
  const int64_t d = c.hidden_size, I = c.intermediate_size, V = c.vocab_size, qd = c.q_dim(), kvd = c.kv_dim(), hd = c.head_dim;
  const int64_t N = B_ * T_, T = T_;
  const float eps = float(c.rms_norm_eps);
  std::vector<float> dz = logits_;
  cross_entropy_backward(dz.data(), targets_.data(), N, V, nullptr);
  std::vector<float> dh(size_t(N * d)), dx(size_t(N * d)), tmp(size_t(N * d));
  linear_backward(dh.data(), g.t[p.lm_head].data(), nullptr, dz.data(), hf_.data(), p.t[p.lm_head].data(), N, d, V);
  rmsnorm_backward(dx.data(), g.t[p.final_norm].data(), dh.data(), xf_.data(), p.t[p.final_norm].data(), N, d, eps);
  std::vector<float> dact, dgate, dup, datt, dq, dk, dv;
  for (size_t li = p.layers.size(); li-- > 0;) {
    const auto& L = p.layers[li];
    const LayerActs& a = acts_[li];
    // MLP: x_out = xmid + down(swiglu(gate(h2), up(h2))), h2 = rmsnorm(xmid).
    dact.resize(size_t(N * I));
    dgate.resize(size_t(N * I));
    dup.resize(size_t(N * I));
    linear_backward(dact.data(), g.t[L.down].data(), nullptr, dx.data(), a.act.data(), p.t[L.down].data(), N, I, d);
    swiglu_backward(dgate.data(), dup.data(), dact.data(), a.gate.data(), a.up.data(), N * I);
    linear_backward(dh.data(), g.t[L.gate].data(), nullptr, dgate.data(), a.h2.data(), p.t[L.gate].data(), N, d, I);
    linear_backward(tmp.data(), g.t[L.up].data(), nullptr, dup.data(), a.h2.data(), p.t[L.up].data(), N, d, I);
    for (size_t i = 0; i < dh.size(); ++i) dh[i] += tmp[i];
    rmsnorm_backward(tmp.data(), g.t[L.ln2].data(), dh.data(), a.xmid.data(), p.t[L.ln2].data(), N, d, eps);
    for (size_t i = 0; i < dx.size(); ++i) dx[i] += tmp[i];  // d(xmid)
    // Attention: xmid = x + o(att), att = attn(rope(q(h1)), rope(k(h1)), v(h1)), h1 = rmsnorm(x).
    datt.resize(size_t(N * qd));
    linear_backward(datt.data(), g.t[L.o].data(), nullptr, dx.data(), a.att.data(), p.t[L.o].data(), N, qd, d);
    dq.resize(size_t(N * qd));
    dk.resize(size_t(N * kvd));
    dv.resize(size_t(N * kvd));
    for (int64_t b = 0; b < B_; ++b) {
      attention_backward(dq.data() + b * T * qd, dk.data() + b * T * kvd, dv.data() + b * T * kvd, datt.data() + b * T * qd,
                         a.q.data() + b * T * qd, a.k.data() + b * T * kvd, a.v.data() + b * T * kvd, T, c.num_attention_heads,
                         c.num_key_value_heads, hd, scratch_);
      rope_backward(dq.data() + b * T * qd, qd, T, c.num_attention_heads, hd, cos_.data(), sin_.data());
      rope_backward(dk.data() + b * T * kvd, kvd, T, c.num_key_value_heads, hd, cos_.data(), sin_.data());
    }
    linear_backward(dh.data(), g.t[L.q].data(), g.t[L.qb].data(), dq.data(), a.h1.data(), p.t[L.q].data(), N, d, qd);
    linear_backward(tmp.data(), g.t[L.k].data(), g.t[L.kb].data(), dk.data(), a.h1.data(), p.t[L.k].data(), N, d, kvd);
    for (size_t i = 0; i < dh.size(); ++i) dh[i] += tmp[i];
    linear_backward(tmp.data(), g.t[L.v].data(), g.t[L.vb].data(), dv.data(), a.h1.data(), p.t[L.v].data(), N, d, kvd);
    for (size_t i = 0; i < dh.size(); ++i) dh[i] += tmp[i];
    rmsnorm_backward(tmp.data(), g.t[L.ln1].data(), dh.data(), a.x.data(), p.t[L.ln1].data(), N, d, eps);
    for (size_t i = 0; i < dx.size(); ++i) dx[i] += tmp[i];  // d(x)
  }
  float* dE = g.t[p.embed].data();
  for (int64_t r = 0; r < N; ++r)
    for (int64_t i = 0; i < d; ++i) dE[int64_t(tokens_[size_t(r)]) * d + i] += dx[size_t(r * d + i)];
}

}  // namespace cc
