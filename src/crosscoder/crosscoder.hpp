// The crosscoder's parameters (n_models = 2) and their file format.
// On disk (crosscoder.safetensors, the reference PyTorch replication's names and shapes):
//   W_enc [2, d, F], W_dec [F, 2, d], b_enc [F], b_dec [2, d]   (F32)
// In memory W_enc is kept transposed, W_encT [F, 2d], so the encoder GEMM streams rows and the
// sparse encoder gradient touches one contiguous row per active feature.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/json_file.hpp"

namespace cc {

// The two training objectives (docs/CROSSCODER.md): the paper's L1 penalty on decoder-norm-weighted
// activations, or BatchTopK with an inference threshold θ.
enum class Arch { L1, BatchTopK };
const char* arch_name(Arch a);                                     // "l1" | "batchtopk"
Arch arch_from_name(const std::string& name, const std::string& origin);  // cc::Error naming origin

struct CrosscoderConfig {
  int64_t d_in = 0;                // d_model of each model, e.g. 1536
  int64_t dict_size = 32768;       // F
  Arch architecture = Arch::L1;
  double l1_coeff = 2.0;           // λ (L1 arch)
  int64_t k = 100;                 // active features per token on average (BatchTopK)
  double aux_coeff = 1.0 / 32;     // weight of the dead-feature auxiliary loss (BatchTopK)
  double lr = 5e-5;
  double beta1 = 0.9, beta2 = 0.999;
  int64_t batch_size = 4096;
  int64_t num_tokens = 400'000'000;  // token budget; steps = num_tokens / batch_size
  double dec_init_norm = 0.08;
  uint64_t seed = 49;
  double lr_decay_frac = 0.2;        // lr decays linearly to 0 over the last 20% of steps
  double l1_warmup_frac = 0.05;      // λ ramps up linearly over the first 5% of steps
  double grad_clip = 1.0;            // global L2 norm
  // A feature is dead after this many tokens without firing; -1 = auto: a tenth of the run, at most
  // 10M (the paper's window), so the auxiliary loss can act in a short run too.
  int64_t dead_tokens = -1;
  // BatchTopK: θ's EMA starts after this many steps; -1 = auto: 5% of the run, at most 1000, so a
  // short run ends with a learned θ rather than inferring with plain ReLU.
  int64_t threshold_start_step = -1;
  // The run-length-dependent defaults above, resolved for a run of steps() steps (idempotent).
  void resolve_schedule();
  std::vector<double> norm_factors = {1.0, 1.0};
  std::string hook, base_model, distilled_model, acts;

  int64_t steps() const { return num_tokens / batch_size; }
  Json to_json() const;
  static CrosscoderConfig from_json(const Json& j, const std::string& origin);
};

struct CrosscoderParams {
  int64_t d = 0, F = 0;      // D2 = 2d
  std::vector<float> W_encT;  // [F, 2d]
  std::vector<float> b_enc;   // [F]
  std::vector<float> W_dec;   // [F, 2d]  (feature f, model m, dim i) at f*2d + m*d + i
  std::vector<float> b_dec;   // [2d]
  float threshold = 0.f;      // BatchTopK inference threshold θ (0 = not yet learned)

  void resize(int64_t d, int64_t F);
  size_t num_params() const { return W_encT.size() + b_enc.size() + W_dec.size() + b_dec.size(); }
  // Every parameter tensor, named and shaped, in one fixed order: the one list that drives Adam,
  // clipping and the trainer's state file.
  struct Named {
    const char* name;  // "W_encT", "b_enc", "W_dec", "b_dec"
    std::vector<int64_t> shape;
    float* data;
    size_t size() const;
  };
  std::vector<Named> named_tensors();
  std::vector<std::pair<float*, size_t>> tensors();  // named_tensors() as (pointer, count)
};

// The paper's init: W_dec rows ~ N(0,1) rescaled so each (feature, model) row has norm
// dec_init_norm; W_enc[m,:,f] = W_dec[f,m,:]; biases zero. With features [f0, f1), p holds only
// those rows of the F-feature init (feature-parallel training; the whole dictionary by default).
void crosscoder_init(CrosscoderParams& p, int64_t d, int64_t F, double dec_norm, uint64_t seed, int64_t f0 = 0, int64_t f1 = -1);

// The crosscoder's input units: x [B, 2d] of raw residuals scaled in place by the store's norm
// factors, x[b, m, :] *= s_m (s_m = sqrt(d) / mean ||x_m||, docs/CROSSCODER.md).
void crosscoder_scale_inputs(const CrosscoderConfig& c, float* x, int64_t B);
// The crosscoder's input rows from the two models' streams: X[r] = (a[r], b[r]), X [rows, 2d] from
// a, b [rows, d] (raw units; scale them with crosscoder_scale_inputs).
void crosscoder_pair_rows(const float* a, const float* b, int64_t rows, int64_t d, float* X);

// NRN = ||d_B|| / (||d_A|| + ||d_B||) of one feature. A feature whose two decoders are both zero has
// none (nullopt): it writes nothing to either model, so it belongs to no NRN class and no pool.
std::optional<double> decoder_nrn(double norm_a, double norm_b);

// W_enc in its on-disk layout [2, d, F] (in memory it is kept transposed, W_encT [F, 2d]): for
// exports and Python, which hand the encoder out as the reference implementation names it.
std::vector<float> encoder_weight_2dF(const CrosscoderParams& p);

// ||W_dec[f, m, :]|| for m = 0, 1: out [F, 2].
void decoder_norms(const CrosscoderParams& p, std::vector<float>& out);

void save_crosscoder(const std::string& dir, const CrosscoderParams& p, const CrosscoderConfig& c);  // atomic
// Feature-parallel training: every rank calls it with its slice p of the dictionary `s`, rank 0
// writes the whole dictionary's files (the slices streamed to it; feature_shard.hpp).
struct FeatureShard;
void save_crosscoder(const std::string& dir, const CrosscoderParams& p, const CrosscoderConfig& c, const FeatureShard& s);
// With features [f0, f1), p holds only those rows (f1 = -1: the whole dictionary).
void load_crosscoder(const std::string& dir, CrosscoderParams& p, CrosscoderConfig& c, int64_t f0 = 0, int64_t f1 = -1);

}  // namespace cc
