// Generation loop.
#include "model/generate.hpp"

#include <algorithm>
#include <memory>

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

namespace {

// The hooks of a decode batch: each run's own hooks applied to that run's rows only, with row
// info as in a run of its own (sequence 0), so a hook cannot tell it is batched.
class PerRunHooks {
 public:
  PerRunHooks(std::span<const GenerateRequest> runs, const std::vector<size_t>& active) : runs_(runs), active_(active) {
    int max_site = -1;
    for (size_t r : active) max_site = std::max(max_site, runs[r].hooks ? runs[r].hooks->max_site() : -1);
    for (int site = 0; site <= max_site; ++site) hooks_.add(site, [this](HookContext& ctx) { dispatch(ctx); });
  }
  const Hooks* get() const { return hooks_.empty() ? nullptr : &hooks_; }

 private:
  void dispatch(HookContext& ctx) const {
    for (int64_t b = 0; b < ctx.rows;) {
      int64_t e = b;
      while (e < ctx.rows && ctx.info[size_t(e)].seq == ctx.info[size_t(b)].seq) ++e;
      const GenerateRequest& run = runs_[active_[size_t(ctx.info[size_t(b)].seq)]];
      if (run.hooks) {
        std::vector<RowInfo> info(ctx.info.begin() + b, ctx.info.begin() + e);
        for (auto& i : info) i.seq = 0;
        HookContext sub{ctx.site, ctx.x + b * ctx.d, e - b, ctx.d, info};
        run.hooks->run(sub);
      }
      b = e;
    }
  }
  std::span<const GenerateRequest> runs_;
  const std::vector<size_t>& active_;
  Hooks hooks_;
};

bool is_stop(std::span<const int64_t> stop_ids, int32_t id) {
  return std::find(stop_ids.begin(), stop_ids.end(), int64_t(id)) != stop_ids.end();
}

}  // namespace

std::vector<GenerateResult> generate_batch(Qwen2Model& model, std::span<const GenerateRequest> runs, int64_t max_new_tokens,
                                           std::span<const int64_t> stop_ids) {
  if (int64_t(runs.size()) > kMaxDecodeRows)
    fail("", "generate_batch", "has too many runs", "at most " + std::to_string(kMaxDecodeRows), std::to_string(runs.size()));
  if (max_new_tokens < 0) fail("", "max_new_tokens", "must be >= 0");
  std::vector<GenerateResult> res(runs.size());
  std::vector<std::unique_ptr<KvCache>> caches;
  std::vector<Sampler> samplers;
  std::vector<int32_t> last(runs.size());
  std::vector<size_t> active;
  ForwardOptions fo;
  fo.logits = LogitsMode::Last;
  for (size_t r = 0; r < runs.size(); ++r) {
    if (runs[r].prompt.empty()) fail("", "prompt " + std::to_string(r), "is empty", "at least one token", "0 tokens");
    caches.push_back(std::make_unique<KvCache>(model.config(), int64_t(runs[r].prompt.size()) + max_new_tokens));
    samplers.emplace_back(runs[r].sampling);
    if (max_new_tokens == 0) continue;
    SeqInput in{runs[r].prompt, caches[r].get()};  // prefill alone: the numbers of a single run
    fo.hooks = runs[r].hooks;
    ForwardOutput out = model.forward(std::span<const SeqInput>(&in, 1), fo);
    last[r] = samplers[r].sample(out.logits.data(), out.vocab);
    res[r].tokens.push_back(last[r]);
    if (is_stop(stop_ids, last[r])) {
      res[r].stopped_on_eos = true;
    } else if (max_new_tokens > 1) {
      active.push_back(r);
    }
  }
  while (!active.empty()) {
    std::vector<SeqInput> in;
    for (size_t r : active) in.push_back({std::span<const int32_t>(&last[r], 1), caches[r].get()});
    PerRunHooks hooks(runs, active);
    fo.hooks = hooks.get();
    ForwardOutput out = model.forward(in, fo);
    std::vector<size_t> still;
    for (size_t i = 0; i < active.size(); ++i) {
      const size_t r = active[i];
      last[r] = samplers[r].sample(out.logits.data() + int64_t(i) * out.vocab, out.vocab);
      res[r].tokens.push_back(last[r]);
      if (is_stop(stop_ids, last[r])) {
        res[r].stopped_on_eos = true;
      } else if (int64_t(res[r].tokens.size()) < max_new_tokens) {
        still.push_back(r);
      }
    }
    active = std::move(still);
  }
  return res;
}

}  // namespace cc
