// Qwen2 forward: embed → per layer [hook → RMSNorm → q/k/v(+bias) → RoPE → causal GQA attention →
// o_proj + residual → RMSNorm → SwiGLU MLP + residual] → hook → final norm → lm_head.
#include "model/qwen2.hpp"

#include <algorithm>
#include <cstring>

#include "core/error.hpp"
#include "model/layers.hpp"

namespace cc {

Qwen2Model::Qwen2Model(std::unique_ptr<Qwen2Weights> w) : w_(std::move(w)) {}

std::unique_ptr<Qwen2Model> Qwen2Model::load(const std::string& dir, ComputeMode mode) {
  return std::make_unique<Qwen2Model>(load_qwen2_weights(dir, mode));
}

ForwardOutput Qwen2Model::forward(std::span<const SeqInput> batch, const ForwardOptions& opt) {
  ForwardOutput out;
  forward(batch, opt, out);
  return out;
}

void Qwen2Model::stream_at(std::span<const SeqInput> batch, int site, std::vector<float>& out) {
  out.clear();
  Hooks h;
  h.add(site, make_capture_hook(&out));
  ForwardOptions fo;
  fo.logits = LogitsMode::None;
  fo.stop_at_site = site;
  fo.hooks = &h;
  forward(batch, fo);
}

void Qwen2Model::forward(std::span<const SeqInput> batch, const ForwardOptions& opt, ForwardOutput& out) {
  const Qwen2Config& c = w_->config;
  const int64_t d = c.hidden_size, L = c.num_hidden_layers;
  if (opt.stop_at_site > L) fail("", "stop_at_site", "is beyond the last hook site", "<= " + std::to_string(L), std::to_string(opt.stop_at_site));

  // Rows: every new token of every sequence, packed in batch order.
  int64_t T = 0;
  for (const auto& s : batch) T += int64_t(s.tokens.size());
  rows_.clear();
  positions_.clear();
  for (size_t b = 0; b < batch.size(); ++b) {
    const auto& s = batch[b];
    const int64_t past = s.cache ? s.cache->length() : 0;
    if (s.cache && opt.stop_at_site >= 0)
      fail("", "forward", "cannot stop early while filling a KV cache (later layers would lack keys)");
    if (s.cache && opt.start_at_site > 0)
      fail("", "forward", "cannot start at a later site while filling a KV cache (earlier layers would lack keys)");
    if (s.cache && past + int64_t(s.tokens.size()) > s.cache->capacity())
      fail("", "KV cache", "is full", "<= " + std::to_string(s.cache->capacity()) + " tokens",
           std::to_string(past + int64_t(s.tokens.size())));
    for (size_t i = 0; i < s.tokens.size(); ++i) {
      const int32_t tok = s.tokens[i];
      if (tok < 0 || tok >= c.vocab_size)
        fail(c.source, "token id", "is outside the vocabulary", "0.." + std::to_string(c.vocab_size - 1), std::to_string(tok));
      rows_.push_back({int32_t(b), int32_t(past + int64_t(i)), tok});
      positions_.push_back(int32_t(past + int64_t(i)));
    }
  }
  out.logits.clear();  // capacity kept: a caller that passes the same output again faults in no pages
  out.rows = 0;
  out.vocab = c.vocab_size;
  if (T == 0) return;

  if (opt.start_at_site < 0 || opt.start_at_site > L || (opt.start_at_site > 0 && !opt.start_x))
    fail("", "start_at_site", "needs a site in 0.." + std::to_string(L) + " and the stream there");
  x_.resize(size_t(T * d));
  if (opt.start_at_site > 0)
    std::memcpy(x_.data(), opt.start_x, size_t(T * d) * sizeof(float));
  else
    for (int64_t r = 0; r < T; ++r) weight_row_f32(w_->embed, rows_[size_t(r)].token, x_.data() + r * d);
  rope_tables(rope_cos_, rope_sin_, positions_.data(), T, c.head_dim, c.rope_theta);

  const bool hooked = opt.hooks && !opt.hooks->empty();
  auto site = [&](int s) {
    if (!hooked) return;
    HookContext ctx{s, x_.data(), T, d, rows_};
    opt.hooks->run(ctx);
  };
  for (int l = opt.start_at_site; l < L; ++l) {
    site(l);
    if (opt.stop_at_site == l) return;
    attention_block(l, batch, T);
    mlp_block(l, T);
  }
  site(int(L));
  if (opt.stop_at_site == L) return;
  for (const auto& s : batch)
    if (s.cache) s.cache->advance(int64_t(s.tokens.size()));
  if (opt.logits != LogitsMode::None) logits(batch, opt, out);
  return;
}

void Qwen2Model::attention_block(int l, std::span<const SeqInput> batch, int64_t T) {
  const Qwen2Config& c = w_->config;
  const LayerWeights& W = w_->layers[size_t(l)];
  const int64_t d = c.hidden_size, qd = c.q_dim(), kvd = c.kv_dim(), hd = c.head_dim;
  h_.resize(size_t(T * d));
  q_.resize(size_t(T * qd));
  k_.resize(size_t(T * kvd));
  v_.resize(size_t(T * kvd));
  att_.resize(size_t(T * qd));
  rmsnorm_forward(h_.data(), x_.data(), W.ln1.data(), T, d, float(c.rms_norm_eps));
  linear_forward(q_.data(), qd, h_.data(), d, T, W.q, W.q_bias.data());
  linear_forward(k_.data(), kvd, h_.data(), d, T, W.k, W.k_bias.data());
  linear_forward(v_.data(), kvd, h_.data(), d, T, W.v, W.v_bias.data());
  rope_forward(q_.data(), qd, T, c.num_attention_heads, hd, rope_cos_.data(), rope_sin_.data());
  rope_forward(k_.data(), kvd, T, c.num_key_value_heads, hd, rope_cos_.data(), rope_sin_.data());

  // Each sequence attends to its own keys (and its cache's); all of them go to the pool at once.
  std::vector<AttentionSeq> seqs;
  int64_t r0 = 0;
  for (const auto& s : batch) {
    const int64_t n = int64_t(s.tokens.size());
    if (n == 0) continue;
    const float *K = k_.data() + r0 * kvd, *V = v_.data() + r0 * kvd;
    int64_t past = 0;
    if (s.cache) {
      past = s.cache->length();
      float* ck = s.cache->k(l) + past * kvd;
      float* cv = s.cache->v(l) + past * kvd;
      std::memcpy(ck, K, size_t(n * kvd) * sizeof(float));
      std::memcpy(cv, V, size_t(n * kvd) * sizeof(float));
      K = s.cache->k(l);
      V = s.cache->v(l);
    }
    seqs.push_back({att_.data() + r0 * qd, q_.data() + r0 * qd, K, V, n, past});
    r0 += n;
  }
  attention_forward_batch(seqs, {qd, qd, kvd, c.num_attention_heads, c.num_key_value_heads, hd});
  // o_proj accumulates straight into the residual stream.
  linear_forward(x_.data(), d, att_.data(), qd, T, W.o, nullptr, /*accumulate=*/true);
}

void Qwen2Model::mlp_block(int l, int64_t T) {
  const Qwen2Config& c = w_->config;
  const LayerWeights& W = w_->layers[size_t(l)];
  const int64_t d = c.hidden_size, I = c.intermediate_size;
  h_.resize(size_t(T * d));
  gate_.resize(size_t(T * I));
  up_.resize(size_t(T * I));
  rmsnorm_forward(h_.data(), x_.data(), W.ln2.data(), T, d, float(c.rms_norm_eps));
  linear_forward(gate_.data(), I, h_.data(), d, T, W.gate, nullptr);
  linear_forward(up_.data(), I, h_.data(), d, T, W.up, nullptr);
  swiglu_forward(gate_.data(), gate_.data(), up_.data(), T * I);
  linear_forward(x_.data(), d, gate_.data(), I, T, W.down, nullptr, /*accumulate=*/true);
}

void Qwen2Model::logits(std::span<const SeqInput> batch, const ForwardOptions& opt, ForwardOutput& out) {
  const Qwen2Config& c = w_->config;
  const int64_t d = c.hidden_size, V = c.vocab_size;
  std::vector<int64_t> pick;
  if (opt.logits == LogitsMode::Rows) {
    for (int64_t r : opt.logit_rows) {
      if (r < 0 || r >= int64_t(rows_.size()))
        fail("", "logit_rows", "names a row outside the batch", "0.." + std::to_string(rows_.size() - 1), std::to_string(r));
      pick.push_back(r);
    }
  } else if (opt.logits == LogitsMode::All) {
    for (int64_t r = 0; r < int64_t(rows_.size()); ++r) pick.push_back(r);
  } else {
    int64_t r0 = 0;
    for (const auto& s : batch) {
      r0 += int64_t(s.tokens.size());
      if (!s.tokens.empty()) pick.push_back(r0 - 1);
    }
  }
  const int64_t R = int64_t(pick.size());
  h_.resize(size_t(R * d));
  for (int64_t i = 0; i < R; ++i)
    rmsnorm_forward(h_.data() + i * d, x_.data() + pick[size_t(i)] * d, w_->final_norm.data(), 1, d, float(c.rms_norm_eps));
  out.rows = R;
  out.logits.resize(size_t(R * V));
  linear_forward(out.logits.data(), V, h_.data(), d, R, w_->lm_head, nullptr);
}

}  // namespace cc
