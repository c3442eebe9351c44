// AdamW and the learning-rate schedule of the organism trainer.
#include "organism/adamw.hpp"

#include <cmath>

namespace cc {

void AdamWState::init(const TrainParams& p) {
  m.clear();
  v.clear();
  for (const auto& x : p.t) {
    m.emplace_back(x.size(), 0.f);
    v.emplace_back(x.size(), 0.f);
  }
  t = 0;
}

void adamw_step(TrainParams& p, const TrainParams& g, AdamWState& s, double lr, double b1, double b2, double wd, double eps) {
  ++s.t;
  const double c1 = 1.0 - std::pow(b1, double(s.t)), c2 = 1.0 - std::pow(b2, double(s.t));
  const float step = float(lr / c1), inv_c2 = float(1.0 / c2), fb1 = float(b1), fb2 = float(b2), feps = float(eps);
  for (size_t k = 0; k < p.t.size(); ++k) {
    const bool decay = p.manifest[k].shape.size() == 2;
    const float keep = decay ? float(1.0 - lr * wd) : 1.f;
    float* w = p.t[k].data();
    const float* gr = g.t[k].data();
    float* m = s.m[k].data();
    float* v = s.v[k].data();
    for (size_t i = 0; i < p.t[k].size(); ++i) {
      w[i] *= keep;
      m[i] = fb1 * m[i] + (1.f - fb1) * gr[i];
      v[i] = fb2 * v[i] + (1.f - fb2) * gr[i] * gr[i];
      w[i] -= step * m[i] / (std::sqrt(v[i] * inv_c2) + feps);
    }
  }
}

double clip_grad_norm(TrainParams& g, double max_norm) {
  double ss = 0;
  for (const auto& x : g.t)
    for (float v : x) ss += double(v) * v;
  const double norm = std::sqrt(ss);
  if (norm > max_norm && std::isfinite(norm)) {  // a non-finite norm is the caller's to report
    const float s = float(max_norm / (norm + 1e-6));
    for (auto& x : g.t)
      for (float& v : x) v *= s;
  }
  return norm;
}

double warmup_cosine_lr(int64_t step, int64_t total, int64_t warmup, double max_lr, double min_lr) {
  if (warmup > 0 && step < warmup) return max_lr * double(step + 1) / double(warmup);
  if (step >= total) return min_lr;
  const double span = double(std::max<int64_t>(1, total - warmup));
  const double progress = double(step - warmup) / span;
  return min_lr + 0.5 * (max_lr - min_lr) * (1.0 + std::cos(M_PI * progress));
}

}  // namespace cc
