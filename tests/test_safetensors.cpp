// safetensors reader: round trip and every kind of lying or truncated header.
#include <fstream>

#include "core/safetensors.hpp"
#include "test_util.hpp"

namespace cc {
namespace {

using test::expect_error;
using test::TempDir;

void write_raw(const std::string& path, const std::string& header, size_t data_bytes, int64_t claimed_len = -1) {
  std::ofstream f(path, std::ios::binary);
  uint64_t n = claimed_len >= 0 ? uint64_t(claimed_len) : header.size();
  f.write(reinterpret_cast<const char*>(&n), 8);
  f << header;
  f << std::string(data_bytes, '\0');
}

TEST(Safetensors, RoundTrip) {
  TempDir d;
  std::vector<float> a = {1, 2, 3, 4, 5, 6};
  std::vector<uint16_t> b = {f32_to_bf16(1.5f), f32_to_bf16(-2.f), f32_to_bf16(3.25f)};
  write_safetensors(d / "x.safetensors", {{"a", DType::F32, {2, 3}, a.data()}, {"b", DType::BF16, {3}, b.data()}},
                    {{"format", "pt"}});
  SafetensorsFile f(d / "x.safetensors");
  ASSERT_EQ(f.tensors().size(), 2u);
  const TensorInfo* ta = f.find("a");
  ASSERT_TRUE(ta);
  EXPECT_EQ(ta->shape, (Shape{2, 3}));
  std::vector<float> got(6);
  convert_to_f32(ta->dtype, ta->data, got.data(), 6);
  EXPECT_EQ(got, a);
  const TensorInfo* tb = f.find("b");
  std::vector<float> gb(3);
  convert_to_f32(tb->dtype, tb->data, gb.data(), 3);
  EXPECT_EQ(gb, (std::vector<float>{1.5f, -2.f, 3.25f}));
  EXPECT_EQ(f.metadata()["format"], "pt");
}

TEST(Safetensors, TruncatedFile) {
  TempDir d;
  std::ofstream(d / "t.safetensors") << "abc";
  expect_error([&] { SafetensorsFile f(d / "t.safetensors"); }, {"t.safetensors", "truncated"});
}

TEST(Safetensors, HeaderLengthBeyondFile) {
  TempDir d;
  write_raw(d / "t.safetensors", "{}", 0, 1000);
  expect_error([&] { SafetensorsFile f(d / "t.safetensors"); }, {"t.safetensors", "header length", "beyond"});
}

TEST(Safetensors, MalformedJson) {
  TempDir d;
  write_raw(d / "t.safetensors", "{\"a\": {\"dtype\": ", 0);
  expect_error([&] { SafetensorsFile f(d / "t.safetensors"); }, {"t.safetensors", "malformed"});
}

TEST(Safetensors, OffsetsPastEnd) {
  TempDir d;
  write_raw(d / "t.safetensors", R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})", 8);
  expect_error([&] { SafetensorsFile f(d / "t.safetensors"); }, {"'a'", "past the end"});
}

TEST(Safetensors, ByteLengthDisagreesWithShape) {
  TempDir d;
  write_raw(d / "t.safetensors", R"({"a":{"dtype":"F32","shape":[3],"data_offsets":[0,16]}})", 16);
  expect_error([&] { SafetensorsFile f(d / "t.safetensors"); }, {"'a'", "byte length", "12 bytes", "16 bytes"});
}

TEST(Safetensors, OverlappingRanges) {
  TempDir d;
  write_raw(d / "t.safetensors",
            R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},"b":{"dtype":"F32","shape":[4],"data_offsets":[8,24]}})", 24);
  expect_error([&] { SafetensorsFile f(d / "t.safetensors"); }, {"overlaps"});
}

TEST(Safetensors, UnknownDtypeAndBadShape) {
  TempDir d;
  write_raw(d / "t.safetensors", R"({"a":{"dtype":"Q4","shape":[4],"data_offsets":[0,4]}})", 4);
  expect_error([&] { SafetensorsFile f(d / "t.safetensors"); }, {"'a'", "unsupported dtype", "Q4"});
  write_raw(d / "u.safetensors", R"({"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}})", 4);
  expect_error([&] { SafetensorsFile f(d / "u.safetensors"); }, {"'a'", "negative"});
  write_raw(d / "v.safetensors", R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[8,0]}})", 8);
  expect_error([&] { SafetensorsFile f(d / "v.safetensors"); }, {"'a'", "begin after"});
}

TEST(Safetensors, MissingFile) {
  expect_error([&] { SafetensorsFile f("/nonexistent/x.safetensors"); }, {"/nonexistent/x.safetensors", "cannot open"});
}

}  // namespace
}  // namespace cc
