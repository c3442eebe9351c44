// Feature ablation: ablating every active feature leaves the crosscoder's error term (plus the
// decoder bias) at the hook; the experiment's numbers equal an independent recomputation with full
// forward passes from the embeddings; bad categories and pairs are refused.
#include <algorithm>
#include <cmath>
#include <fstream>
#include <map>
#include <set>
#include <tuple>
#include <random>

#include "core/json_file.hpp"
#include "crosscoder/step.hpp"
#include "data/packer.hpp"
#include "interventions/ablation.hpp"
#include "model/qwen2.hpp"
#include "crosscoder_fixture.hpp"
#include "pair_fixture.hpp"
#include "test_util.hpp"

namespace cc {
namespace {

using test::make_crosscoder;

TEST(Ablation, AllActiveFeaturesLeaveTheErrorTermAndTheBias) {
  const int64_t d = 8, F = 16, D2 = 2 * d;
  CrosscoderParams p;
  CrosscoderConfig c;
  make_crosscoder(p, c, d, F, "1");
  std::mt19937_64 rng(9);
  std::normal_distribution<float> n(0.f, 1.f);
  std::vector<float> raw(static_cast<size_t>(D2)), X(static_cast<size_t>(D2));
  for (auto& v : raw) v = n(rng);
  for (int m = 0; m < 2; ++m)
    for (int64_t q = 0; q < d; ++q) X[size_t(m * d + q)] = raw[size_t(m * d + q)] * float(c.norm_factors[size_t(m)]);
  std::vector<float> f;
  crosscoder_encode(p, c, X.data(), 1, f);
  std::vector<int32_t> idx;
  std::vector<float> val;
  for (int64_t i = 0; i < F; ++i)
    if (f[size_t(i)] > 0) {
      idx.push_back(int32_t(i));
      val.push_back(f[size_t(i)]);
    }
  ASSERT_GE(idx.size(), 3u);
  for (int m = 0; m < 2; ++m) {
    std::vector<float> x(raw.begin() + m * d, raw.begin() + (m + 1) * d);
    subtract_features(p, c, m, idx, val, nullptr, x.data());
    const double s = c.norm_factors[size_t(m)];
    for (int64_t q = 0; q < d; ++q) {
      double xhat = p.b_dec[size_t(m * d + q)];
      for (int64_t i = 0; i < F; ++i) xhat += double(f[size_t(i)]) * p.W_dec[size_t(i * D2 + m * d + q)];
      const double err = X[size_t(m * d + q)] - xhat;  // the reconstruction error, in scaled units
      EXPECT_NEAR(x[size_t(q)], (err + p.b_dec[size_t(m * d + q)]) / s, 1e-5) << "model " << m << " dim " << q;
    }
  }
  // A mask keeps the other features' terms.
  std::vector<uint8_t> mask(static_cast<size_t>(F), 0);
  mask[size_t(idx[0])] = 1;
  std::vector<float> x(raw.begin(), raw.begin() + d);
  subtract_features(p, c, 0, idx, val, mask.data(), x.data());
  for (int64_t q = 0; q < d; ++q)
    EXPECT_NEAR(x[size_t(q)], raw[size_t(q)] - val[0] * p.W_dec[size_t(idx[0] * D2 + q)] / 1.5, 1e-6);
}

struct AblationFixture {
  test::PairFixture pair{32, 4};
  std::string ckpt = pair.dir / "ckpt", lexicon = pair.dir / "lexicon.toml", out = pair.dir / "out";
  CrosscoderParams p;
  CrosscoderConfig c;
  AblationFixture() {
    make_crosscoder(p, c, 32, 64, "blocks.2.hook_resid_pre");
    save_crosscoder(ckpt, p, c);
    std::ofstream(lexicon) << "[reflect]\nphrases = [\"wait\"]\ntargets = [\" Wait\", \"Wait,\"]\n"
                           << "[deduce]\nphrases = [\"therefore\"]\ntargets = [\" Therefore\"]\n"
                           << "[nothing]\nphrases = [\"x\"]\n";
  }
  AblateOptions options() const {
    AblateOptions o;
    o.crosscoder = ckpt;
    o.base = pair.a;
    o.distilled = pair.b;
    o.lexicon = lexicon;
    o.out = out;
    o.eval_fraction = 0.5;  // the fixture's corpora are small: half the documents held out
    o.corpora = {parse_corpus_spec(pair.jsonl + ":question+trace@1"), parse_corpus_spec(pair.txt + "@1")};
    o.ks = {10, 50};
    o.sequences = 40;  // enough held-out documents for 6 positions
    o.seq_len = 64;
    o.positions = 6;
    o.rank_positions = 20;
    o.batch_tokens = 100;  // several batches
    o.mode = ComputeMode::F32;
    o.progress = false;
    return o;
  }
};

TEST(Ablation, EqualsFullForwardPassesWithTheFeaturesSubtracted) {
  AblationFixture fx;
  const AblateOptions o = fx.options();
  const Json r = read_json_file(run_ablation(o));
  ASSERT_TRUE(r["categories"].contains("reflect"));
  ASSERT_TRUE(r["categories"].contains("deduce"));
  EXPECT_FALSE(r["categories"].contains("nothing"));  // no target: skipped with a warning
  EXPECT_EQ(r["categories"]["reflect"]["targets"].size(), 1u);  // "Wait," is two tokens: skipped
  EXPECT_EQ(r["positions"]["reflect"].size(), 6u);
  for (const Json& q : r["positions"]["reflect"]) EXPECT_TRUE(q["held_out"].get<bool>()) << q.dump();

  // The same sequences, packed independently.
  PackOptions po;
  po.seq_len = o.seq_len;
  po.seed = o.seed;
  po.eval_fraction = o.eval_fraction;
  po.only_split = 1;  // the experiment packs held-out documents only
  const std::vector<PackedSequence> seqs = test::pack_sequences(fx.pair.a + "/tokenizer.json", o.corpora, po, o.sequences);
  auto A = Qwen2Model::load(fx.pair.a, ComputeMode::F32), B = Qwen2Model::load(fx.pair.b, ComputeMode::F32);
  const int64_t d = 32, D2 = 64, F = 64;
  const int site = 2;

  int checked = 0;
  std::vector<float> dnorm;
  decoder_norms(fx.p, dnorm);
  for (const Json& cell : r["results"]) {
    if (!(cell["category"] == "reflect" && cell["k"] == 50.0)) continue;
    const int m = cell["model"] == "base" ? 0 : 1;
    std::vector<uint8_t> mask(static_cast<size_t>(F), 0);
    for (int64_t i : cell["features"]) mask[size_t(i)] = 1;
    const Json& pos = r["positions"]["reflect"];
    double removed = 0;  // Σ f·||d_m|| of the cell's features over the positions, recomputed here
    for (size_t e = 0; e < pos.size(); ++e) {
      const int seq = pos[e]["seq"], q = pos[e]["pos"];
      std::vector<int32_t> t(seqs[size_t(seq)].tokens.begin(), seqs[size_t(seq)].tokens.begin() + q + 1);
      ASSERT_EQ(seqs[size_t(seq)].tokens[size_t(q + 1)], pos[e]["target"].get<int>());
      SeqInput in{t, nullptr};
      // Both streams at the hook, from the embeddings up.
      const std::vector<float> xs[2] = {test::stream_at(*A, site, t), test::stream_at(*B, site, t)};
      std::vector<float> X(size_t((q + 1) * D2)), f;
      for (int r0 = 0; r0 <= q; ++r0)
        for (int mm = 0; mm < 2; ++mm)
          for (int64_t i = 0; i < d; ++i)
            X[size_t(r0 * D2 + mm * d + i)] = xs[mm][size_t(r0 * d + i)] * float(fx.c.norm_factors[size_t(mm)]);
      crosscoder_encode(fx.p, fx.c, X.data(), q + 1, f);
      auto logit = [&](bool ablate) {
        Hooks h;
        if (ablate)
          h.add(site, [&](HookContext& ctx) {
            for (int64_t row = 0; row < ctx.rows; ++row)
              for (int64_t i = 0; i < F; ++i)
                if (mask[size_t(i)])
                  for (int64_t j = 0; j < d; ++j)
                    ctx.x[row * d + j] -= f[size_t(row * F + i)] * fx.p.W_dec[size_t(i * D2 + m * d + j)] / float(fx.c.norm_factors[size_t(m)]);
          });
        ForwardOptions fo;
        fo.logits = LogitsMode::All;
        fo.hooks = &h;
        const ForwardOutput out = (m == 0 ? *A : *B).forward(std::span<const SeqInput>(&in, 1), fo);
        const float* l = out.logits.data() + int64_t(q) * out.vocab;
        double z = 0;  // log-softmax in double, the plain way
        for (int64_t v = 0; v < out.vocab; ++v) z += std::exp(double(l[v]));
        const double tl = l[pos[e]["target"].get<int>()];
        return std::pair<double, double>{tl, tl - std::log(z)};
      };
      const auto [clean, clean_lp] = logit(false);
      const auto [ablated, ablated_lp] = logit(true);
      for (int64_t i = 0; i < F; ++i)
        if (mask[size_t(i)]) removed += double(f[size_t(int64_t(q) * F + i)]) * dnorm[size_t(2 * i + m)];
      EXPECT_NEAR(cell["delta_logp"][e].get<double>(), ablated_lp - clean_lp,
                  2e-4 * std::max({1.0, std::abs(clean_lp), std::abs(ablated_lp)}))
          << cell["condition"] << " position " << e;
      const double base_logit = pos[e][m == 0 ? "logit_base" : "logit_distilled"];
      // Both sides are float32 forwards of the same prefix, batched differently (the experiment
      // resumes at the hook over several sequences; this runs one from the start): they agree to
      // float32 rounding, ~1e-6 of the logits' scale. 1e-5 relative (floor 1e-4) leaves margin and
      // is far below what ablating a wrong feature or position changes.
      const double tol = 1e-5 * std::max({1.0, std::abs(clean), std::abs(ablated)});
      EXPECT_NEAR(base_logit, clean, 10 * tol) << "position " << e;
      EXPECT_NEAR(cell["delta_logit"][e].get<double>(), ablated - clean, 20 * tol) << cell["condition"] << " position " << e;
      ++checked;
    }
    EXPECT_NEAR(cell["removed"].get<double>(), removed, 1e-4 * std::max(1.0, removed)) << cell["condition"] << " model " << m;
  }
  EXPECT_EQ(checked, 3 * 2 * 6);  // 3 conditions x 2 models x 6 positions

  // The top set's size and NRN; the controls' pools; the three sets disjoint; a control marked
  // matched removes within 10% of what the top set removes in that model.
  std::vector<float> norms;
  decoder_norms(fx.p, norms);
  std::map<std::tuple<std::string, double, std::string>, std::set<int64_t>> sets;  // (category, k, model) → features seen
  int matched = 0;
  for (const Json& cell : r["results"]) {
    const size_t pool = r["pool_size"];
    const size_t want = std::max<size_t>(1, size_t(std::llround(cell["k"].get<double>() / 100.0 * double(pool))));
    if (cell["condition"] == "top") {
      EXPECT_EQ(cell["n_features"].get<size_t>(), want);
    }
    auto& seen = sets[{cell["category"].get<std::string>(), cell["k"].get<double>(), cell["model"].get<std::string>()}];
    for (int64_t i : cell["features"]) {
      EXPECT_TRUE(seen.insert(i).second) << "feature " << i << " is in two conditions of one cell";
      const double nrn = norms[size_t(2 * i + 1)] / (norms[size_t(2 * i)] + norms[size_t(2 * i + 1)]);
      if (cell["condition"] == "shared") {
        EXPECT_TRUE(nrn >= 0.3 && nrn <= 0.5) << i;  // the shared band, cut at the pool's bound
      } else if (cell["condition"] == "top") {
        EXPECT_GT(nrn, 0.5) << i;
      }
    }
    if (cell["condition"] != "top" && cell["matched"].get<bool>() && cell["target_removed"].get<double>() > 0) {
      const double ratio = cell["removed"].get<double>() / cell["target_removed"].get<double>();
      EXPECT_GE(ratio, 0.9 - 1e-12) << cell.dump().substr(0, 200);
      EXPECT_LE(ratio, 1.1 + 1e-12) << cell.dump().substr(0, 200);
      ++matched;
    }
  }
  EXPECT_GT(matched, 0);  // the fixture's crosscoder leaves room to match at least some controls
  ASSERT_TRUE(r.contains("headline"));
  for (const Json& h : r["headline"]) {
    const Json& ci = h["distilled_minus_base"]["ci95"];
    if (!ci[0].is_null()) {
      EXPECT_LE(ci[0].get<double>(), ci[1].get<double>());
    }
  }
}

// The headline's interval is calibrated: when the target set and its matched control remove the same
// activity (the same per-sequence effect, independent noise per condition), the 95% interval holds 0
// in about 95% of synthetic experiments; a real difference of 0.5 is found in every one.
TEST(Ablation, PairedEffectHoldsZeroWhenTargetAndControlRemoveTheSame) {
  int holds_zero = 0, found = 0;
  const int experiments = 40;
  for (int x = 0; x < experiments; ++x) {
    std::mt19937_64 rng(uint64_t(1000 + x));
    std::normal_distribution<double> seq_effect(-1.0, 1.0), noise(0.0, 0.3);
    std::vector<double> top, control, shifted;
    std::vector<int64_t> unit;
    for (int s = 0; s < 40; ++s) {
      const double e = seq_effect(rng);  // what ablating anything does in this sequence
      for (int q = 0; q < 5; ++q) {
        top.push_back(e + noise(rng));
        control.push_back(e + noise(rng));
        shifted.push_back(top.back() - 0.5);
        unit.push_back(s);
      }
    }
    const PairedEffect same = paired_effect(top, control, unit, uint64_t(x));
    holds_zero += same.ci.lo <= 0 && same.ci.hi >= 0;
    EXPECT_EQ(same.significant, !(same.ci.lo <= 0 && same.ci.hi >= 0));
    found += paired_effect(shifted, control, unit, uint64_t(x)).significant;
  }
  EXPECT_GE(holds_zero, 34) << "of " << experiments;  // Binomial(40, 0.95): P(< 34) ≈ 1.6%
  EXPECT_LE(holds_zero, 40);
  EXPECT_EQ(found, experiments);
}

// --categories-from: a category's top sets come only from the NRN pool's features the source puts in
// it; the "other" control comes from the rest of the pool and removes as much; a category the source
// leaves empty is skipped; a missing source file or option is refused naming it.
TEST(Ablation, CategorySetsComeFromTheNamedSource) {
  AblationFixture fx;
  std::vector<float> norms;
  decoder_norms(fx.p, norms);
  auto nrn = [&](int64_t i) { return decoder_nrn(norms[size_t(2 * i)], norms[size_t(2 * i + 1)]).value_or(0.0); };
  std::set<int64_t> reflect;  // every other pool feature is "reflect"; the rest "none"; none is "deduce"
  {
    std::ofstream labels(fx.pair.dir / "labels.jsonl");
    int64_t pool_seen = 0;
    for (int64_t i = 0; i < 64; ++i) {
      const bool in = nrn(i) > 0.5 && pool_seen++ % 2 == 0;
      if (in) reflect.insert(i);
      labels << Json({{"feature", i}, {"label", "x"}, {"category", in ? "reflect" : "none"}}).dump() << "\n";
    }
  }
  ASSERT_GE(reflect.size(), 4u);
  AblateOptions o = fx.options();
  o.categories_from = CategorySource::Labels;
  o.labels = fx.pair.dir / "labels.jsonl";
  const Json r = read_json_file(run_ablation(o));
  EXPECT_EQ(r["categories_from"], "labels");
  ASSERT_TRUE(r["categories"].contains("reflect"));
  EXPECT_FALSE(r["categories"].contains("deduce"));  // the source puts no feature in it
  EXPECT_NE(r["warnings"].dump().find("deduce: " + o.labels + " puts no NRN"), std::string::npos) << r["warnings"].dump();
  EXPECT_EQ(r["categories"]["reflect"]["pool_size"].get<size_t>(), reflect.size());
  int other_matched = 0;
  std::set<std::string> conditions;
  for (const Json& cell : r["results"]) {
    conditions.insert(cell["condition"].get<std::string>());
    for (int64_t i : cell["features"]) {
      if (cell["condition"] == "top") {
        EXPECT_TRUE(reflect.count(i)) << "top feature " << i << " is not in the source's set";
      } else if (cell["condition"] == "other") {
        EXPECT_FALSE(reflect.count(i)) << i;
        EXPECT_GT(nrn(i), 0.5) << i;
      }
    }
    if (cell["condition"] == "top") {
      const size_t want = std::max<size_t>(1, size_t(std::llround(cell["k"].get<double>() / 100.0 * double(reflect.size()))));
      EXPECT_EQ(cell["n_features"].get<size_t>(), want);
    }
    if (cell["condition"] == "other" && cell["matched"].get<bool>() && cell["target_removed"].get<double>() > 0) {
      EXPECT_NEAR(cell["removed"].get<double>() / cell["target_removed"].get<double>(), 1.0, 0.1 + 1e-12);
      ++other_matched;
    }
  }
  EXPECT_EQ(conditions, (std::set<std::string>{"top", "random", "shared", "other"}));
  EXPECT_GT(other_matched, 0);
  bool other_headline = false;
  for (const Json& h : r["headline"]) other_headline |= h["control"] == "other";
  EXPECT_TRUE(other_headline);

  o.labels = fx.pair.dir / "missing.jsonl";
  test::expect_error([&] { run_ablation(o); }, {"missing.jsonl"});
  o.labels.clear();
  test::expect_error([&] { run_ablation(o); }, {"--categories-from labels", "--labels"});
  o.categories_from = CategorySource::Enrichment;
  test::expect_error([&] { run_ablation(o); }, {"--enrichment"});
}

TEST(Ablation, UnknownCategoriesAndMismatchedCrosscodersAreRefused) {
  AblationFixture fx;
  AblateOptions o = fx.options();
  o.categories = {"self-doubt"};
  test::expect_error([&] { run_ablation(o); }, {"lexicon.toml", "does not exist"});
  o.categories = {"nothing"};
  test::expect_error([&] { run_ablation(o); }, {"nothing.targets", "no single-token target"});
  o.categories = {};
  CrosscoderParams p;
  CrosscoderConfig c;
  make_crosscoder(p, c, 16, 8, "2");
  save_crosscoder(fx.ckpt, p, c);
  test::expect_error([&] { run_ablation(o); }, {"ckpt/config.json", "hidden_size"});
}

}  // namespace
}  // namespace cc
