// Target: an activation store — manifest.json and its safetensors shards — opened by
// ActivationStore and read end to end in uneven chunks, as training and analysis read it.
// Fixture: two small stores (F32 in 3 shards, BF16 in 2); each input replaces one of their files.
#include <memory>

#include "fuzz_common.hpp"
#include "harvest/activation_store.hpp"
#include "harvest/store_writer.hpp"

using namespace cc;

static std::unique_ptr<fuzz::FixtureDir> fixture;

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  fuzz::setup();
  ActivationBatch b;
  b.d = 4;
  for (int64_t r = 0; r < 40; ++r) {
    for (int64_t i = 0; i < 2 * b.d; ++i) b.acts.push_back(float(r) * 0.25f - float(i));
    b.tokens.push_back(int32_t(r % 7));
    b.doc.push_back(int32_t(r / 10));
    b.pos.push_back(int32_t(r % 10));
    b.corpus.push_back(uint8_t(r % 2));
    ++b.rows;
  }
  write_store(fuzz::scratch() + "/stores/f32", b, {0.5, 2.0}, DType::F32, 16);
  write_store(fuzz::scratch() + "/stores/bf16", b, {1.0, 1.0}, DType::BF16, 24);
  fixture = std::make_unique<fuzz::FixtureDir>(fuzz::scratch() + "/stores");
  fixture->write_seeds_if_asked();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fixture->replace(data, size);
  for (const char* sub : {"/f32", "/bf16"}) {
    fuzz::refuse_ok([&] {
      ActivationStore s(fixture->dir() + sub);
      FUZZ_CHECK(s.rows() >= 0 && s.d_model() > 0);
      for (int64_t begin = 0; begin < s.rows(); begin += 7) {
        const int64_t n = std::min<int64_t>(7, s.rows() - begin);
        ActivationBatch b = s.read(begin, n);
        FUZZ_CHECK(b.rows == n && b.acts.size() == size_t(n * 2 * s.d_model()) && b.tokens.size() == size_t(n));
      }
    });
  }
  fixture->restore();
  return 0;
}
