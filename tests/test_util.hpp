// Shared test helpers: temporary directories, small random checkpoints, error-message checks.
#pragma once
#include <gtest/gtest.h>

#include <filesystem>
#include <random>
#include <string>

#include "core/error.hpp"
#include "model/test_model.hpp"

namespace cc::test {

class TempDir {
 public:
  TempDir() {
    static std::mt19937_64 rng(std::random_device{}());
    path_ = std::filesystem::temp_directory_path() / ("cc-test-" + std::to_string(rng()));
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  std::string str() const { return path_.string(); }
  std::string operator/(const std::string& s) const { return (path_ / s).string(); }

 private:
  std::filesystem::path path_;
};

struct SmallModel {
  int64_t vocab = 97, d = 32, mlp = 48, layers = 2, heads = 4, kv = 2, head_dim = 8;
  double theta = 10000;
  bool tied = false;
  DType dtype = DType::F32;
  int shards = 1;
  uint64_t seed = 1;
};

inline TestModelSpec spec_of(const SmallModel& m) {
  TestModelSpec s;
  Qwen2Config& c = s.config;
  c.vocab_size = m.vocab;
  c.hidden_size = m.d;
  c.intermediate_size = m.mlp;
  c.num_hidden_layers = m.layers;
  c.num_attention_heads = m.heads;
  c.num_key_value_heads = m.kv;
  c.head_dim = m.head_dim;
  c.rope_theta = m.theta;
  c.rms_norm_eps = 1e-6;
  c.tie_word_embeddings = m.tied;
  c.max_position_embeddings = 2048;
  c.eos_token_ids = {int64_t(m.vocab - 1)};
  s.dtype = m.dtype;
  s.shards = m.shards;
  s.seed = m.seed;
  return s;
}

inline void make_model(const std::string& dir, const SmallModel& m) { write_test_model(dir, spec_of(m)); }

// Runs f, expects a cc::Error whose message contains every one of `parts`.
template <class F>
void expect_error(F&& f, std::initializer_list<std::string> parts) {
  try {
    f();
    ADD_FAILURE() << "expected a cc::Error";
  } catch (const cc::Error& e) {
    const std::string msg = e.what();
    for (const auto& p : parts) EXPECT_NE(msg.find(p), std::string::npos) << "message '" << msg << "' lacks '" << p << "'";
    EXPECT_EQ(msg.find('\n'), std::string::npos) << "error must be one line: " << msg;
  }
}

}  // namespace cc::test
