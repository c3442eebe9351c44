// Target: a model folder as `forward`, `harvest` and every other command open it — config.json,
// generation_config.json, model.safetensors, or model.safetensors.index.json with its shards —
// loaded by Qwen2Model::load and run on three tokens. Fixture: a tiny random Qwen2 written twice
// (single file and two shards); each input replaces one of its files.
#include <memory>
#include <vector>

#include "fuzz_common.hpp"
#include "model/qwen2.hpp"
#include "model/test_model.hpp"

using namespace cc;

static std::unique_ptr<fuzz::FixtureDir> fixture;

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  fuzz::setup();
  TestModelSpec s;
  s.config.vocab_size = 64;
  s.config.hidden_size = 16;
  s.config.intermediate_size = 24;
  s.config.num_hidden_layers = 2;
  s.config.num_attention_heads = 2;
  s.config.num_key_value_heads = 1;
  s.config.head_dim = 8;
  s.config.max_position_embeddings = 128;
  s.config.eos_token_ids = {1};
  write_test_model(fuzz::scratch() + "/model/single", s);
  s.shards = 2;
  write_test_model(fuzz::scratch() + "/model/sharded", s);
  fixture = std::make_unique<fuzz::FixtureDir>(fuzz::scratch() + "/model");
  fixture->write_seeds_if_asked();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fixture->replace(data, size);
  for (const char* sub : {"/single", "/sharded"}) {
    fuzz::refuse_ok([&] {
      auto m = Qwen2Model::load(fixture->dir() + sub, ComputeMode::F32);
      const int64_t V = m->config().vocab_size;
      const std::vector<int32_t> ids = {int32_t(0 % V), int32_t(1 % V), int32_t(2 % V)};
      SeqInput in{ids, nullptr};
      ForwardOutput out = m->forward({&in, 1});
      FUZZ_CHECK(out.rows == 1 && out.vocab == V && out.logits.size() == size_t(V));
    });
  }
  fixture->restore();
  return 0;
}
