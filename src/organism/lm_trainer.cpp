// The organism's training loop and its exact-resume checkpoint.
#include "organism/lm_trainer.hpp"
#include "core/atomic_file.hpp"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <random>

#include "core/error.hpp"
#include "core/finite.hpp"
#include "core/progress.hpp"
#include "core/safetensors.hpp"
#include "organism/adamw.hpp"

namespace cc {

namespace fs = std::filesystem;

namespace {

void window(const TokenStream& s, int64_t start, int64_t T, int32_t* tok, int32_t* tgt) {
  for (int64_t t = 0; t < T; ++t) {
    tok[t] = s.tokens[size_t(start + t)];
    tgt[t] = s.predict[size_t(start + t + 1)] ? s.tokens[size_t(start + t + 1)] : -1;
  }
}

void check_stream(const TokenStream& s, int64_t T, const char* what) {
  if (s.tokens.size() != s.predict.size()) fail("", what, "has a loss mask of the wrong length (internal error)");
  if (int64_t(s.tokens.size()) < T + 2)
    fail("", what, "is shorter than one training window", ">= " + std::to_string(T + 2) + " tokens", std::to_string(s.tokens.size()));
}

Json settings_json(const LmTrainOptions& o) {
  return {{"seq_len", o.seq_len}, {"batch", o.batch}, {"steps", o.steps}, {"warmup", o.warmup}, {"lr", o.lr},
          {"min_lr_frac", o.min_lr_frac}, {"weight_decay", o.weight_decay}, {"beta1", o.beta1}, {"beta2", o.beta2},
          {"clip", o.clip}, {"seed", o.seed}};
}

void save_state(const std::string& dir, const TrainParams& p, const AdamWState& s, int64_t step, const LmTrainOptions& o,
                const std::vector<Json>& log) {
  make_dirs(dir);
  std::vector<TensorToWrite> t;
  for (size_t i = 0; i < p.t.size(); ++i) {
    const Shape sh = p.manifest[i].shape;
    t.push_back({"p." + p.manifest[i].hf_name, DType::F32, sh, p.t[i].data()});
    t.push_back({"m." + p.manifest[i].hf_name, DType::F32, sh, s.m[i].data()});
    t.push_back({"v." + p.manifest[i].hf_name, DType::F32, sh, s.v[i].data()});
  }
  const Json meta = {{"step", step}, {"adam_t", s.t}, {"settings", settings_json(o)}, {"log", log}};
  write_safetensors(dir + "/trainer_state.safetensors", t, {{"state", meta.dump()}});
}

// Returns the step to continue from (0 when there is no state).
int64_t load_state(const std::string& dir, TrainParams& p, AdamWState& s, const LmTrainOptions& o, std::vector<Json>& log) {
  const std::string path = dir + "/trainer_state.safetensors";
  if (dir.empty() || !fs::exists(path)) return 0;
  SafetensorsFile f(path);
  auto it = f.metadata().find("state");
  if (it == f.metadata().end() || !it->is_string()) fail(path, "__metadata__.state", "is missing");
  const Json meta = parse_json(it->get<std::string>(), path + " (state)");
  const Json want = settings_json(o);
  for (auto& [k, v] : want.items())
    if (meta["settings"].value(k, Json()) != v)
      fail(path, "settings." + k, "differs from this run's; cannot resume", meta["settings"].value(k, Json()).dump(), v.dump(),
           "use the same settings or another state folder");
  for (size_t i = 0; i < p.t.size(); ++i)
    for (auto [prefix, dst] : {std::pair{"p.", &p.t[i]}, {"m.", &s.m[i]}, {"v.", &s.v[i]}}) {
      const std::string name = prefix + p.manifest[i].hf_name;
      const TensorInfo* ti = f.find(name);
      if (!ti || ti->dtype != DType::F32 || ti->shape != p.manifest[i].shape)
        fail(path, name, "is missing or has the wrong dtype/shape", "F32 " + shape_str(p.manifest[i].shape), ti ? shape_str(ti->shape) : "absent");
      std::memcpy(dst->data(), ti->data, ti->nbytes);
    }
  s.t = meta.value("adam_t", int64_t(0));
  log = meta.value("log", std::vector<Json>{});
  return meta.value("step", int64_t(0));
}

}  // namespace

double evaluate_lm(const TrainParams& p, const TokenStream& eval, int64_t T, int64_t windows) {
  check_stream(eval, T, "held-out token stream");
  const int64_t span = int64_t(eval.tokens.size()) - T - 1;
  TrainModel m;
  double loss = 0;
  int64_t n = 0;
  const int64_t chunk = 8;
  std::vector<int32_t> tok, tgt;
  for (int64_t w0 = 0; w0 < windows; w0 += chunk) {
    const int64_t B = std::min(chunk, windows - w0);
    tok.resize(size_t(B * T));
    tgt.resize(size_t(B * T));
    for (int64_t b = 0; b < B; ++b) window(eval, (w0 + b) * span / std::max<int64_t>(1, windows), T, tok.data() + b * T, tgt.data() + b * T);
    int64_t k = 0;
    loss += m.forward(p, tok.data(), tgt.data(), B, T, &k);
    n += k;
  }
  return n ? loss / double(n) : 0.0;
}

LmTrainResult train_lm(TrainParams& p, const TokenStream& train, const TokenStream& eval, const LmTrainOptions& o) {
  check_stream(train, o.seq_len, "training token stream");
  if (o.batch < 1 || o.steps < 1) fail("", "batch/steps", "must be >= 1");
  LmTrainResult r;
  AdamWState s;
  s.init(p);
  r.resumed_from = load_state(o.state_dir, p, s, o, r.log);
  TrainParams g = TrainParams::zeros(p.config);
  TrainModel m;
  const int64_t T = o.seq_len, B = o.batch, span = int64_t(train.tokens.size()) - T - 1;
  std::vector<int32_t> tok(size_t(B * T)), tgt(size_t(B * T));
  const double flops_per_token = 6.0 * double(p.numel() - p.t[p.embed].size());
  Progress bar(o.label, o.steps, "step", o.progress);
  bar.set(r.resumed_from);
  double run_loss = 0;
  int64_t run_n = 0, tokens = 0;
  double eval_secs = 0;  // excluded from the training throughput
  const auto t0 = std::chrono::steady_clock::now();
  const int64_t end = o.stop_after >= 0 ? std::min(o.steps, r.resumed_from + o.stop_after) : o.steps;
  for (int64_t step = r.resumed_from; step < end; ++step) {
    std::mt19937_64 rng(o.seed * 0x9E3779B97F4A7C15ull + uint64_t(step));
    for (int64_t b = 0; b < B; ++b) window(train, int64_t(rng() % uint64_t(span)), T, tok.data() + b * T, tgt.data() + b * T);
    int64_t n = 0;
    const double loss = m.forward(p, tok.data(), tgt.data(), B, T, &n);
    g.zero();
    if (n > 0) m.backward(p, g);
    if (!std::isfinite(clip_grad_norm(g, o.clip))) {
      // Name the gradient element before AdamW's moments (and every later checkpoint) take it in.
      const std::string hint = "training stopped before the update; the last checkpoint is intact (try a lower --lr)";
      for (size_t i = 0; i < g.t.size(); ++i)
        check_finite(g.t[i].data(), g.manifest[i].shape, o.state_dir.empty() ? o.label : o.state_dir, "gradient of " + g.manifest[i].hf_name, "at step " + std::to_string(step), hint);
      fail(o.state_dir.empty() ? o.label : o.state_dir, "gradient norm", "is not finite at step " + std::to_string(step), "", "", hint);
    }
    const double lr = warmup_cosine_lr(step, o.steps, o.warmup, o.lr, o.lr * o.min_lr_frac);
    adamw_step(p, g, s, lr, o.beta1, o.beta2, o.weight_decay);
    run_loss += loss;
    run_n += n;
    tokens += B * T;
    bar.add(1);
    const bool last = step + 1 == o.steps;
    if ((step + 1) % o.eval_every == 0 || last) {
      const auto e0 = std::chrono::steady_clock::now();
      const double secs = std::chrono::duration<double>(e0 - t0).count() - eval_secs;
      const double ev = evaluate_lm(p, eval, T, o.eval_windows);
      eval_secs += std::chrono::duration<double>(std::chrono::steady_clock::now() - e0).count();
      r.log.push_back({{"step", step + 1}, {"lr", lr}, {"train_loss", run_n ? run_loss / double(run_n) : 0.0}, {"eval_loss", ev},
                       {"tokens_per_s", double(tokens) / std::max(secs, 1e-9)}});
      bar.note("loss " + std::to_string(run_n ? run_loss / double(run_n) : 0.0).substr(0, 6) + " eval " + std::to_string(ev).substr(0, 6));
      run_loss = 0;
      run_n = 0;
    }
    if (!o.state_dir.empty() && ((step + 1) % o.checkpoint_every == 0 || last || step + 1 == end))
      save_state(o.state_dir, p, s, step + 1, o, r.log);
  }
  bar.finish();
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() - eval_secs;
  r.tokens_per_s = secs > 0 ? double(tokens) / secs : 0;
  r.gflops = r.tokens_per_s * flops_per_token / 1e9;
  r.eval_loss = evaluate_lm(p, eval, T, o.eval_windows);
  return r;
}

LmTrainOptions stage_train_options(int64_t steps, double lr, int64_t seq_len, int64_t batch, uint64_t seed, const std::string& state_dir,
                                   const std::string& label, bool progress) {
  LmTrainOptions o;
  o.seq_len = seq_len;
  o.batch = batch;
  o.steps = steps;
  o.warmup = std::max<int64_t>(1, steps / 20);
  o.lr = lr;
  o.seed = seed;
  o.eval_every = std::max<int64_t>(1, steps / 20);
  o.eval_windows = 32;
  o.checkpoint_every = std::max<int64_t>(1, steps / 20);
  o.state_dir = state_dir;
  o.label = label;
  o.progress = progress;
  return o;
}

}  // namespace cc
