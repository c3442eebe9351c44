// `crosscoder tokenize`: text (or a file) → token ids, optionally through a chat template.
#include <cstdio>

#include "cli/commands.hpp"
#include "core/atomic_file.hpp"
#include "core/error.hpp"
#include "core/parallel.hpp"
#include "tokenizer/chat_template.hpp"
#include "tokenizer/tokenizer.hpp"

namespace cc::cli {

void register_tokenize(CLI::App& app) {
  struct Opts {
    std::string tokenizer, text, file, chat;
    bool json = false, no_special = false;
    int threads = 0;
  };
  auto o = std::make_shared<Opts>();
  auto* c = app.add_subcommand("tokenize", "Encode text with a Hugging Face tokenizer.json");
  c->add_option("--tokenizer", o->tokenizer, "tokenizer.json or a directory holding it")->required();
  auto* t = c->add_option("--text", o->text, "Text to encode; give it or --file (no default)");
  auto* f = c->add_option("--file", o->file, "Encode this file's contents; give it or --text (no default)");
  t->excludes(f);
  c->add_option("--chat", o->chat, "Wrap in a chat template: auto, plain, chatml, r1-distill (default: none)");
  c->add_flag("--no-special", o->no_special, "Do not let the post-processor add special tokens (e.g. BOS)");
  c->add_flag("--json", o->json, "Print {\"ids\": [...], \"tokens\": [...]} instead of ids");
  c->add_option("--threads", o->threads, "Threads (0 = all cores)")->capture_default_str();
  c->callback([o] {
    set_num_threads(o->threads);
    if (o->text.empty() && o->file.empty()) fail("", "tokenize", "needs --text or --file");
    auto tok = Tokenizer::load(o->tokenizer);
    const std::string text = o->file.empty() ? o->text : read_file(o->file);
    const auto ids = (o->no_special && o->chat.empty()) ? tok->encode(text, false) : encode_prompt(*tok, text, o->chat);
    if (o->json) {
      Json j = {{"ids", ids}, {"tokens", Json::array()}};
      for (int32_t id : ids) j["tokens"].push_back(utf8_lossy(tok->id_to_token(id)));
      std::printf("%s\n", j.dump().c_str());
    } else {
      for (size_t i = 0; i < ids.size(); ++i) std::printf(i ? ",%d" : "%d", ids[i]);
      std::printf("\n");
    }
  });
}

}  // namespace cc::cli
