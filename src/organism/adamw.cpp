// AdamW over TrainParams (the kernel: core/optim) and the learning-rate schedule of the organism trainer.
#include "organism/adamw.hpp"

#include <cmath>

#include "core/optim.hpp"

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
  std::vector<OptimTensor> ts;
  for (size_t k = 0; k < p.t.size(); ++k)
    ts.push_back({p.t[k].data(), g.t[k].data(), s.m[k].data(), s.v[k].data(), p.t[k].size(), p.manifest[k].shape.size() == 2});
  adamw_update(ts, s.t, lr, b1, b2, wd, eps);
}

double clip_grad_norm(TrainParams& g, double max_norm) {
  std::vector<std::pair<float*, size_t>> ts;
  for (auto& x : g.t) ts.push_back({x.data(), x.size()});
  return clip_grad_norm(ts, max_norm);
}

double warmup_cosine_lr(int64_t step, int64_t total, int64_t warmup, double max_lr, double min_lr) {
  if (warmup > 0 && step < warmup) return max_lr * double(step + 1) / double(warmup);
  if (step >= total) return min_lr;
  const double span = double(std::max<int64_t>(1, total - warmup));
  const double progress = double(step - warmup) / span;
  return min_lr + 0.5 * (max_lr - min_lr) * (1.0 + std::cos(M_PI * progress));
}

}  // namespace cc
