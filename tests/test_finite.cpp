// NaN/Inf are stopped where they enter and reported with the tensor and the element: the scanner
// itself (every float dtype, first offender across threads), checkpoint weights, store rows,
// a model that overflows during harvest, a crosscoder checkpoint, and gradients.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <fstream>
#include <limits>

#include "core/finite.hpp"
#include "core/parallel.hpp"
#include "core/safetensors.hpp"
#include "crosscoder/adam.hpp"
#include "crosscoder/crosscoder.hpp"
#include "harvest/activation_store.hpp"
#include "harvest/store_writer.hpp"
#include "model/qwen2.hpp"
#include "pair_fixture.hpp"
#include "test_util.hpp"

namespace cc {
namespace {

const float kNaN = std::numeric_limits<float>::quiet_NaN();
const float kInf = std::numeric_limits<float>::infinity();

// Overwrites element `index` of tensor `name` in a safetensors file with `value` (in its dtype).
void poke(const std::string& file, const std::string& name, size_t index, float value) {
  size_t offset = 0;
  DType dt;
  {
    SafetensorsFile f(file);
    const TensorInfo* t = f.find(name);
    ASSERT_NE(t, nullptr) << name;
    offset = t->offset + index * dtype_size(t->dtype);
    dt = t->dtype;
  }
  std::fstream io(file, std::ios::in | std::ios::out | std::ios::binary);
  io.seekp(std::streamoff(offset));
  if (dt == DType::F32) {
    io.write(reinterpret_cast<const char*>(&value), 4);
  } else {
    ASSERT_EQ(dt, DType::BF16);
    const uint16_t b = f32_to_bf16(value);
    io.write(reinterpret_cast<const char*>(&b), 2);
  }
}

TEST(Finite, ScannerFindsTheFirstOffenderInEveryDtype) {
  std::vector<float> f(1000, 1.f);
  EXPECT_EQ(find_non_finite(f.data(), f.size()), kAllFinite);
  f[917] = -kInf;
  f[433] = kNaN;
  EXPECT_EQ(find_non_finite(f.data(), f.size()), 433u);
  EXPECT_EQ(non_finite_name(DType::F32, f.data(), 917), "-Inf");
  std::vector<uint16_t> b(1000, f32_to_bf16(2.f)), h(1000, f32_to_f16(2.f));
  EXPECT_EQ(find_non_finite(DType::BF16, b.data(), b.size()), kAllFinite);
  EXPECT_EQ(find_non_finite(DType::F16, h.data(), h.size()), kAllFinite);
  b[5] = f32_to_bf16(kInf);
  h[6] = f32_to_f16(kNaN);
  EXPECT_EQ(find_non_finite(DType::BF16, b.data(), b.size()), 5u);
  EXPECT_EQ(find_non_finite(DType::F16, h.data(), h.size()), 6u);
  EXPECT_EQ(non_finite_name(DType::BF16, b.data(), 5), "+Inf");
  // F16's largest finite value (65504) is not mistaken for Inf.
  h[6] = f32_to_f16(65504.f);
  EXPECT_EQ(find_non_finite(DType::F16, h.data(), h.size()), kAllFinite);
  std::vector<double> d(10, 0.0);
  d[9] = std::nan("");
  EXPECT_EQ(find_non_finite(DType::F64, d.data(), d.size()), 9u);
  std::vector<int32_t> ints(10, -1);  // all bits set: not a float type, nothing to find
  EXPECT_EQ(find_non_finite(DType::I32, ints.data(), ints.size()), kAllFinite);
}

TEST(Finite, ParallelScanReportsTheSmallestIndex) {
  set_num_threads(4);
  std::vector<float> x(size_t(3) << 20, 0.5f);
  x[x.size() - 1] = kNaN;
  x[2'500'001] = kInf;
  x[1'999'999] = kNaN;
  EXPECT_EQ(find_non_finite(x.data(), x.size()), 1'999'999u);
  set_num_threads(0);
}

TEST(Finite, MessageNamesTensorAndMultiIndex) {
  EXPECT_EQ(index_str({6, 32}, 113), "[3,17]");
  EXPECT_EQ(index_str({2, 3, 4}, 23), "[1,2,3]");
  EXPECT_EQ(index_str({}, 7), "[7]");
  std::vector<float> x(6 * 32, 0.f);
  x[113] = kNaN;
  test::expect_error([&] { check_finite(x.data(), {6, 32}, "w.safetensors", "layer.q", "at step 3"); },
                     {"w.safetensors", "layer.q", "NaN at [3,17]", "element 113 of 192", "at step 3"});
}

TEST(Finite, CheckpointWeightsAreCheckedOnLoad) {
  test::TempDir d;
  for (DType dt : {DType::F32, DType::BF16}) {
    const std::string dir = d / dtype_name(dt);
    test::SmallModel m;
    m.dtype = dt;
    test::make_model(dir, m);
    ASSERT_NO_THROW(Qwen2Model::load(dir, ComputeMode::F32));
    poke(dir + "/model.safetensors", "model.layers.1.mlp.up_proj.weight", 5 * 32 + 7, kInf);
    test::expect_error([&] { Qwen2Model::load(dir, ComputeMode::BF16); },
                       {dir + "/model.safetensors", "model.layers.1.mlp.up_proj.weight", "+Inf at [5,7]", "corrupt"});
  }
}

TEST(Finite, StoreRowsAreCheckedAsTheyAreRead) {
  test::TempDir d;
  ActivationBatch b;
  b.d = 4;
  for (int64_t r = 0; r < 30; ++r) {
    for (int i = 0; i < 8; ++i) b.acts.push_back(float(r + i));
    b.tokens.push_back(1);
    b.doc.push_back(0);
    b.pos.push_back(int32_t(r));
    b.corpus.push_back(0);
    ++b.rows;
  }
  write_store(d / "s", b, {1.0, 1.0}, DType::BF16, 10);
  ActivationStore ok(d / "s");
  EXPECT_NO_THROW(ok.read(0, 30));
  // Row 13 of the store is row 3 of shard 1; element 6 of a row is model 1, dimension 2.
  poke(d / "s/shard-00001.safetensors", "acts", 3 * 8 + 6, kNaN);
  ActivationStore bad(d / "s");
  EXPECT_NO_THROW(bad.read(0, 13));
  test::expect_error([&] { bad.read(10, 10); },
                     {"shard-00001.safetensors", "acts", "NaN at row 3 of this shard", "1, distilled", "dimension 2"});
}

TEST(Finite, HarvestStopsAtAModelThatOverflows) {
  test::PairFixture f;
  // A norm weight of 1e30 is finite, but the attention scores it leads to overflow: the
  // distilled model's residual stream at layer 2 turns NaN on the first batch.
  for (int64_t i = 0; i < 32; ++i) poke(f.b + "/model.safetensors", "model.layers.0.input_layernorm.weight", size_t(i), 1e30f);
  PairHarvester h(f.config());
  test::expect_error([&] { h.next(); }, {f.b, "residual stream at", "NaN", "of token", "position", "document", "--dtype f32"});
}

TEST(Finite, CrosscoderCheckpointIsChecked) {
  test::TempDir d;
  CrosscoderParams p;
  crosscoder_init(p, 4, 8, 0.1, 1);
  CrosscoderConfig c;
  c.d_in = 4;
  c.dict_size = 8;
  save_crosscoder(d / "c", p, c);
  poke(d / "c/crosscoder.safetensors", "W_dec", 5 * 8 + 1, -kInf);
  CrosscoderParams q;
  CrosscoderConfig qc;
  test::expect_error([&] { load_crosscoder(d / "c", q, qc); }, {"crosscoder.safetensors", "W_dec", "-Inf at [5,0,1]"});
}

TEST(Finite, GradientsAreNamedBeforeTheUpdate) {
  CrosscoderParams g;
  g.resize(4, 8);
  EXPECT_NO_THROW(check_grad_norm(1.0, g, 7, "out"));
  g.W_dec[size_t(3 * 8 + 5)] = kNaN;
  const double norm = clip_grad_norm(g, 1.0);
  EXPECT_FALSE(std::isfinite(norm));
  EXPECT_TRUE(std::isnan(g.W_dec[size_t(3 * 8 + 5)]));
  EXPECT_EQ(g.b_enc[0], 0.f);  // nothing was rescaled by a NaN norm
  test::expect_error([&] { check_grad_norm(norm, g, 7, "ckpt"); },
                     {"ckpt", "gradient of W_dec", "NaN at [3,5]", "at step 7", "intact"});
}

}  // namespace
}  // namespace cc
