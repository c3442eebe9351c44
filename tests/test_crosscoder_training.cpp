// Training end to end on planted features (known dictionary atoms: shared, base-only,
// distilled-only), bit-identical resume, and a clean stop on non-finite data.
#include <cmath>
#include <filesystem>
#include <fstream>
#include <random>

#include "analysis/feature_analysis.hpp"

#include "core/atomic_file.hpp"
#include "crosscoder/trainer.hpp"
#include "harvest/activation_store.hpp"
#include "harvest/store_writer.hpp"
#include "crosscoder/step.hpp"
#include "core/json_file.hpp"
#include "pair_fixture.hpp"
#include "test_util.hpp"

namespace cc {
namespace {

struct Planted {
  int64_t d = 16, n_shared = 16, n_a = 8, n_b = 8;
  std::vector<std::vector<float>> atoms;  // [2d] each
  std::vector<int> kind;                  // 0 shared, 1 base-only, 2 distilled-only
};

Planted make_store(const std::string& dir, int64_t rows, uint64_t seed) {
  Planted P;
  std::mt19937_64 r(seed);
  std::normal_distribution<float> n(0.f, 1.f);
  auto unit = [&](float* v) {
    double s = 0;
    for (int64_t i = 0; i < P.d; ++i) {
      v[i] = n(r);
      s += double(v[i]) * v[i];
    }
    for (int64_t i = 0; i < P.d; ++i) v[i] = float(v[i] / std::sqrt(s));
  };
  for (int k = 0; k < 3; ++k)
    for (int64_t a = 0; a < (k == 0 ? P.n_shared : k == 1 ? P.n_a : P.n_b); ++a) {
      std::vector<float> v(size_t(2 * P.d), 0.f);
      if (k != 2) unit(v.data());
      if (k != 1) unit(v.data() + P.d);
      P.atoms.push_back(v);
      P.kind.push_back(k);
    }
  ActivationBatch b;
  b.d = P.d;
  std::uniform_real_distribution<float> u(0.f, 1.f);
  std::exponential_distribution<float> mag(1.f);
  for (int64_t t = 0; t < rows; ++t) {
    std::vector<float> x(size_t(2 * P.d), 0.f);
    for (const auto& a : P.atoms)
      if (u(r) < 0.06f) {
        const float c = 0.5f + mag(r);
        for (size_t i = 0; i < x.size(); ++i) x[i] += c * a[i];
      }
    b.acts.insert(b.acts.end(), x.begin(), x.end());
    b.tokens.push_back(0);
    b.doc.push_back(int32_t(t));
    b.pos.push_back(0);
    b.corpus.push_back(0);
    ++b.rows;
  }
  write_store(dir, b, {1.0, 1.0}, DType::F32, 20000);
  return P;
}

// Fraction of atoms with a learned feature of decoder cosine > 0.9 whose NRN names the right owner.
double recovery(const std::string& ckpt, const Planted& P, std::string* report) {
  CrosscoderParams p;
  CrosscoderConfig c;
  load_crosscoder(ckpt, p, c);
  int ok = 0;
  for (size_t a = 0; a < P.atoms.size(); ++a) {
    double best = -1, nrn = 0;
    for (int64_t f = 0; f < p.F; ++f) {
      const float* w = p.W_dec.data() + f * 2 * P.d;
      double dot = 0, nw = 0, na = 0, nA = 0, nB = 0;
      for (int64_t i = 0; i < 2 * P.d; ++i) {
        dot += double(w[i]) * P.atoms[a][size_t(i)];
        nw += double(w[i]) * w[i];
        na += double(P.atoms[a][size_t(i)]) * P.atoms[a][size_t(i)];
        (i < P.d ? nA : nB) += double(w[i]) * w[i];
      }
      const double cosv = dot / std::sqrt(nw * na + 1e-30);
      if (cosv > best) {
        best = cosv;
        nrn = std::sqrt(nB) / (std::sqrt(nA) + std::sqrt(nB) + 1e-30);
      }
    }
    const int k = P.kind[a];
    const bool owner_ok = k == 0 ? (nrn > 0.3 && nrn < 0.7) : k == 1 ? nrn < 0.3 : nrn > 0.7;
    if (best > 0.9 && owner_ok) ++ok;
    else if (report) *report += "atom " + std::to_string(a) + " kind " + std::to_string(k) + ": cos " + std::to_string(best) + " nrn " + std::to_string(nrn) + "\n";
  }
  return double(ok) / double(P.atoms.size());
}

// A small run's settings: the architecture, dictionary size, batch, token budget and k.
CrosscoderConfig small_config(Arch arch, int64_t dict_size, int64_t batch_size, int64_t tokens, int64_t k) {
  CrosscoderConfig c;
  c.architecture = arch;
  c.dict_size = dict_size;
  c.batch_size = batch_size;
  c.num_tokens = tokens;
  c.k = k;
  return c;
}

TrainOptions quiet_run(const std::string& acts, const std::string& out) {
  TrainOptions o;
  o.acts = acts;
  o.out = out;
  o.progress = false;
  return o;
}

TEST(CrosscoderTraining, RecoversPlantedFeaturesAndTheirOwners) {
  for (std::string arch : {"l1", "batchtopk"}) {
    test::TempDir d;
    Planted P = make_store(d / "store", 60000, 5);
    CrosscoderConfig c;
    c.architecture = arch_from_name(arch, "test");
    c.dict_size = 128;
    c.batch_size = 512;
    c.num_tokens = 512 * 1200;
    c.lr = 3e-3;
    c.l1_coeff = 0.3;
    c.k = 2;
    c.dead_tokens = 512 * 50;
    c.threshold_start_step = 100;
    TrainOptions o;
    o.acts = d / "store";
    o.out = d / "ckpt";
    o.buffer_rows = 8192;
    o.save_every = 100000;
    o.progress = false;
    TrainSummary s = train_crosscoder(c, o);
    std::string report;
    const double rate = recovery(o.out, P, &report);
    std::printf("[planted] %s: recovered %.0f%% of %zu atoms (cos > 0.9, right owner by NRN); EV A %.3f B %.3f, L0 %.2f\n",
                arch.c_str(), 100 * rate, P.atoms.size(), s.ev_a, s.ev_b, s.l0);
    EXPECT_GE(rate, 0.9) << arch << "\n" << report;
    EXPECT_GT(s.ev_a, 0.8);
  }
}

TEST(CrosscoderTraining, ResumeIsBitIdentical) {
  test::TempDir d;
  make_store(d / "store", 8000, 9);
  CrosscoderConfig c;
  c.dict_size = 64;
  c.batch_size = 256;
  c.num_tokens = 256 * 60;
  c.lr = 1e-3;
  TrainOptions o;
  o.acts = d / "store";
  o.buffer_rows = 2048;
  o.save_every = 10;
  o.progress = false;
  o.out = d / "full";
  train_crosscoder(c, o);
  o.out = d / "split";
  o.max_steps = 35;  // stops after the checkpoint at 30 plus 5 unsaved steps (lost, as a kill would)
  train_crosscoder(c, o);
  o.max_steps = -1;
  o.resume = true;
  train_crosscoder(c, o);
  EXPECT_EQ(read_file(d / "split/crosscoder.safetensors"), read_file(d / "full/crosscoder.safetensors"));
  // --init starts from given weights: with no step taken they come back unchanged.
  o.resume = false;
  o.init = d / "full";
  o.max_steps = 0;
  o.out = d / "init";
  train_crosscoder(c, o);
  EXPECT_EQ(read_file(d / "init/crosscoder.safetensors"), read_file(d / "full/crosscoder.safetensors"));
  o.init.clear();
  o.max_steps = -1;
  o.resume = false;
  o.out = d / "changed";
  train_crosscoder(c, o);
  c.lr = 2e-3;
  o.resume = true;
  test::expect_error([&] { train_crosscoder(c, o); }, {"trainer_state.safetensors", "config.lr", "differs"});
}

TEST(CrosscoderTraining, NonFiniteDataStopsWithTheCheckpointIntact) {
  test::TempDir d;
  ActivationBatch b;
  b.d = 4;
  // Past the store reader's first 65536-row chunk, so the bad row is read mid-run.
  for (int t = 0; t < 70000; ++t) {
    for (int i = 0; i < 8; ++i) b.acts.push_back(t == 66000 && i == 3 ? NAN : float((t * 7 + i) % 11) - 5.f);
    b.tokens.push_back(0);
    b.doc.push_back(t);
    b.pos.push_back(0);
    b.corpus.push_back(0);
    ++b.rows;
  }
  write_store(d / "store", b, {1.0, 1.0});
  CrosscoderConfig c;
  c.dict_size = 16;
  c.batch_size = 100;
  c.num_tokens = 70000;
  TrainOptions o;
  o.acts = d / "store";
  o.out = d / "ckpt";
  o.save_every = 50;
  o.shuffle = false;
  o.buffer_rows = 300;
  o.progress = false;
  // The store reader names the shard and row when its chunk is read, a few steps before use.
  test::expect_error([&] { train_crosscoder(c, o); },
                     {"shard-00001.safetensors", "NaN at row 464", "dimension 3", "training stopped at step 65", "intact", "--resume"});
  CrosscoderParams p;
  CrosscoderConfig lc;
  EXPECT_NO_THROW(load_crosscoder(o.out, p, lc));  // the last checkpoint before it, all finite
}

// The held-out metrics (OUT/eval.json) against a direct numpy computation on a harvested store with
// a split (tests/python/eval_checkpoint.py): the same rows, FVU per model, L0, never-active share.
TEST(CrosscoderTraining, HeldOutMetricsEqualNumpy) {
  test::PairFixture f;
  HarvestConfig hc = f.config();
  hc.pack.eval_fraction = 0.3;
  StoreOptions so;
  so.out = f.dir / "store";
  so.tokens = 3000;
  so.dtype = DType::F32;
  so.progress = false;
  harvest_to_store(hc, so);
  for (Arch arch : {Arch::L1, Arch::BatchTopK}) {
    const CrosscoderConfig c = small_config(arch, 64, 100, 6000, 4);
    const TrainOptions o = quiet_run(so.out, f.dir / (std::string("ckpt-") + arch_name(arch)));
    const TrainSummary s = train_crosscoder(c, o);
    const Json ev = read_json_file(o.out + "/eval.json");
    EXPECT_EQ(ev["rows"].get<int64_t>(), s.eval.rows);
    EXPECT_TRUE(ev["held_out"].get<bool>());
    std::string out;
    FILE* pipe = popen(("/usr/bin/python3 " + std::string(SOURCE_DIR) + "/tests/python/eval_checkpoint.py " + o.out + " " + so.out).c_str(), "r");
    char buf[4096];
    while (fgets(buf, sizeof buf, pipe)) out += buf;
    ASSERT_EQ(pclose(pipe), 0) << out;
    const Json py = Json::parse(out);
    EXPECT_EQ(py["rows"].get<int64_t>(), s.eval.rows) << arch_name(arch);
    EXPECT_EQ(py["rows"].get<int64_t>(), ActivationStore(so.out).manifest()["eval_tokens"].get<int64_t>());
    for (int m = 0; m < 2; ++m) {
      // float32 encode/decode vs float64: relative error ~1e-6 of the error sums.
      const double want = py["fvu"][size_t(m)].get<double>();
      EXPECT_NEAR(s.eval.fvu[m], want, 1e-4 * want + 1e-7) << arch_name(arch) << " model " << m;
    }
    // Counts of f > 0 may differ only where a score sits within float32 rounding of 0 or θ.
    EXPECT_NEAR(s.eval.l0, py["l0"].get<double>(), 0.01 * py["l0"].get<double>() + 1e-3) << arch_name(arch);
    EXPECT_NEAR(s.eval.inactive_frac, py["inactive_frac"].get<double>(), 1.0 / 64 + 1e-12) << arch_name(arch);
  }
}

// A run far shorter than the old fixed 1000-step θ warm-up (30 steps) still ends with θ > 0 and a
// dead window the run can reach; the analysis counts a feature active exactly where the inference
// encoder (θ included) says so, which here is fewer rows than plain ReLU would count.
TEST(CrosscoderTraining, ShortBatchTopKRunLearnsThetaAndTheAnalysisUsesIt) {
  test::TempDir d;
  make_store(d / "store", 3000, 4);
  const CrosscoderConfig c = small_config(Arch::BatchTopK, 32, 100, 3000, 3);
  const TrainOptions o = quiet_run(d / "store", d / "ckpt");
  train_crosscoder(c, o);
  CrosscoderParams p;
  CrosscoderConfig lc;
  load_crosscoder(o.out, p, lc);
  EXPECT_EQ(lc.threshold_start_step, 1);  // 5% of 30 steps
  EXPECT_EQ(lc.dead_tokens, 300);         // a tenth of 3000 tokens
  ASSERT_GT(p.threshold, 0.f);

  AnalyzeOptions a;
  a.crosscoder = o.out;
  a.acts = o.acts;
  a.out = d / "analysis";
  a.lexicon = std::string(SOURCE_DIR) + "/configs/reasoning_lexicon.toml";
  a.progress = false;
  analyze_crosscoder(a);
  auto rows = ActivationStore(o.acts).read(0, 3000);
  crosscoder_scale_inputs(lc, rows.acts.data(), 3000);
  std::vector<float> f, relu;
  crosscoder_encode(p, lc, rows.acts.data(), 3000, f);
  CrosscoderParams no_theta = p;
  no_theta.threshold = 0.f;
  crosscoder_encode(no_theta, lc, rows.acts.data(), 3000, relu);
  std::vector<int64_t> active(32, 0);
  int64_t n_theta = 0, n_relu = 0;
  for (int64_t i = 0; i < 3000 * 32; ++i) {
    active[size_t(i % 32)] += f[size_t(i)] > 0;
    n_theta += f[size_t(i)] > 0;
    n_relu += relu[size_t(i)] > 0;
  }
  EXPECT_LT(n_theta, n_relu);
  std::ifstream in(a.out + "/features.jsonl");
  std::string line;
  int64_t j = 0;
  for (; std::getline(in, line); ++j) {
    const Json row = Json::parse(line);
    EXPECT_NEAR(row["freq"].get<double>(), double(active[size_t(j)]) / 3000.0, 1e-12) << "feature " << j;
  }
  EXPECT_EQ(j, 32);
}

TEST(CrosscoderTraining, PythonReproducesTheEncoder) {
  test::TempDir d;
  make_store(d / "store", 3000, 4);
  for (std::string arch : {"l1", "batchtopk"}) {
    CrosscoderConfig c = small_config(arch_from_name(arch, "test"), 32, 100, 3000, 3);
    c.threshold_start_step = 5;
    const TrainOptions o = quiet_run(d / "store", d / ("ckpt-" + arch));
    train_crosscoder(c, o);
    CrosscoderParams p;
    CrosscoderConfig lc;
    load_crosscoder(o.out, p, lc);
    if (arch == "batchtopk") {
      EXPECT_GT(p.threshold, 0.f);
    }
    auto rows = ActivationStore(o.acts).read(0, 20);
    for (int64_t b = 0; b < 20; ++b)
      for (int m = 0; m < 2; ++m)
        for (int64_t i = 0; i < 16; ++i) rows.acts[size_t((b * 2 + m) * 16 + i)] *= float(lc.norm_factors[size_t(m)]);
    std::vector<float> f;
    crosscoder_encode(p, lc, rows.acts.data(), 20, f);
    const std::string cmd = "/usr/bin/python3 " + std::string(SOURCE_DIR) + "/tests/python/encode_checkpoint.py " + o.out + " " + o.acts + " 20";
    FILE* pipe = popen(cmd.c_str(), "r");
    std::string out;
    char buf[4096];
    while (fgets(buf, sizeof buf, pipe)) out += buf;
    ASSERT_EQ(pclose(pipe), 0) << out;
    Json j = Json::parse(out);
    double worst = 0;
    int active = 0;
    for (int64_t b = 0; b < 20; ++b)
      for (int64_t k = 0; k < 32; ++k) {
        const double want = j["f"][size_t(b)][size_t(k)].get<double>();
        worst = std::max(worst, std::abs(want - f[size_t(b * 32 + k)]));
        active += want > 0;
      }
    EXPECT_LT(worst, 1e-4) << arch;
    EXPECT_GT(active, 20) << arch;
  }
}

}  // namespace
}  // namespace cc
