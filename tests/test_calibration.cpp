// The calibration's measurements on a synthetic store whose plant is known exactly: on trigger rows
// the distilled stream is the base stream plus u_true, elsewhere the two are equal. A crosscoder
// whose feature 0 fires on triggers with d_B − d_A = u_true must be found with cos 1; the same
// crosscoder with d_B = d_A (the plant missed) must give cos 0, which the calibration fails.
#include <cmath>

#include "calibration/plant_probe.hpp"
#include "crosscoder/crosscoder.hpp"
#include "harvest/store_writer.hpp"
#include "test_util.hpp"

namespace cc {
namespace {

constexpr int64_t kD = 4, kD2 = 8;
constexpr int32_t kTrigger = 7, kOther = 3;
const float kU[kD] = {0.f, 0.6f, 0.f, 0.8f};  // u_true, unit norm

// 50 rows; every fifth is a trigger. Coordinate 0 of both models marks triggers (1) or not (0);
// coordinate 2 is 1 everywhere.
std::string synthetic_store(const std::string& dir) {
  ActivationBatch b;
  b.d = kD;
  for (int r = 0; r < 50; ++r) {
    const bool trig = r % 5 == 0;
    float x[kD2] = {trig ? 1.f : 0.f, 0.f, 1.f, 0.f, trig ? 1.f : 0.f, 0.f, 1.f, 0.f};
    if (trig)
      for (int i = 0; i < kD; ++i) x[kD + i] += kU[i];
    b.acts.insert(b.acts.end(), x, x + kD2);
    b.tokens.push_back(trig ? kTrigger : kOther);
    b.doc.push_back(0);
    b.pos.push_back(r);
    b.corpus.push_back(0);
    ++b.rows;
  }
  write_store(dir, b, {1.0, 1.0});
  return dir;
}

// Feature 0 reads coordinate 0 of model A (fires 1 on triggers) and decodes e0 in A, e0 + u in B;
// feature 1 reads coordinate 2 (fires 1 everywhere) and decodes e2 in both.
CrosscoderParams crosscoder(bool planted) {
  CrosscoderParams p;
  p.resize(kD, 2);
  p.W_encT[0] = 1.f;
  p.W_dec[0] = p.W_dec[kD] = 1.f;
  if (planted)
    for (int i = 0; i < kD; ++i) p.W_dec[size_t(kD + i)] += kU[i];
  p.W_encT[size_t(kD2 + 2)] = 1.f;
  p.W_dec[size_t(kD2 + 2)] = p.W_dec[size_t(kD2 + kD + 2)] = 1.f;
  return p;
}

CrosscoderConfig config() {
  CrosscoderConfig c;
  c.d_in = kD;
  c.dict_size = 2;
  c.norm_factors = {1.0, 1.0};
  return c;
}

TEST(Calibration, FindsAKnownPlantAndMissesItWhenTheDecodersAgree) {
  test::TempDir dir;
  const ActivationStore store(synthetic_store(dir / "store"));
  const CrosscoderConfig c = config();
  const std::vector<float> X = trigger_rows(store, c, {kTrigger});
  const PlantDirection u = plant_direction(X, kD, store.dir());
  EXPECT_EQ(u.rows, 10);
  for (int i = 0; i < kD; ++i) EXPECT_NEAR(u.u[size_t(i)], kU[i], 1e-6);

  const PlantAttribution found = attribute_plant(X, crosscoder(true), c, u);
  EXPECT_EQ(found.feature, 0);
  EXPECT_NEAR(found.cos_u, 1.0, 1e-6);
  EXPECT_NEAR(found.share, 1.0, 1e-6);
  EXPECT_NEAR(found.trigger_firing, 1.0, 1e-9);
  // cos(e0 + u, u) = 1 / sqrt(2): the distilled decoder alone points half away from the plant.
  EXPECT_NEAR(found.cos_u_distilled, 1 / std::sqrt(2.0), 1e-6);
  EXPECT_EQ(found.control, 1);  // the only other feature active there
  EXPECT_GT(found.control_ratio, 0);

  const PlantAttribution missed = attribute_plant(X, crosscoder(false), c, u);
  EXPECT_NEAR(missed.cos_u, 0.0, 1e-9);  // below any threshold: the calibration fails
  EXPECT_NEAR(missed.attribution, 0.0, 1e-9);
}

TEST(Calibration, AStoreWithoutTheTriggerIsRefused) {
  test::TempDir dir;
  const ActivationStore store(synthetic_store(dir / "store"));
  EXPECT_THROW(plant_direction(trigger_rows(store, config(), {12345}), kD, store.dir()), Error);
}

}  // namespace
}  // namespace cc
