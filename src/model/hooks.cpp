// Hook registry and the stock hooks (add a vector, capture).
#include "model/hooks.hpp"

#include <algorithm>
#include <regex>

#include "core/error.hpp"

namespace cc {

void Hooks::add(int site, HookFn fn) { fns_.emplace_back(site, std::move(fn)); }

int Hooks::max_site() const {
  int m = -1;
  for (const auto& [s, f] : fns_) m = std::max(m, s);
  return m;
}

void Hooks::run(HookContext& ctx) const {
  for (const auto& [s, f] : fns_)
    if (s == ctx.site) f(ctx);
}

int parse_hook_site(const std::string& name, int64_t n_layers) {
  std::smatch m;
  int layer = -1;
  bool post = false;
  if (std::regex_match(name, m, std::regex("[0-9]{1,6}"))) {
    layer = std::stoi(name);
  } else if (std::regex_match(name, m, std::regex("blocks\\.([0-9]{1,6})\\.hook_resid_(pre|post)"))) {
    layer = std::stoi(m[1]);
    post = m[2] == "post";
  } else {
    fail("", name, "is not a hook name", "blocks.L.hook_resid_pre, blocks.L.hook_resid_post or a layer number L");
  }
  if (layer >= n_layers)
    fail("", name, "is outside the model", "layer 0.." + std::to_string(n_layers - 1), std::to_string(layer));
  return layer + (post ? 1 : 0);
}

std::string hook_site_name(int site, int64_t n_layers) {
  if (site == n_layers) return "blocks." + std::to_string(n_layers - 1) + ".hook_resid_post";
  return "blocks." + std::to_string(site) + ".hook_resid_pre";
}

HookFn make_add_hook(std::vector<float> v, float alpha, int32_t from_pos) {
  return [v = std::move(v), alpha, from_pos](HookContext& c) {
    if (int64_t(v.size()) != c.d) fail("", "steering vector", "has wrong length", std::to_string(c.d), std::to_string(v.size()));
    for (int64_t r = 0; r < c.rows; ++r) {
      if (c.info[size_t(r)].pos < from_pos) continue;
      float* x = c.x + r * c.d;
      for (int64_t i = 0; i < c.d; ++i) x[i] += alpha * v[size_t(i)];
    }
  };
}

HookFn make_capture_hook(std::vector<float>* out) {
  return [out](HookContext& c) { out->insert(out->end(), c.x, c.x + c.rows * c.d); };
}

}  // namespace cc
