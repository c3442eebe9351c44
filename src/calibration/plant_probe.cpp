#include "calibration/plant_probe.hpp"

#include <algorithm>
#include <cmath>

#include "core/error.hpp"
#include "crosscoder/step.hpp"
#include "interventions/ablation.hpp"
#include "interventions/held_out_pair.hpp"
#include "model/sampling.hpp"

namespace cc {

namespace {

// At most this many trigger rows are read from a store (a concept's triggers can be common tokens).
constexpr int64_t kMaxTriggerRows = 20000;

bool is_trigger(const std::vector<int32_t>& triggers, int32_t t) { return std::find(triggers.begin(), triggers.end(), t) != triggers.end(); }

// (d_B − d_A)_j as doubles, [d].
std::vector<double> decoder_delta(const CrosscoderParams& p, int64_t j) {
  std::vector<double> dd(static_cast<size_t>(p.d));
  const float* w = p.W_dec.data() + j * 2 * p.d;
  for (int64_t i = 0; i < p.d; ++i) dd[size_t(i)] = double(w[p.d + i]) - w[i];
  return dd;
}

double norm(const std::vector<double>& v) {
  double s = 0;
  for (double x : v) s += x * x;
  return std::sqrt(s);
}

double cosine(const std::vector<double>& a, const std::vector<double>& b) {
  double ab = 0;
  for (size_t i = 0; i < a.size(); ++i) ab += a[i] * b[i];
  const double na = norm(a), nb = norm(b);
  return na > 0 && nb > 0 ? ab / (na * nb) : 0.0;
}

}  // namespace

std::vector<float> trigger_rows(const ActivationStore& store, const CrosscoderConfig& c, const std::vector<int32_t>& triggers) {
  const int64_t D2 = 2 * store.d_model(), chunk = 8192;
  std::vector<float> out;
  for (int64_t r0 = 0; r0 < store.rows() && int64_t(out.size()) < kMaxTriggerRows * D2; r0 += chunk) {
    const ActivationBatch b = store.read(r0, std::min(chunk, store.rows() - r0));
    for (int64_t r = 0; r < b.rows && int64_t(out.size()) < kMaxTriggerRows * D2; ++r)
      if (is_trigger(triggers, b.tokens[size_t(r)])) out.insert(out.end(), b.acts.begin() + r * D2, b.acts.begin() + (r + 1) * D2);
  }
  crosscoder_scale_inputs(c, out.data(), int64_t(out.size()) / std::max<int64_t>(D2, 1));
  return out;
}

PlantDirection plant_direction(const std::vector<float>& X, int64_t d, const std::string& origin) {
  const int64_t D2 = 2 * d;
  PlantDirection out;
  out.rows = int64_t(X.size()) / D2;
  if (out.rows == 0) fail(origin, "tokens", "hold no trigger token", "at least one row on a trigger", "0 rows", "harvest more tokens");
  out.u.assign(size_t(d), 0.0);
  for (int64_t r = 0; r < out.rows; ++r)
    for (int64_t i = 0; i < d; ++i) out.u[size_t(i)] += (double(X[size_t(r * D2 + d + i)]) - X[size_t(r * D2 + i)]) / double(out.rows);
  return out;
}

PlantAttribution attribute_plant(const std::vector<float>& X, const CrosscoderParams& p, const CrosscoderConfig& c, const PlantDirection& u) {
  const int64_t d = p.d, D2 = 2 * d, F = p.F;
  const int64_t n = int64_t(X.size()) / D2;
  std::vector<float> f, norms;
  crosscoder_encode(p, c, X.data(), n, f);
  decoder_norms(p, norms);
  const double un = norm(u.u);
  std::vector<double> proj(static_cast<size_t>(F), 0.0), attr(static_cast<size_t>(F), 0.0), removed(static_cast<size_t>(F), 0.0);
  std::vector<int64_t> fired(static_cast<size_t>(F), 0);
  if (un > 0)
    for (int64_t j = 0; j < F; ++j) {  // (d_B − d_A)_j · û
      const std::vector<double> dd = decoder_delta(p, j);
      for (int64_t i = 0; i < d; ++i) proj[size_t(j)] += dd[size_t(i)] * u.u[size_t(i)] / un;
    }
  for (int64_t r = 0; r < n; ++r)
    for (int64_t j = 0; j < F; ++j)
      if (const float v = f[size_t(r * F + j)]; v > 0) {
        attr[size_t(j)] += v * proj[size_t(j)] / double(n);
        removed[size_t(j)] += double(v) * norms[size_t(2 * j + 1)];
        fired[size_t(j)]++;
      }
  PlantAttribution a;
  double positive = 0;
  for (int64_t j = 0; j < F; ++j) {
    positive += std::max(0.0, attr[size_t(j)]);
    if (fired[size_t(j)] > 0 && (a.feature < 0 || attr[size_t(j)] > a.attribution)) {
      a.feature = j;
      a.attribution = attr[size_t(j)];
    }
  }
  if (a.feature < 0) return a;
  const int64_t j = a.feature;
  a.share = positive > 0 ? std::max(0.0, a.attribution) / positive : 0.0;
  a.cos_u = cosine(decoder_delta(p, j), u.u);
  std::vector<double> dB(static_cast<size_t>(d));
  for (int64_t i = 0; i < d; ++i) dB[size_t(i)] = p.W_dec[size_t(j * D2 + d + i)];
  a.cos_u_distilled = cosine(dB, u.u);
  a.trigger_firing = double(fired[size_t(j)]) / double(std::max<int64_t>(n, 1));
  double best_gap = 0;
  for (int64_t k = 0; k < F; ++k) {
    if (k == j || removed[size_t(k)] <= 0 || removed[size_t(j)] <= 0) continue;
    const double gap = std::abs(std::log(removed[size_t(k)] / removed[size_t(j)]));
    if (a.control < 0 || gap < best_gap) {
      a.control = k;
      best_gap = gap;
    }
  }
  if (a.control >= 0) a.control_ratio = removed[size_t(a.control)] / removed[size_t(j)];
  return a;
}

namespace {

// log p(target) at rows `at` of one sequence, resuming model m's forward at the hook from x.
void log_p_at(Qwen2Model& model, int site, std::span<const int32_t> tokens, const std::vector<float>& x, const std::vector<int64_t>& at,
              int32_t target, std::vector<double>& out) {
  const SeqInput in{tokens, nullptr};
  ForwardOptions fo;
  fo.logits = LogitsMode::Rows;
  fo.logit_rows = at;
  fo.start_at_site = site;
  fo.start_x = x.data();
  const ForwardOutput o = model.forward(std::span<const SeqInput>(&in, 1), fo);
  for (int64_t r = 0; r < o.rows; ++r) {
    const float* l = o.logits.data() + r * o.vocab;
    out.push_back(double(l[target]) - log_sum_exp(l, o.vocab));
  }
}

}  // namespace

TriggerProbe probe_triggers(const CrosscoderParams& p, const CrosscoderConfig& c, const std::string& ccfg, const TriggerProbeOptions& opt) {
  auto pair = open_held_out_pair(opt, c, ccfg);
  const int64_t d = p.d, D2 = 2 * d, F = p.F;
  const int site = pair->site();
  std::vector<float> norms;
  decoder_norms(p, norms);
  TriggerProbe out;
  out.steered.resize(opt.alphas.size());
  const bool held_out_only = opt.eval_fraction > 0 || !opt.held_out_list.empty();
  for (int64_t s = 0; s < opt.sequences; ++s) {
    const PackedSequence q = pair->packer().next();
    std::vector<int64_t> at;
    for (size_t t = 0; t < q.tokens.size(); ++t)
      if (q.keep[t] && (!held_out_only || q.split[t] == 1) && is_trigger(opt.triggers, q.tokens[t])) at.push_back(int64_t(t));
    if (at.empty()) continue;
    ++out.sequences;
    const std::span<const int32_t> tokens(q.tokens.data(), size_t(at.back() + 1));
    std::vector<float> x[2];
    const SeqInput in{tokens, nullptr};
    for (int m = 0; m < 2; ++m) (m == 0 ? pair->base_model() : pair->distilled_model()).stream_at(std::span<const SeqInput>(&in, 1), site, x[m]);
    // The pair's features at the trigger rows.
    std::vector<float> X(at.size() * size_t(D2)), f;
    for (size_t k = 0; k < at.size(); ++k)
      for (int m = 0; m < 2; ++m) std::copy_n(x[m].begin() + at[k] * d, d, X.begin() + int64_t(k) * D2 + m * d);
    crosscoder_scale_inputs(c, X.data(), int64_t(at.size()));
    crosscoder_encode(p, c, X.data(), int64_t(at.size()), f);
    auto edited = [&](int m, int64_t j, double alpha, bool change) {  // x_m − f_j d_{j,m}/s_m, or + α f_j (d_B − d_A)_j / s_A
      std::vector<float> y = x[m];
      for (size_t k = 0; k < at.size(); ++k) {
        const double v = f[k * size_t(F) + size_t(j)];
        if (!(v > 0)) continue;
        const float* w = p.W_dec.data() + j * D2;
        for (int64_t i = 0; i < d; ++i) {
          const double dir = change ? alpha * (double(w[d + i]) - w[i]) : -double(w[m * d + i]);
          y[size_t(at[k] * d + i)] += float(v * dir / c.norm_factors[size_t(m)]);
        }
      }
      return y;
    };
    for (int m = 0; m < 2; ++m) {
      Qwen2Model& model = m == 0 ? pair->base_model() : pair->distilled_model();
      log_p_at(model, site, tokens, x[m], at, opt.target, out.clean[m]);
      log_p_at(model, site, tokens, edited(m, opt.feature, 0, false), at, opt.target, out.ablated[m]);
      if (opt.control >= 0) log_p_at(model, site, tokens, edited(m, opt.control, 0, false), at, opt.target, out.control[m]);
      for (size_t k = 0; k < at.size(); ++k) {
        out.removed[m] += double(f[k * size_t(F) + size_t(opt.feature)]) * norms[size_t(2 * opt.feature + m)];
        if (opt.control >= 0) out.control_removed[m] += double(f[k * size_t(F) + size_t(opt.control)]) * norms[size_t(2 * opt.control + m)];
      }
    }
    for (size_t a = 0; a < opt.alphas.size(); ++a)
      log_p_at(pair->base_model(), site, tokens, edited(0, opt.feature, opt.alphas[a], true), at, opt.target, out.steered[a]);
    out.unit.insert(out.unit.end(), at.size(), s);
    out.positions += int64_t(at.size());
  }
  if (out.positions == 0)
    fail("", "calibration corpora", "hold no trigger token in " + std::to_string(opt.sequences) + " held-out sequences", "", "",
         "raise the probe's sequences or choose a more frequent trigger");
  return out;
}

}  // namespace cc
