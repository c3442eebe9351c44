// Parameter storage, init and checkpoint I/O.
#include "crosscoder/crosscoder.hpp"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <random>

#include "core/atomic_file.hpp"
#include "core/error.hpp"
#include "core/finite.hpp"
#include "core/safetensors.hpp"
#include "crosscoder/feature_shard.hpp"
#include "dist/comm.hpp"

namespace cc {

const char* arch_name(Arch a) { return a == Arch::BatchTopK ? "batchtopk" : "l1"; }

Arch arch_from_name(const std::string& name, const std::string& origin) {
  if (name == "l1") return Arch::L1;
  if (name == "batchtopk") return Arch::BatchTopK;
  fail(origin, "architecture", "is not a crosscoder architecture", "l1 or batchtopk", name);
}

Json CrosscoderConfig::to_json() const {
  return {{"d_in", d_in}, {"dict_size", dict_size}, {"architecture", arch_name(architecture)}, {"l1_coeff", l1_coeff}, {"k", k},
          {"aux_coeff", aux_coeff}, {"lr", lr}, {"beta1", beta1}, {"beta2", beta2}, {"batch_size", batch_size},
          {"num_tokens", num_tokens}, {"dec_init_norm", dec_init_norm}, {"seed", seed}, {"lr_decay_frac", lr_decay_frac},
          {"l1_warmup_frac", l1_warmup_frac}, {"grad_clip", grad_clip}, {"dead_tokens", dead_tokens},
          {"threshold_start_step", threshold_start_step}, {"norm_factors", norm_factors}, {"hook", hook},
          {"base_model", base_model}, {"distilled_model", distilled_model}, {"acts", acts}, {"n_models", 2}};
}

CrosscoderConfig CrosscoderConfig::from_json(const Json& j, const std::string& o) {
  CrosscoderConfig c;
  c.d_in = json_get<int64_t>(j, "d_in", o);
  c.dict_size = json_get<int64_t>(j, "dict_size", o);
  c.architecture = arch_from_name(json_get_or<std::string>(j, "architecture", "l1", o), o);
  c.l1_coeff = json_get_or<double>(j, "l1_coeff", c.l1_coeff, o);
  c.k = json_get_or<int64_t>(j, "k", c.k, o);
  c.aux_coeff = json_get_or<double>(j, "aux_coeff", c.aux_coeff, o);
  c.lr = json_get_or<double>(j, "lr", c.lr, o);
  c.beta1 = json_get_or<double>(j, "beta1", c.beta1, o);
  c.beta2 = json_get_or<double>(j, "beta2", c.beta2, o);
  c.batch_size = json_get_or<int64_t>(j, "batch_size", c.batch_size, o);
  c.num_tokens = json_get_or<int64_t>(j, "num_tokens", c.num_tokens, o);
  c.dec_init_norm = json_get_or<double>(j, "dec_init_norm", c.dec_init_norm, o);
  c.seed = uint64_t(json_get_or<int64_t>(j, "seed", int64_t(c.seed), o));
  c.lr_decay_frac = json_get_or<double>(j, "lr_decay_frac", c.lr_decay_frac, o);
  c.l1_warmup_frac = json_get_or<double>(j, "l1_warmup_frac", c.l1_warmup_frac, o);
  c.grad_clip = json_get_or<double>(j, "grad_clip", c.grad_clip, o);
  // "dead_window" is the name checkpoints written before 0.2 used.
  c.dead_tokens = json_get_or<int64_t>(j, j.contains("dead_tokens") ? "dead_tokens" : "dead_window", c.dead_tokens, o);
  c.threshold_start_step = json_get_or<int64_t>(j, "threshold_start_step", c.threshold_start_step, o);
  if (j.contains("norm_factors") && j["norm_factors"].is_array()) c.norm_factors = j["norm_factors"].get<std::vector<double>>();
  c.hook = json_get_or<std::string>(j, "hook", "", o);
  c.base_model = json_get_or<std::string>(j, "base_model", "", o);
  c.distilled_model = json_get_or<std::string>(j, "distilled_model", "", o);
  c.acts = json_get_or<std::string>(j, "acts", "", o);
  if (c.d_in <= 0 || c.dict_size <= 0) fail(o, "d_in/dict_size", "must be positive");
  if (c.norm_factors.size() != 2) fail(o, "norm_factors", "must have two entries", "2", std::to_string(c.norm_factors.size()));
  return c;
}

std::optional<double> decoder_nrn(double norm_a, double norm_b) {
  if (!(norm_a + norm_b > 0)) return std::nullopt;
  return norm_b / (norm_a + norm_b);
}

void CrosscoderConfig::resolve_schedule() {
  if (dead_tokens < 0) dead_tokens = std::min<int64_t>(10'000'000, std::max<int64_t>(batch_size, num_tokens / 10));
  if (threshold_start_step < 0) threshold_start_step = std::min<int64_t>(1000, steps() / 20);
}

void crosscoder_scale_inputs(const CrosscoderConfig& c, float* x, int64_t B) {
  const int64_t d = c.d_in;
  const float s[2] = {float(c.norm_factors[0]), float(c.norm_factors[1])};
  for (int64_t b = 0; b < B; ++b)
    for (int m = 0; m < 2; ++m)
      for (int64_t i = 0; i < d; ++i) x[(b * 2 + m) * d + i] *= s[m];
}

void crosscoder_pair_rows(const float* a, const float* b, int64_t rows, int64_t d, float* X) {
  for (int64_t r = 0; r < rows; ++r) {
    std::copy_n(a + r * d, d, X + r * 2 * d);
    std::copy_n(b + r * d, d, X + r * 2 * d + d);
  }
}

void CrosscoderParams::resize(int64_t d_, int64_t F_) {
  d = d_;
  F = F_;
  W_encT.assign(size_t(F * 2 * d), 0.f);
  b_enc.assign(size_t(F), 0.f);
  W_dec.assign(size_t(F * 2 * d), 0.f);
  b_dec.assign(size_t(2 * d), 0.f);
}

size_t CrosscoderParams::Named::size() const {
  size_t n = 1;
  for (int64_t s : shape) n *= size_t(s);
  return n;
}

std::vector<CrosscoderParams::Named> CrosscoderParams::named_tensors() {
  const int64_t D2 = 2 * d;
  return {{"W_encT", {F, D2}, W_encT.data()}, {"b_enc", {F}, b_enc.data()}, {"W_dec", {F, D2}, W_dec.data()}, {"b_dec", {D2}, b_dec.data()}};
}

std::vector<std::pair<float*, size_t>> CrosscoderParams::tensors() {
  std::vector<std::pair<float*, size_t>> out;
  for (const Named& t : named_tensors()) out.push_back({t.data, t.size()});
  return out;
}

void crosscoder_init(CrosscoderParams& p, int64_t d, int64_t F, double dec_norm, uint64_t seed, int64_t f0, int64_t f1) {
  if (f1 < 0) f1 = F;
  p.resize(d, f1 - f0);
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> n(0.f, 1.f);
  std::vector<float> row(size_t(2 * d));
  for (int64_t f = 0; f < f1; ++f) {  // every row up to f1 draws its numbers, in order
    for (auto& w : row) w = n(rng);
    if (f < f0) continue;
    for (int m = 0; m < 2; ++m) {
      float* r = row.data() + m * d;
      double s = 0;
      for (int64_t i = 0; i < d; ++i) s += double(r[i]) * r[i];
      const float scale = float(dec_norm / std::sqrt(s));
      for (int64_t i = 0; i < d; ++i) r[i] *= scale;
    }
    std::copy(row.begin(), row.end(), p.W_dec.begin() + (f - f0) * 2 * d);
  }
  p.W_encT = p.W_dec;  // W_enc[m,:,f] = W_dec[f,m,:], i.e. W_encT == W_dec
}

void decoder_norms(const CrosscoderParams& p, std::vector<float>& out) {
  out.resize(size_t(p.F * 2));
  for (int64_t f = 0; f < p.F; ++f)
    for (int m = 0; m < 2; ++m) {
      const float* r = p.W_dec.data() + f * 2 * p.d + m * p.d;
      double s = 0;
      for (int64_t i = 0; i < p.d; ++i) s += double(r[i]) * r[i];
      out[size_t(f * 2 + m)] = float(std::sqrt(s));
    }
}

std::vector<float> encoder_weight_2dF(const CrosscoderParams& p) {
  const int64_t F = p.F, D2 = 2 * p.d;
  std::vector<float> w(size_t(F * D2));
  for (int64_t f = 0; f < F; ++f)
    for (int64_t k = 0; k < D2; ++k) w[size_t(k * F + f)] = p.W_encT[size_t(f * D2 + k)];
  return w;
}

void save_crosscoder(const std::string& dir, const CrosscoderParams& p, const CrosscoderConfig& c) {
  save_crosscoder(dir, p, c, FeatureShard::whole_dictionary(p.F));
}

void save_crosscoder(const std::string& dir, const CrosscoderParams& p, const CrosscoderConfig& c, const FeatureShard& s) {
  const int64_t d = p.d, F = s.F;
  if (dist::root()) make_dirs(dir);
  write_sharded_safetensors(dir + "/crosscoder.safetensors",
                            {{"W_enc", DType::F32, {2, d, F}, nullptr},  // [2, d, F] from the rows of [F, 2d]
                             {"W_dec", DType::F32, {F, 2, d}, nullptr},
                             {"b_enc", DType::F32, {F}, nullptr},
                             {"b_dec", DType::F32, {2, d}, nullptr}},
                            {{"format", "pt"}}, [&](size_t i, const RowWriter& write) {
                              if (i == 0) stream_columns(p.W_encT.data(), 2 * d, s, write);
                              if (i == 1) stream_rows(p.W_dec.data(), size_t(2 * d) * sizeof(float), s, write);
                              if (i == 2) stream_rows(p.b_enc.data(), sizeof(float), s, write);
                              if (i == 3 && dist::root()) write(p.b_dec.data(), size_t(2 * d) * sizeof(float));  // the same on every rank
                            });
  if (!dist::root()) return;
  Json j = c.to_json();
  j["threshold"] = p.threshold;
  write_file_atomic(dir + "/config.json", j.dump(2));
}

void load_crosscoder(const std::string& dir, CrosscoderParams& p, CrosscoderConfig& c, int64_t f0, int64_t f1) {
  const std::string cp = dir + "/config.json";
  Json j = read_json_file(cp);
  c = CrosscoderConfig::from_json(j, cp);
  SafetensorsFile f(dir + "/crosscoder.safetensors");
  const int64_t d = c.d_in, F = c.dict_size;
  // Every tensor is checked against config.json before anything is allocated from its numbers.
  auto find = [&](const char* name, const Shape& shape) {
    const TensorInfo* t = f.find(name);
    if (!t) fail(f.path(), name, "is missing");
    if (t->shape != shape) fail(f.path(), name, "has wrong shape", shape_str(shape), shape_str(t->shape), "does config.json belong to it?");
    if (t->dtype != DType::F32 && t->dtype != DType::BF16 && t->dtype != DType::F16)
      fail(f.path(), name, "has an unsupported dtype", "F32", dtype_name(t->dtype));
    check_finite(t->dtype, t->data, t->shape, f.path(), name, "", "the checkpoint is corrupt");
    return t;
  };
  const TensorInfo* enc = find("W_enc", {2, d, F});
  const TensorInfo* dec = find("W_dec", {F, 2, d});
  const TensorInfo* benc = find("b_enc", {F});
  const TensorInfo* bdec = find("b_dec", {2, d});
  if (f1 < 0) f1 = F;
  const int64_t Fl = f1 - f0;
  p.resize(d, Fl);
  p.threshold = float(json_get_or<double>(j, "threshold", 0.0, cp));
  if (!std::isfinite(p.threshold) || p.threshold < 0) fail(cp, "threshold", "must be a finite number >= 0", ">= 0", std::to_string(p.threshold));
  const size_t es = dtype_size(enc->dtype);
  std::vector<float> W_enc(size_t(2 * d * Fl));  // [2d, Fl]: this slice's columns of each row
  for (int64_t jj = 0; jj < 2 * d; ++jj)
    convert_to_f32(enc->dtype, enc->data + (jj * F + f0) * es, W_enc.data() + jj * Fl, size_t(Fl));
  for (int64_t f2 = 0; f2 < Fl; ++f2)
    for (int64_t jj = 0; jj < 2 * d; ++jj) p.W_encT[size_t(f2 * 2 * d + jj)] = W_enc[size_t(jj * Fl + f2)];
  convert_to_f32(dec->dtype, dec->data + f0 * 2 * d * dtype_size(dec->dtype), p.W_dec.data(), p.W_dec.size());
  convert_to_f32(benc->dtype, benc->data + f0 * dtype_size(benc->dtype), p.b_enc.data(), p.b_enc.size());
  convert_to_f32(bdec->dtype, bdec->data, p.b_dec.data(), p.b_dec.size());
}

}  // namespace cc
