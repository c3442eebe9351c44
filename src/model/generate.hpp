// Autoregressive generation with a KV cache: prefill the prompt, then one token per step.
#pragma once
#include <cstdint>
#include <functional>
#include <span>
#include <vector>

#include "model/linear.hpp"
#include "model/qwen2.hpp"
#include "model/sampling.hpp"

namespace cc {

struct GenerateOptions {
  int64_t max_new_tokens = 128;   // e.g. 512
  SamplingParams sampling;        // greedy by default
  std::vector<int64_t> stop_ids;  // generation stops after emitting one of these (e.g. EOS)
  const Hooks* hooks = nullptr;   // applied at every step (prompt and generated positions)
};

struct GenerateResult {
  std::vector<int32_t> tokens;  // generated ids only (the stop id included when hit)
  bool stopped_on_eos = false;
};

// on_token is called with each new id as soon as it is chosen (streaming); may be empty.
GenerateResult generate(Qwen2Model& model, std::span<const int32_t> prompt, const GenerateOptions& opt,
                        const std::function<void(int32_t)>& on_token = {});

// One run of a batch: its prompt, sampling (its own seed) and hooks, as generate() would take them.
struct GenerateRequest {
  std::span<const int32_t> prompt;
  SamplingParams sampling;
  const Hooks* hooks = nullptr;  // this run's hooks; positions are this run's own
};

// Runs every request as generate() runs it alone and returns the same tokens: each prompt is
// prefilled on its own, then each step decodes all unfinished runs in one forward (per-run KV
// caches), so the weights are read once per step for all of them; a run leaves the batch when it
// emits a stop id or reaches max_new_tokens. The per-row kernels that batched decode uses
// (linear_forward below kGemvRows rows) compute each row as they would alone, so the results are
// identical, not merely close. At most kMaxDecodeRows runs per call.
inline constexpr int64_t kMaxDecodeRows = kGemvRows - 1;
std::vector<GenerateResult> generate_batch(Qwen2Model& model, std::span<const GenerateRequest> runs, int64_t max_new_tokens,
                                           std::span<const int64_t> stop_ids);

}  // namespace cc
