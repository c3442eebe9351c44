// `crosscoder harvest`: paired residual activations of two models into a sharded store.
#include <cstdio>

#include "cli/commands.hpp"
#include "cli/compute_option.hpp"
#include "core/error.hpp"
#include "core/parallel.hpp"
#include "data/corpus.hpp"
#include "dist/comm.hpp"
#include "harvest/store_writer.hpp"

namespace cc::cli {

void register_harvest(CLI::App& app) {
  struct Opts {
    HarvestConfig cfg;
    StoreOptions store;
    std::vector<std::string> corpora;
    std::string dtype = "bf16", store_dtype = "bf16";
    int threads = 0;
    bool quiet = false;
  };
  auto o = std::make_shared<Opts>();
  auto* c = app.add_subcommand("harvest", "Harvest paired residual activations of a base and a distilled model");
  c->add_option("--base", o->cfg.base_dir, "Base model directory (model A)")->required();
  c->add_option("--distilled", o->cfg.distilled_dir, "Distilled model directory (model B)")->required();
  c->add_option("--layer,--hook", o->cfg.hook, "Hook: layer L (= blocks.L.hook_resid_pre) or a hook name; default half depth");
  c->add_option("--corpus", o->corpora,
                "PATH[:FIELD][@WEIGHT][#TEMPLATE], repeatable. FIELD for JSONL: text, a+b, a.b, messages, conversations[].value; "
                "for .txt files or folders: blocks (default) or file. WEIGHT: token share. TEMPLATE: plain, chatml, r1-distill")
      ->required();
  c->add_option("--tokenizer", o->cfg.tokenizer, "tokenizer.json or its folder (default: the base model's)");
  c->add_option("--tokens", o->store.tokens, "Activation rows (kept tokens) to harvest")->required();
  c->add_option("--seq-len", o->cfg.pack.seq_len, "Tokens per packed sequence, start token included")->capture_default_str();
  c->add_option("--batch-seqs", o->cfg.batch_seqs, "Sequences per forward call")->capture_default_str();
  c->add_option("--start-token", o->cfg.pack.start_id, "Id that starts every sequence (default: <|endoftext|>, else the tokenizer's BOS)");
  c->add_option("--sep-token", o->cfg.pack.sep_id, "Id between documents (default: as --start-token)");
  c->add_option("--seed", o->cfg.pack.seed, "Document-order seed")->capture_default_str();
  c->add_option("--eval-fraction", o->cfg.pack.eval_fraction,
                "Share of documents held out for evaluation (by a stable hash of their text; training skips them)")
      ->capture_default_str();
  c->add_option("--held-out", o->cfg.pack.held_out_list,
                "JSON list of held-out documents by file and line (e.g. organism/split.json); the files it names take their split "
                "from it instead of the hash (default: none)");
  c->add_option("--out", o->store.out, "Store directory")->required();
  c->add_option("--shard-tokens", o->store.shard_rows, "Rows per shard (closed at a batch boundary)")->capture_default_str();
  c->add_option("--store-dtype", o->store_dtype, "bf16 (4·d bytes/token) or f32 (8·d)")->check(CLI::IsMember({"bf16", "f32"}))->capture_default_str();
  c->add_option("--norm-tokens", o->store.norm_rows, "Rows used to estimate the norm factors")->capture_default_str();
  add_compute_option(c, o->dtype);
  c->add_flag("--resume", o->store.resume, "Continue an interrupted harvest in --out");
  c->add_flag("--quiet", o->quiet, "No progress bar");
  c->add_option("--threads", o->threads, "Threads (0 = all cores, or this rank's share under mpirun)")->capture_default_str();
  c->footer("Under `mpirun -np N` the ranks take turns batch by batch and rank 0 writes the store: the same store, "
            "byte for byte, as one process writes (docs/DISTRIBUTED.md). --resume works with any N.");
  c->callback([o] {
    set_num_threads(o->threads);
    for (const auto& s : o->corpora) o->cfg.corpora.push_back(parse_corpus_spec(s));
    o->cfg.mode = compute_mode_from_name(o->dtype);
    o->store.dtype = o->store_dtype == "f32" ? DType::F32 : DType::BF16;
    o->store.progress = !o->quiet;
    const int64_t rows = harvest_to_store(o->cfg, o->store);
    if (dist::root()) std::printf("store %s: %lld tokens\n", o->store.out.c_str(), (long long)rows);
  });
}

}  // namespace cc::cli
