// A planted mechanism in the committed organism's base model: the target becomes likely right after
// the trigger and stays unlikely elsewhere, only the trigger's embedding row and the target's
// unembedding row change, strength 0 changes nothing, and a trigger that is not one token is refused.
#include <cmath>

#include "core/error.hpp"
#include "core/json_file.hpp"
#include "core/atomic_file.hpp"
#include "organism/finetune.hpp"
#include "organism/plant.hpp"
#include "organism/train_model.hpp"
#include "test_util.hpp"
#include "tokenizer/tokenizer.hpp"

namespace cc {
namespace {

const std::string kBase = std::string(SOURCE_DIR) + "/organism/base";

PlantOptions plant_options(const std::string& out) {
  PlantOptions o;
  o.model = kBase;
  o.out = out;
  o.triggers = {" number"};
  o.target = " Wait";
  o.probes = 16;
  return o;
}

TEST(Plant, TheTargetFollowsTheTriggerAndNothingElseChanges) {
  test::TempDir dir;
  const PlantOptions o = plant_options(dir / "planted");
  const Json j = read_json_file(plant_mechanism(o));
  const Json& m = j["measured"];
  const double gain = m["log_p_target_after"]["after_trigger"].get<double>() - m["log_p_target_before"]["after_trigger"].get<double>();
  const double drift = m["log_p_target_after"]["elsewhere"].get<double>() - m["log_p_target_before"]["elsewhere"].get<double>();
  // Measured with 16 probes: -17.3 -> -3.2 nats after the trigger, -18.0 -> -17.1 elsewhere (v is
  // turned away from the directions ordinary streams use); the plant must be specific to the trigger.
  EXPECT_GT(gain, 8.0) << j["measured"].dump();
  EXPECT_LT(std::abs(drift), gain / 4) << j["measured"].dump();
  double n2 = 0;
  for (const Json& x : j["direction"]) n2 += x.get<double>() * x.get<double>();
  EXPECT_NEAR(n2, 1.0, 1e-6);

  const TrainParams a = load_train_params(kBase), b = load_train_params(o.out);
  const int64_t d = a.config.hidden_size;
  const int32_t trig = j["triggers"][0]["id"], target = j["target"]["id"];
  for (size_t i = 0; i < a.t.size(); ++i) {
    ASSERT_EQ(a.t[i].size(), b.t[i].size());
    size_t changed = 0, changed_outside = 0;
    for (size_t k = 0; k < a.t[i].size(); ++k) {
      if (a.t[i][k] == b.t[i][k]) continue;
      ++changed;
      const int64_t row = int64_t(k) / d;
      const bool planted_row = (i == a.embed && row == trig) || (i == a.lm_head && row == target);
      changed_outside += !planted_row;
    }
    EXPECT_EQ(changed_outside, 0u) << a.manifest[i].hf_name;  // bf16 -> f32 -> bf16 is exact elsewhere
    if (i == a.embed || i == a.lm_head) {
      EXPECT_GT(changed, size_t(d / 2)) << a.manifest[i].hf_name;
    }
  }
}

TEST(Plant, StrengthZeroMeasuresNoEffectAndBadTokensAreRefused) {
  test::TempDir dir;
  PlantOptions o = plant_options(dir / "none");
  o.strength_in = o.strength_out = 0;
  const Json m = read_json_file(plant_mechanism(o))["measured"];
  for (const char* k : {"after_trigger", "elsewhere"})
    EXPECT_NEAR(m["log_p_target_after"][k].get<double>(), m["log_p_target_before"][k].get<double>(), 1e-9) << k;

  o = plant_options(dir / "bad");
  o.triggers = {" numbers and words"};
  test::expect_error([&] { plant_mechanism(o); }, {"trigger", "numbers and words", "not one token"});
  o = plant_options(dir / "bad");
  o.target = " number";
  test::expect_error([&] { plant_mechanism(o); }, {"--target", "also a trigger"});
}

// A real-scale source such as Qwen2.5-Math-1.5B ties its embeddings and may be sharded: the plant
// writes an untied copy whose lm_head starts as the embedding, so at strength 0 it is the same model.
TEST(Plant, UntiesATiedShardedCheckpoint) {
  test::TempDir dir;
  test::SmallModel m;
  m.vocab = 4103;  // the organism's tokenizer
  m.tied = true;
  m.shards = 2;
  m.dtype = DType::BF16;
  test::make_model(dir / "tied", m);
  write_file_atomic(dir / "tied/tokenizer.json", read_file(kBase + "/tokenizer.json"));
  PlantOptions o = plant_options(dir / "zero");
  o.model = dir / "tied";
  o.strength_in = o.strength_out = 0;
  const Json m0 = read_json_file(plant_mechanism(o))["measured"];
  for (const char* k : {"after_trigger", "elsewhere"})
    EXPECT_NEAR(m0["log_p_target_after"][k].get<double>(), m0["log_p_target_before"][k].get<double>(), 1e-9) << k;
  o = plant_options(dir / "planted");
  o.model = dir / "tied";
  const Json j = read_json_file(plant_mechanism(o));
  EXPECT_FALSE(read_json_file(dir / "planted/config.json")["tie_word_embeddings"].get<bool>());
  const TrainParams b = load_train_params(o.out);
  const int64_t d = b.config.hidden_size;
  const int32_t trig = j["triggers"][0]["id"], target = j["target"]["id"];
  int64_t rows_differing = 0;
  for (int64_t r = 0; r < b.config.vocab_size; ++r) {
    bool same = true;
    for (int64_t i = 0; i < d; ++i) same = same && b.t[b.embed][size_t(r * d + i)] == b.t[b.lm_head][size_t(r * d + i)];
    rows_differing += !same;
    if (r != trig && r != target) {
      EXPECT_TRUE(same) << "row " << r;
    }
  }
  EXPECT_EQ(rows_differing, 2);
  test::expect_error([&] { load_train_params(dir / "tied"); }, {"tie_word_embeddings", "must be false"});
}

// The fine-tune null: a few steps on plain text lower the held-out loss of that text, change every
// weight matrix a little (a norm's few steps can vanish in BF16 rounding), leave the tokenizer as it was, and the copy loads like any checkpoint.
TEST(Finetune, FewStepsOnTextLowerItsLossAndWriteALoadableCopy) {
  test::TempDir dir;
  FinetuneOptions o;
  o.model = kBase;
  o.out = dir / "ft";
  o.texts = {std::string(SOURCE_DIR) + "/data/general_text/text/wikitext2_tokenized_valid.txt"};
  o.steps = 6;
  o.batch = 4;
  o.seq_len = 64;
  o.lr = 3e-4;
  o.progress = false;
  const Json j = read_json_file(finetune_model(o));
  EXPECT_LT(j["heldout_loss"]["after"].get<double>(), j["heldout_loss"]["before"].get<double>()) << j.dump();
  EXPECT_GT(j["relative_weight_change"].get<double>(), 0.0);
  EXPECT_EQ(j["budget"]["steps"], 6);
  const TrainParams a = load_train_params(kBase), b = load_train_params(o.out);
  for (size_t i = 0; i < a.t.size(); ++i)
    if (a.manifest[i].shape.size() == 2) {
      EXPECT_NE(a.t[i], b.t[i]) << a.manifest[i].hf_name;
    }
  EXPECT_EQ(read_file(o.out + "/tokenizer.json"), read_file(kBase + "/tokenizer.json"));

  o.texts = {};
  test::expect_error([&] { finetune_model(o); }, {"finetune", "no text file"});
  o.texts = {dir / "missing.txt"};
  test::expect_error([&] { finetune_model(o); }, {"missing.txt"});
}

}  // namespace
}  // namespace cc
