// The Qwen2 forward pass (HF Qwen2ForCausalLM semantics) over a ragged batch of sequences packed
// without padding, with optional KV caches, residual-stream hooks and early stop.
#pragma once
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "model/hooks.hpp"
#include "model/kv_cache.hpp"
#include "model/weights.hpp"

namespace cc {

enum class LogitsMode { None, Last, All, Rows };  // Last: one row per sequence; Rows: ForwardOptions::logit_rows

struct SeqInput {
  std::span<const int32_t> tokens;  // new tokens; they follow whatever `cache` already holds
  KvCache* cache = nullptr;         // null: a fresh sequence whose keys are not kept
};

struct ForwardOptions {
  LogitsMode logits = LogitsMode::Last;
  int stop_at_site = -1;         // >= 0: run hooks at this site, then stop (no later layers)
  const Hooks* hooks = nullptr;  // null or empty: no hook cost at all
  std::span<const int64_t> logit_rows;  // LogitsMode::Rows: packed-batch rows whose logits to compute
  // > 0: skip the embedding and layers below this site; the stream at the site is start_x [rows, d]
  // (e.g. captured in an earlier pass). Hooks at start_at_site still run. No KV caches.
  int start_at_site = 0;
  const float* start_x = nullptr;
};

struct ForwardOutput {
  std::vector<float> logits;  // [rows, vocab]
  int64_t rows = 0, vocab = 0;
};

class Qwen2Model {
 public:
  explicit Qwen2Model(std::unique_ptr<Qwen2Weights> w);
  static std::unique_ptr<Qwen2Model> load(const std::string& dir, ComputeMode mode);

  const Qwen2Config& config() const { return w_->config; }
  const Qwen2Weights& weights() const { return *w_; }

  // Not thread-safe: one forward at a time per model (it owns its scratch buffers).
  ForwardOutput forward(std::span<const SeqInput> batch, const ForwardOptions& opt = {});
  // The same into `out`, reusing its logits' memory (rows × vocab floats, 64 MiB and more per call).
  void forward(std::span<const SeqInput> batch, const ForwardOptions& opt, ForwardOutput& out);
  // The residual stream at hook `site` for every row of the batch, [T, d] in row order, into `out`
  // (replaced): a forward pass that stops there, computing nothing past the hook.
  void stream_at(std::span<const SeqInput> batch, int site, std::vector<float>& out);

 private:
  void attention_block(int layer, std::span<const SeqInput> batch, int64_t T);
  void mlp_block(int layer, int64_t T);
  void logits(std::span<const SeqInput> batch, const ForwardOptions& opt, ForwardOutput& out);

  std::unique_ptr<Qwen2Weights> w_;
  // Scratch, grown on demand and reused across calls: [T, d], [T, q], [T, kv] ...
  std::vector<float> x_, h_, q_, k_, v_, att_, gate_, up_, rope_cos_, rope_sin_;
  std::vector<float> kv_tmp_k_, kv_tmp_v_;
  std::vector<int32_t> positions_;
  std::vector<RowInfo> rows_;
};

}  // namespace cc
