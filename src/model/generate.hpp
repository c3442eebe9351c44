// Autoregressive generation with a KV cache: prefill the prompt, then one token per step.
#pragma once
#include <cstdint>
#include <functional>
#include <span>
#include <vector>

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

}  // namespace cc
