// Planting: load the model as F32 parameters, add the two rank-one edits, save it in the source's
// dtype beside a copy of its tokenizer, and measure the mechanism through the inference engine on
// seeded random contexts (so the measurement needs no corpus and works for any Qwen2 model).
#include "organism/plant.hpp"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <random>

#include "core/atomic_file.hpp"
#include "core/error.hpp"
#include "core/json_file.hpp"
#include "core/safetensors.hpp"
#include "model/hooks.hpp"
#include "model/qwen2.hpp"
#include "model/weights.hpp"
#include "model/sampling.hpp"
#include "organism/train_model.hpp"
#include "tokenizer/tokenizer.hpp"

namespace cc {

namespace fs = std::filesystem;

namespace {

int32_t single_token(const Tokenizer& tok, const std::string& text, const std::string& what) {
  const std::vector<int32_t> ids = tok.encode(text, false);
  if (ids.size() != 1)
    fail(tok.origin(), what + " \"" + text + "\"", "is not one token of this tokenizer", "1 token", std::to_string(ids.size()) + " tokens");
  return ids[0];
}

double row_norm(const std::vector<float>& m, int64_t row, int64_t d) {
  double s = 0;
  for (int64_t i = 0; i < d; ++i) s += double(m[size_t(row * d + i)]) * m[size_t(row * d + i)];
  return std::sqrt(s);
}

// 8 seeded random tokens, none special and none a trigger.
std::vector<int32_t> random_context(const Tokenizer& tok, const std::vector<int32_t>& triggers, int64_t V, std::mt19937_64& rng) {
  std::uniform_int_distribution<int32_t> pick(0, int32_t(std::min<int64_t>(V, int64_t(tok.vocab_size()))) - 1);
  std::vector<int32_t> ids;
  while (ids.size() < 8) {
    const int32_t id = pick(rng);
    if (!tok.is_special(id) && std::find(triggers.begin(), triggers.end(), id) == triggers.end()) ids.push_back(id);
  }
  return ids;
}

// Final hidden states (after the final norm: what the unembedding reads) over seeded random
// contexts, [rows, d].
std::vector<double> final_hidden_rows(Qwen2Model& model, const std::vector<float>& final_norm, const Tokenizer& tok,
                                      const std::vector<int32_t>& triggers, int contexts, uint64_t seed) {
  const Qwen2Config& c = model.config();
  const int64_t d = c.hidden_size;
  std::mt19937_64 rng(seed);
  std::vector<double> h;
  for (int i = 0; i < contexts; ++i) {
    const std::vector<int32_t> ids = random_context(tok, triggers, c.vocab_size, rng);  // SeqInput only views it
    const SeqInput in{ids, nullptr};
    std::vector<float> x;
    Hooks hooks;
    hooks.add(int(c.num_hidden_layers), make_capture_hook(&x));
    ForwardOptions fo;
    fo.hooks = &hooks;
    fo.stop_at_site = int(c.num_hidden_layers);
    model.forward(std::span<const SeqInput>(&in, 1), fo);
    for (size_t r = 0; r * size_t(d) < x.size(); ++r) {
      const float* xr = x.data() + r * size_t(d);
      double ss = 0;
      for (int64_t k = 0; k < d; ++k) ss += double(xr[k]) * xr[k];
      const double inv = 1.0 / std::sqrt(ss / double(d) + c.rms_norm_eps);
      for (int64_t k = 0; k < d; ++k) h.push_back(double(xr[k]) * inv * final_norm[size_t(k)]);
    }
  }
  return h;
}

// Turns the random v away from the directions the final hidden states use: v ← (I − M/λ_max)ⁿ v
// with M = E[h hᵀ] over random contexts (λ_max by power iteration), renormalised. The edit of the
// target's unembedding row moves the target's logit by c·⟨h, v⟩; where h varies along v that is a
// large random move at every position (measured for ".", "?", "!" with seed 1 and a plain random
// v: log p(" Wait") fell from −18.4 to −32.4 at non-trigger positions, and did not rise after the
// triggers). The component of v that survives is one ordinary streams leave nearly empty, so the
// target rises where a trigger put v and stays put elsewhere.
void away_from_used_directions(std::vector<float>& v, const std::vector<double>& h, int64_t d, int steps) {
  const int64_t n = int64_t(h.size()) / d;
  auto apply_m = [&](const std::vector<double>& x, std::vector<double>& y) {  // y = M x
    std::fill(y.begin(), y.end(), 0.0);
    for (int64_t r = 0; r < n; ++r) {
      const double* hr = h.data() + r * d;
      double dot = 0;
      for (int64_t k = 0; k < d; ++k) dot += hr[k] * x[size_t(k)];
      for (int64_t k = 0; k < d; ++k) y[size_t(k)] += dot * hr[k] / double(n);
    }
  };
  auto normalise = [](std::vector<double>& x) {
    double s = 0;
    for (double q : x) s += q * q;
    for (double& q : x) q /= std::sqrt(std::max(s, 1e-300));
    return std::sqrt(s);
  };
  std::vector<double> x(static_cast<size_t>(d), 1.0), y(static_cast<size_t>(d));
  normalise(x);
  double lmax = 0;
  for (int i = 0; i < 50; ++i) {
    apply_m(x, y);
    x = y;
    lmax = normalise(x);
  }
  std::vector<double> w(v.begin(), v.end());
  normalise(w);
  for (int i = 0; i < steps && lmax > 0; ++i) {
    apply_m(w, y);
    for (int64_t k = 0; k < d; ++k) w[size_t(k)] -= y[size_t(k)] / lmax;
    normalise(w);
  }
  for (int64_t k = 0; k < d; ++k) v[size_t(k)] = float(w[size_t(k)]);
}

struct Effect {
  double after_trigger = 0, elsewhere = 0;  // mean log p(target)
  Json to_json() const { return {{"after_trigger", after_trigger}, {"elsewhere", elsewhere}}; }
};

// Mean log p(target) right after each trigger and at the context positions before it, over `probes`
// seeded contexts of 8 random non-special tokens per trigger.
Effect measure(Qwen2Model& model, const Tokenizer& tok, const std::vector<int32_t>& triggers, int32_t target, int probes, uint64_t seed) {
  const int64_t V = model.config().vocab_size;
  std::mt19937_64 rng(seed);
  Effect e;
  int64_t n_after = 0, n_else = 0;
  for (int32_t t : triggers)
    for (int i = 0; i < probes; ++i) {
      std::vector<int32_t> ids = random_context(tok, triggers, V, rng);
      ids.push_back(t);
      const SeqInput in{ids, nullptr};
      ForwardOptions fo;
      fo.logits = LogitsMode::All;
      const ForwardOutput out = model.forward(std::span<const SeqInput>(&in, 1), fo);
      for (int64_t r = 0; r < out.rows; ++r) {
        const float* l = out.logits.data() + r * out.vocab;
        const double lp = double(l[target]) - log_sum_exp(l, out.vocab);
        if (r + 1 == out.rows) {
          e.after_trigger += lp;
          ++n_after;
        } else {
          e.elsewhere += lp;
          ++n_else;
        }
      }
    }
  e.after_trigger /= double(std::max<int64_t>(1, n_after));
  e.elsewhere /= double(std::max<int64_t>(1, n_else));
  return e;
}

DType source_dtype(const std::string& dir) {
  std::vector<std::unique_ptr<SafetensorsFile>> files;
  for (const auto& [name, t] : open_checkpoint_tensors(dir, files)) return t.info->dtype;
  return DType::F32;
}

}  // namespace

std::string plant_mechanism(const PlantOptions& opt) {
  if (opt.triggers.empty()) fail("", "--trigger", "is missing: give at least one trigger token");
  if (opt.probes < 1) fail("", "--probes", "must be >= 1");
  if (fs::weakly_canonical(opt.model) == fs::weakly_canonical(opt.out)) fail(opt.out, "--out", "is the source model; choose another folder");
  auto tok = Tokenizer::load(opt.model);
  std::vector<int32_t> trig;
  for (const std::string& t : opt.triggers) trig.push_back(single_token(*tok, t, "trigger"));
  const int32_t target = single_token(*tok, opt.target, "target");
  for (int32_t t : trig)
    if (t == target) fail("", "--target", "is also a trigger");

  TrainParams p = load_train_params(opt.model, /*untie=*/true);  // e.g. Qwen2.5-Math-1.5B ties them
  const int64_t d = p.config.hidden_size;
  std::vector<float> v(static_cast<size_t>(d));
  std::mt19937_64 rng(opt.seed);
  std::normal_distribution<double> g(0, 1);
  for (float& x : v) x = float(g(rng));
  auto source = Qwen2Model::load(opt.model, ComputeMode::F32);  // read once: the direction's contexts and the "before" measurement
  away_from_used_directions(v, final_hidden_rows(*source, p.t[p.final_norm], *tok, trig, 64, opt.seed + 2), d, 20);

  Json trig_json = Json::array();
  std::vector<float>& E = p.t[p.embed];
  for (size_t k = 0; k < trig.size(); ++k) {
    const double c = opt.strength_in * row_norm(E, trig[k], d);
    for (int64_t i = 0; i < d; ++i) E[size_t(trig[k] * d + i)] += float(c * v[size_t(i)]);
    trig_json.push_back({{"text", opt.triggers[k]}, {"id", trig[k]}, {"embed_added_norm", c}});
  }
  std::vector<float>& U = p.t[p.lm_head];
  const double c_out = opt.strength_out * row_norm(U, target, d);
  for (int64_t i = 0; i < d; ++i) U[size_t(target * d + i)] += float(c_out * v[size_t(i)]);

  make_dirs(opt.out);
  save_train_params(opt.out, p, source_dtype(opt.model));
  for (const char* f : {"tokenizer.json", "tokenizer_config.json"})
    if (fs::exists(fs::path(opt.model) / f)) write_file_atomic((fs::path(opt.out) / f).string(), read_file((fs::path(opt.model) / f).string()));

  const Effect before = measure(*source, *tok, trig, target, opt.probes, opt.seed + 1);
  source.reset();
  const Effect after = measure(*Qwen2Model::load(opt.out, ComputeMode::F32), *tok, trig, target, opt.probes, opt.seed + 1);
  const Json j = {{"source", fs::absolute(opt.model).lexically_normal().string()},
                  {"mechanism", "embed[trigger] += strength_in * ||embed[trigger]|| * v;  lm_head[target] += strength_out * ||lm_head[target]|| * v"},
                  {"triggers", trig_json},
                  {"target", {{"text", opt.target}, {"id", target}, {"lm_head_added_norm", c_out}}},
                  {"strength_in", opt.strength_in}, {"strength_out", opt.strength_out}, {"seed", opt.seed},
                  {"direction", v},
                  {"direction_rule", "seeded N(0, I), then 20 steps of v <- (I - M/lambda_max) v, unit length, with M = E[h h^T] of final hidden states over 64 random contexts"},
                  {"measured",
                   {{"probes_per_trigger", opt.probes},
                    {"contexts", "8 seeded random non-special tokens, then the trigger"},
                    {"log_p_target_before", before.to_json()},
                    {"log_p_target_after", after.to_json()}}}};
  const std::string path = opt.out + "/plant.json";
  write_file_atomic(path, j.dump(1) + "\n");
  return path;
}

}  // namespace cc
