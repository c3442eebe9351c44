// Target: a crosscoder checkpoint folder — config.json, crosscoder.safetensors and the resumable
// trainer_state.safetensors — through load_crosscoder and a resumed training run of one step.
// Fixture: a tiny store and a 4-step checkpoint of each architecture; each input replaces one file.
#include <unistd.h>

#include <cstdlib>
#include <memory>

#include "crosscoder/crosscoder.hpp"
#include "crosscoder/trainer.hpp"
#include "fuzz_common.hpp"
#include "harvest/store_writer.hpp"

using namespace cc;

static std::unique_ptr<fuzz::FixtureDir> fixture;
static std::string store;

static CrosscoderConfig config(const char* arch) {
  CrosscoderConfig c;
  c.architecture = arch_from_name(arch, "fuzz");
  c.dict_size = 8;
  c.k = 2;
  c.batch_size = 16;
  c.num_tokens = 16 * 100;
  c.lr = 1e-3;
  return c;
}

static TrainOptions options(const std::string& out) {
  TrainOptions o;
  o.acts = store;
  o.out = out;
  o.buffer_rows = 64;
  o.save_every = 2;
  o.log_every = 1;
  o.progress = false;
  return o;
}

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  fuzz::setup();
  // trainer_state records the store's path; relative to the scratch folder it is the same in every
  // process, so a seed written by one process resumes in another. (So corpus folders given to
  // this target must be absolute paths, as scripts/fuzz.sh gives them.)
  if (chdir(fuzz::scratch().c_str()) != 0) std::abort();
  ActivationBatch b;
  b.d = 4;
  for (int64_t r = 0; r < 64; ++r) {
    for (int64_t i = 0; i < 2 * b.d; ++i) b.acts.push_back(float((r * 7 + i * 3) % 11) - 5.f);
    b.tokens.push_back(0);
    b.doc.push_back(int32_t(r));
    b.pos.push_back(0);
    b.corpus.push_back(0);
    ++b.rows;
  }
  store = "store";
  write_store(store, b, {1.0, 1.0}, DType::F32, 64);
  for (const char* arch : {"l1", "batchtopk"}) {
    TrainOptions o = options(std::string("ckpt/") + arch);
    o.max_steps = 4;
    train_crosscoder(config(arch), o);
  }
  fixture = std::make_unique<fuzz::FixtureDir>("ckpt");
  fixture->write_seeds_if_asked();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fixture->replace(data, size);
  for (const char* arch : {"l1", "batchtopk"}) {
    const std::string dir = fixture->dir() + "/" + arch;
    fuzz::refuse_ok([&] {
      CrosscoderParams p;
      CrosscoderConfig c;
      load_crosscoder(dir, p, c);
      FUZZ_CHECK(p.W_encT.size() == size_t(c.dict_size * 2 * c.d_in));
    });
    fuzz::refuse_ok([&] {
      TrainOptions o = options(dir);
      o.resume = true;
      o.max_steps = 5;
      train_crosscoder(config(arch), o);
    });
  }
  fixture->restore();
  return 0;
}
