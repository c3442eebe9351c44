#include "crosscoder/dictionary_learning.hpp"

#include <cmath>
#include <cstring>
#include <filesystem>

#include "core/atomic_file.hpp"
#include "core/error.hpp"
#include "core/json_file.hpp"
#include "core/safetensors.hpp"
#include "crosscoder/crosscoder.hpp"

namespace cc {

// dictionary_learning's CodeNormalization enum (Enum with auto(), so it counts from 1).
static constexpr int64_t kCodeNormCrosscoder = 1;
static constexpr const char* kSidecar = "crosscoder_cpp.json";

void export_dictionary_learning(const std::string& checkpoint_dir, const std::string& out_dir) {
  CrosscoderParams p;
  CrosscoderConfig c;
  load_crosscoder(checkpoint_dir, p, c);
  const int64_t d = p.d, F = p.F;
  const std::vector<float> enc = encoder_weight_2dF(p);  // [2, d, F], its encoder.weight as is
  std::vector<float> dec(size_t(2 * F * d));             // [2, F, d] from our [F, 2, d]
  for (int64_t f = 0; f < F; ++f)
    for (int64_t m = 0; m < 2; ++m)
      for (int64_t i = 0; i < d; ++i) dec[size_t((m * F + f) * d + i)] = p.W_dec[size_t((f * 2 + m) * d + i)];
  const int64_t code_norm = kCodeNormCrosscoder;
  const int32_t k = int32_t(c.k);
  const bool topk = c.architecture == Arch::BatchTopK;
  std::vector<TensorToWrite> t = {{"encoder.weight", DType::F32, {2, d, F}, enc.data()},
                                  {"encoder.bias", DType::F32, {F}, p.b_enc.data()},
                                  {"decoder.weight", DType::F32, {2, F, d}, dec.data()},
                                  {"decoder.bias", DType::F32, {2, d}, p.b_dec.data()},
                                  {"code_normalization_id", DType::I64, {}, &code_norm}};
  if (topk) {
    t.push_back({"k", DType::I32, {}, &k});
    t.push_back({"threshold", DType::F32, {}, &p.threshold});
  }
  make_dirs(out_dir);
  write_safetensors(out_dir + "/model.safetensors", t, {{"format", "pt"}});
  Json init = {{"activation_dim", d}, {"dict_size", F}, {"num_layers", 2}, {"code_normalization", "CROSSCODER"}};
  if (topk) init["k"] = c.k;
  write_file_atomic(out_dir + "/config.json", init.dump(2) + "\n");
  Json side = {{"dict_class", topk ? "BatchTopKCrossCoder" : "CrossCoder"},
               {"layers", {"base (A)", "distilled (B)"}},
               {"norm_factors", c.norm_factors},
               {"inputs", "raw residuals at the hook times norm_factors[layer], as crosscoder.cpp trained on"},
               {"config", c.to_json()}};
  write_file_atomic(out_dir + "/" + kSidecar, side.dump(2) + "\n");
}

// A tensor of the export's state dict, checked for dtype and shape.
static const TensorInfo& tensor(const SafetensorsFile& f, const std::string& name, DType dt, const Shape& shape) {
  const TensorInfo* t = f.find(name);
  if (!t) fail(f.path(), name, "is missing", "dictionary_learning's CrossCoder state dict", "no such tensor");
  if (t->dtype != dt) fail(f.path(), name, "has an unsupported dtype", dtype_name(dt), dtype_name(t->dtype));
  if (t->shape != shape) fail(f.path(), name, "has the wrong shape", shape_str(shape), shape_str(t->shape));
  return *t;
}

template <class T>
static T scalar(const TensorInfo& t) {
  T v;
  std::memcpy(&v, t.data, sizeof(T));
  return v;
}

// An integer scalar of the state dict (torch writes I64 for th.tensor(n), I32 for dtype=th.int).
static int64_t int_scalar(const SafetensorsFile& f, const TensorInfo& t) {
  if (t.shape != Shape{}) fail(f.path(), t.name, "has the wrong shape", "[] (a scalar)", shape_str(t.shape));
  if (t.dtype == DType::I64) return scalar<int64_t>(t);
  if (t.dtype == DType::I32) return scalar<int32_t>(t);
  fail(f.path(), t.name, "has an unsupported dtype", "I32 or I64", dtype_name(t.dtype));
}

// Our config for an import: the sidecar's when there is one (a round trip), else built from the
// state dict; either way checked against the tensors' shapes.
static CrosscoderConfig import_config(const std::string& dir, const SafetensorsFile& f, int64_t d, int64_t F) {
  const std::string side_path = dir + "/" + kSidecar;
  CrosscoderConfig c;
  if (std::filesystem::exists(side_path)) {
    const Json side = read_json_file(side_path);
    if (!side.contains("config")) fail(side_path, "config", "is missing", "crosscoder.cpp's config of the exported checkpoint", "none");
    c = CrosscoderConfig::from_json(side["config"], side_path);
    if (c.d_in != d || c.dict_size != F)
      fail(side_path, "config", "does not match model.safetensors", "d_in " + std::to_string(d) + ", dict_size " + std::to_string(F),
           "d_in " + std::to_string(c.d_in) + ", dict_size " + std::to_string(c.dict_size));
  } else {
    c.d_in = d;
    c.dict_size = F;
    c.architecture = f.find("k") ? Arch::BatchTopK : Arch::L1;
  }
  if (const TensorInfo* k = f.find("k")) {
    c.k = int_scalar(f, *k);
    if (c.k <= 0) fail(f.path(), "k", "must be a positive integer", "> 0", std::to_string(c.k));
  }
  return c;
}

void import_dictionary_learning(const std::string& export_dir, const std::string& checkpoint_dir) {
  SafetensorsFile f(export_dir + "/model.safetensors");
  const TensorInfo* w = f.find("encoder.weight");
  if (!w) fail(f.path(), "encoder.weight", "is missing", "dictionary_learning's CrossCoder state dict", "no such tensor");
  if (w->shape.size() != 3 || w->shape[0] != 2)
    fail(f.path(), "encoder.weight", "is not a two-model crosscoder", "[2, d, F]", shape_str(w->shape));
  const int64_t d = w->shape[1], F = w->shape[2];
  // Older exports have no code_normalization_id; dictionary_learning then assumes CROSSCODER too.
  const TensorInfo* code_norm = f.find("code_normalization_id");
  const int64_t cn = code_norm ? int_scalar(f, *code_norm) : kCodeNormCrosscoder;
  if (cn != kCodeNormCrosscoder)
    fail(f.path(), "code_normalization_id", "is not CROSSCODER (the sum of the two decoder norms, ours)", "1", std::to_string(cn));
  CrosscoderConfig c = import_config(export_dir, f, d, F);
  CrosscoderParams p;
  p.resize(d, F);
  const float* enc = reinterpret_cast<const float*>(tensor(f, "encoder.weight", DType::F32, {2, d, F}).data);
  const float* dec = reinterpret_cast<const float*>(tensor(f, "decoder.weight", DType::F32, {2, F, d}).data);
  std::memcpy(p.b_enc.data(), tensor(f, "encoder.bias", DType::F32, {F}).data, sizeof(float) * size_t(F));
  std::memcpy(p.b_dec.data(), tensor(f, "decoder.bias", DType::F32, {2, d}).data, sizeof(float) * size_t(2 * d));
  for (int64_t ff = 0; ff < F; ++ff)
    for (int64_t m = 0; m < 2; ++m)
      for (int64_t i = 0; i < d; ++i) {
        p.W_encT[size_t(ff * 2 * d + m * d + i)] = enc[size_t((m * d + i) * F + ff)];
        p.W_dec[size_t((ff * 2 + m) * d + i)] = dec[size_t((m * F + ff) * d + i)];
      }
  if (c.architecture == Arch::BatchTopK) {
    const float theta = scalar<float>(tensor(f, "threshold", DType::F32, {}));
    if (!std::isfinite(theta)) fail(f.path(), "threshold", "is not finite", "a number", std::to_string(theta));
    p.threshold = theta < 0 ? 0.f : theta;  // its -1 (not learned) infers as our 0: plain ReLU
  }
  save_crosscoder(checkpoint_dir, p, c);
}

}  // namespace cc
