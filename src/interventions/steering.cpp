// Steering vectors from crosscoder checkpoints.
#include "interventions/steering.hpp"

#include "core/error.hpp"
#include "core/strings.hpp"
#include "crosscoder/crosscoder.hpp"

namespace cc {

SteerSpec parse_steer(const std::string& s) {
  auto parts = split(s, ':');
  SteerSpec sp;
  if (parts.size() == 4) {
    if (parts[3] != "A" && parts[3] != "B") fail("", "--steer " + s, "has a bad model slice", "A or B", parts[3]);
    sp.model = parts[3] == "A" ? 0 : 1;
    parts.pop_back();
  }
  if (parts.size() != 3 || parts[0].empty()) fail("", "--steer " + s, "is not CKPT:FEATURE:ALPHA", "e.g. ckpt:123:4.0", s);
  sp.crosscoder = parts[0];
  char* end = nullptr;
  sp.feature = std::strtoll(parts[1].c_str(), &end, 10);
  if (parts[1].empty() || *end || sp.feature < 0) fail("", "--steer " + s, "has a bad feature index", "an integer >= 0", parts[1]);
  sp.alpha = std::strtod(parts[2].c_str(), &end);
  if (parts[2].empty() || *end) fail("", "--steer " + s, "has a bad alpha", "a number", parts[2]);
  return sp;
}

SteeringVector load_steering_vector(const std::string& crosscoder, int64_t feature, int slice, int64_t n_layers, int64_t d_model) {
  CrosscoderParams p;
  CrosscoderConfig c;
  load_crosscoder(crosscoder, p, c);
  const std::string cfg = crosscoder + "/config.json";
  if (c.d_in != d_model) fail(cfg, "d_in", "does not match the model's hidden_size", std::to_string(d_model), std::to_string(c.d_in));
  if (feature < 0 || feature >= c.dict_size)
    fail(cfg, "feature " + std::to_string(feature), "is out of range", "0.." + std::to_string(c.dict_size - 1), std::to_string(feature));
  if (c.hook.empty()) fail(cfg, "hook", "is not recorded; cannot tell where to steer");
  SteeringVector sv;
  sv.site = parse_hook_site(c.hook, n_layers);
  sv.v.resize(size_t(d_model));
  const double s = c.norm_factors[size_t(slice)];
  for (int64_t i = 0; i < d_model; ++i) sv.v[size_t(i)] = float(p.W_dec[size_t(feature * 2 * d_model + slice * d_model + i)] / s);
  return sv;
}

void add_steering_hooks(Hooks& hooks, const std::vector<SteerSpec>& specs, int64_t n_layers, int64_t d_model, int32_t from_pos) {
  for (const SteerSpec& sp : specs) {
    SteeringVector sv = load_steering_vector(sp.crosscoder, sp.feature, sp.model, n_layers, d_model);
    hooks.add(sv.site, make_add_hook(std::move(sv.v), float(sp.alpha), from_pos));
  }
}

}  // namespace cc
