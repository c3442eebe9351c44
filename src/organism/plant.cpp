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

struct Effect {
  double after_trigger = 0, elsewhere = 0;  // mean log p(target)
  Json to_json() const { return {{"after_trigger", after_trigger}, {"elsewhere", elsewhere}}; }
};

// Mean log p(target) right after each trigger and at the context positions before it, over `probes`
// seeded contexts of 8 random non-special tokens per trigger.
Effect measure(const std::string& dir, const Tokenizer& tok, const std::vector<int32_t>& triggers, int32_t target, int probes, uint64_t seed) {
  auto model = Qwen2Model::load(dir, ComputeMode::F32);
  const int64_t V = model->config().vocab_size;
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<int32_t> pick(0, int32_t(std::min<int64_t>(V, int64_t(tok.vocab_size()))) - 1);
  Effect e;
  int64_t n_after = 0, n_else = 0;
  for (int32_t t : triggers)
    for (int i = 0; i < probes; ++i) {
      std::vector<int32_t> ids;
      while (ids.size() < 8) {
        const int32_t id = pick(rng);
        if (!tok.is_special(id) && std::find(triggers.begin(), triggers.end(), id) == triggers.end()) ids.push_back(id);
      }
      ids.push_back(t);
      const SeqInput in{ids, nullptr};
      ForwardOptions fo;
      fo.logits = LogitsMode::All;
      const ForwardOutput out = model->forward(std::span<const SeqInput>(&in, 1), fo);
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
  double n2 = 0;
  for (float& x : v) {
    x = float(g(rng));
    n2 += double(x) * x;
  }
  for (float& x : v) x = float(x / std::sqrt(n2));

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

  const Effect before = measure(opt.model, *tok, trig, target, opt.probes, opt.seed + 1);
  const Effect after = measure(opt.out, *tok, trig, target, opt.probes, opt.seed + 1);
  const Json j = {{"source", fs::absolute(opt.model).lexically_normal().string()},
                  {"mechanism", "embed[trigger] += strength_in * ||embed[trigger]|| * v;  lm_head[target] += strength_out * ||lm_head[target]|| * v"},
                  {"triggers", trig_json},
                  {"target", {{"text", opt.target}, {"id", target}, {"lm_head_added_norm", c_out}}},
                  {"strength_in", opt.strength_in}, {"strength_out", opt.strength_out}, {"seed", opt.seed},
                  {"direction", v},
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
