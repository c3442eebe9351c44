// A planted mechanism in the committed organism's base model: the target becomes likely right after
// the trigger and stays unlikely elsewhere, only the trigger's embedding row and the target's
// unembedding row change, strength 0 changes nothing, and a trigger that is not one token is refused.
#include <cmath>

#include "core/error.hpp"
#include "core/json_file.hpp"
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
  // Measured with 16 probes: -17.3 -> -2.5 nats after the trigger, -18.0 -> -15.3 elsewhere (the
  // random direction overlaps ordinary streams a little); the plant must be specific to the trigger.
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

}  // namespace
}  // namespace cc
