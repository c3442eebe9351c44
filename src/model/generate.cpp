// Generation loop.
#include "model/generate.hpp"

#include <algorithm>

#include "core/error.hpp"

namespace cc {

GenerateResult generate(Qwen2Model& model, std::span<const int32_t> prompt, const GenerateOptions& opt,
                        const std::function<void(int32_t)>& on_token) {
  if (prompt.empty()) fail("", "prompt", "is empty", "at least one token", "0 tokens");
  if (opt.max_new_tokens < 0) fail("", "max_new_tokens", "must be >= 0");
  KvCache cache(model.config(), int64_t(prompt.size()) + opt.max_new_tokens);
  Sampler sampler(opt.sampling);
  GenerateResult res;
  ForwardOptions fo;
  fo.logits = LogitsMode::Last;
  fo.hooks = opt.hooks;
  std::vector<int32_t> step(prompt.begin(), prompt.end());
  for (int64_t i = 0; i < opt.max_new_tokens; ++i) {
    SeqInput in{step, &cache};
    ForwardOutput out = model.forward(std::span<const SeqInput>(&in, 1), fo);
    const int32_t next = sampler.sample(out.logits.data(), out.vocab);
    res.tokens.push_back(next);
    if (on_token) on_token(next);
    if (std::find(opt.stop_ids.begin(), opt.stop_ids.end(), int64_t(next)) != opt.stop_ids.end()) {
      res.stopped_on_eos = true;
      break;
    }
    step.assign(1, next);
  }
  return res;
}

}  // namespace cc
