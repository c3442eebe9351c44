// `crosscoder make-test-model`: random checkpoint in exact HF layout, any shape.
#include <cstdio>

#include "cli/commands.hpp"
#include "core/error.hpp"
#include "model/test_model.hpp"

namespace cc::cli {

void register_make_test_model(CLI::App& app) {
  struct Opts {
    std::string out, dtype = "BF16";
    int threads = 0;
    TestModelSpec spec;
  };
  auto o = std::make_shared<Opts>();
  Qwen2Config& c = o->spec.config;
  c.vocab_size = 512;
  c.hidden_size = 64;
  c.intermediate_size = 128;
  c.num_hidden_layers = 2;
  c.num_attention_heads = 4;
  c.num_key_value_heads = 2;
  c.head_dim = 0;
  c.max_position_embeddings = 4096;
  c.rope_theta = 10000;
  c.rms_norm_eps = 1e-6;
  c.eos_token_ids = {};
  auto* s = app.add_subcommand("make-test-model", "Write a random Qwen2 checkpoint in Hugging Face layout");
  s->add_option("--out", o->out, "Output directory")->required();
  s->add_option("--vocab", c.vocab_size, "vocab_size")->capture_default_str();
  s->add_option("--d-model", c.hidden_size, "hidden_size")->capture_default_str();
  s->add_option("--d-mlp", c.intermediate_size, "intermediate_size")->capture_default_str();
  s->add_option("--layers", c.num_hidden_layers, "num_hidden_layers")->capture_default_str();
  s->add_option("--heads", c.num_attention_heads, "num_attention_heads")->capture_default_str();
  s->add_option("--kv-heads", c.num_key_value_heads, "num_key_value_heads")->capture_default_str();
  s->add_option("--head-dim", c.head_dim, "head_dim (0 = d_model / heads)")->capture_default_str();
  s->add_option("--rope-theta", c.rope_theta, "rope_theta")->capture_default_str();
  s->add_option("--rms-eps", c.rms_norm_eps, "rms_norm_eps")->capture_default_str();
  s->add_option("--max-pos", c.max_position_embeddings, "max_position_embeddings")->capture_default_str();
  s->add_flag("--tied", c.tie_word_embeddings, "tie_word_embeddings = true (no lm_head.weight)");
  s->add_option("--eos", c.eos_token_ids, "EOS token id(s) (default: none)");
  s->add_option("--dtype", o->dtype, "Weight dtype")->check(CLI::IsMember({"F32", "F16", "BF16"}))->capture_default_str();
  s->add_option("--shards", o->spec.shards, "Number of safetensors shards (> 1 writes an index)")->capture_default_str();
  s->add_option("--seed", o->spec.seed, "Random seed")->capture_default_str();
  s->add_option("--init-scale", o->spec.init_scale, "Scale of matrix init (std = scale/sqrt(in))")->capture_default_str();
  s->add_option("--threads", o->threads, "Threads (0 = all cores; generation is single-threaded)")->capture_default_str();
  s->callback([o] {
    Qwen2Config& c = o->spec.config;
    if (c.head_dim == 0) {
      if (c.num_attention_heads <= 0 || c.hidden_size % c.num_attention_heads != 0)
        fail("", "--d-model", "must be a multiple of --heads when --head-dim is 0");
      c.head_dim = c.hidden_size / c.num_attention_heads;
    }
    o->spec.dtype = *dtype_from_name(o->dtype);
    write_test_model(o->out, o->spec);
    std::printf("wrote %s\n", o->out.c_str());
  });
}

}  // namespace cc::cli
