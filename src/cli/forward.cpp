// `crosscoder forward`: one forward pass, with logits and residual streams dumped as .npy.
#include <cstdio>
#include <map>

#include "cli/commands.hpp"
#include "cli/compute_option.hpp"
#include "core/error.hpp"
#include "core/npy.hpp"
#include "core/parallel.hpp"
#include "core/strings.hpp"
#include "tokenizer/prompt_input.hpp"
#include "model/qwen2.hpp"
#include "model/sampling.hpp"

namespace cc::cli {

void register_forward(CLI::App& app) {
  struct Opts {
    std::string model, ids, prompt, chat, tokenizer, logits_path, dtype = "f32";
    std::vector<std::string> resid;
    int threads = 0;
  };
  auto o = std::make_shared<Opts>();
  auto* c = app.add_subcommand("forward", "Run one forward pass and dump logits / residual streams");
  c->add_option("--model", o->model, "Hugging Face model directory (config.json + safetensors)")->required();
  auto* ids = c->add_option("--token-ids", o->ids, "Comma-separated token ids, e.g. 151643,785,3974; give it or --prompt (no default)");
  auto* prompt = c->add_option("--prompt", o->prompt, "Text prompt (encoded with --tokenizer); give it or --token-ids (no default)");
  ids->excludes(prompt);
  c->add_option("--chat", o->chat, "Wrap --prompt in a chat template: auto, plain, chatml, r1-distill (default: none)");
  c->add_option("--tokenizer", o->tokenizer, "tokenizer.json or its directory (default: the model directory)");
  c->add_option("--dump-logits", o->logits_path, "Write logits of every position to this .npy [T, vocab] (default: not written)");
  c->add_option("--dump-resid", o->resid, "SITE:FILE.npy, SITE = layer L (resid_pre) or blocks.L.hook_resid_pre|post; writes [T, d] (default: none)");
  add_compute_option(c, o->dtype);
  c->add_option("--threads", o->threads, "Threads (0 = all cores)")->capture_default_str();
  c->callback([o] {
    set_num_threads(o->threads);
    const std::vector<int32_t> ids = resolve_prompt(o->ids, o->prompt, o->chat, o->tokenizer, o->model).ids;
    auto model = Qwen2Model::load(o->model, compute_mode_from_name(o->dtype));
    const auto& cfg = model->config();
    Hooks hooks;
    std::map<std::string, std::vector<float>> captured;
    for (const auto& spec : o->resid) {
      const auto colon = spec.rfind(':');
      if (colon == std::string::npos) fail("", "--dump-resid", "must be SITE:FILE.npy", "e.g. 14:resid.npy", spec);
      const int site = parse_hook_site(spec.substr(0, colon), cfg.num_hidden_layers);
      hooks.add(site, make_capture_hook(&captured[spec]));
    }
    SeqInput in{ids, nullptr};
    ForwardOptions fo;
    fo.logits = o->logits_path.empty() ? LogitsMode::Last : LogitsMode::All;
    fo.hooks = &hooks;
    ForwardOutput out = model->forward(std::span<const SeqInput>(&in, 1), fo);
    const int64_t T = int64_t(ids.size());
    if (!o->logits_path.empty()) write_npy_f32(o->logits_path, out.logits.data(), {T, out.vocab});
    for (auto& [spec, v] : captured)
      write_npy_f32(spec.substr(spec.rfind(':') + 1), v.data(), {T, cfg.hidden_size});
    const float* last = out.logits.data() + (out.rows - 1) * out.vocab;
    std::printf("tokens: %lld  next-token argmax: %d  logit: %.6f\n", (long long)T, argmax(last, out.vocab),
                double(last[argmax(last, out.vocab)]));
  });
}

}  // namespace cc::cli
