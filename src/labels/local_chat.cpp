// The labeller on this project's own engine: a local instruct model of the Qwen2 family, its chat
// template detected from its tokenizer, greedy decoding. One request at a time (one model).
#include <mutex>

#include "labels/chat_backend.hpp"
#include "model/generate.hpp"
#include "model/qwen2.hpp"
#include "tokenizer/chat_template.hpp"
#include "tokenizer/tokenizer.hpp"

namespace cc {

namespace {

class LocalChat : public ChatBackend {
 public:
  explicit LocalChat(const LocalChatOptions& o)
      : dir_(o.model_dir), tok_(Tokenizer::load(o.model_dir)), model_(Qwen2Model::load(o.model_dir, o.mode)), template_(detect_chat_template(*tok_)) {}

  ChatReply complete(const ChatRequest& r) override {
    std::lock_guard lock(busy_);
    const std::vector<int32_t> prompt = tok_->encode(apply_chat_template(template_, r.prompt), false);
    GenerateOptions g;
    g.max_new_tokens = r.max_tokens;
    g.stop_ids = model_->config().eos_token_ids;
    GenerateResult out = generate(*model_, prompt, g);
    if (out.stopped_on_eos && !out.tokens.empty()) out.tokens.pop_back();
    return {tok_->decode(out.tokens, true), int64_t(prompt.size()), int64_t(out.tokens.size())};
  }

  int max_concurrency() const override { return 1; }
  std::string describe() const override { return "local " + dir_ + " (" + chat_template_name(template_) + " template)"; }

 private:
  std::string dir_;
  std::unique_ptr<Tokenizer> tok_;
  std::unique_ptr<Qwen2Model> model_;
  ChatTemplate template_;
  std::mutex busy_;
};

}  // namespace

std::unique_ptr<ChatBackend> make_local_backend(const LocalChatOptions& o) { return std::make_unique<LocalChat>(o); }

}  // namespace cc
