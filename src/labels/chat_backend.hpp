// Where a labeller's chat completions come from: an OpenAI-compatible server over HTTP (OpenAI, vLLM,
// llama.cpp's server, Ollama; http_chat.cpp) or this project's own engine with a local instruct model
// of the Qwen2 family and its chat template (no network, no key).
#pragma once
#include <cstdint>
#include <memory>
#include <string>

#include "core/json_file.hpp"
#include "model/weights.hpp"

namespace cc {

struct ChatRequest {
  std::string prompt;      // one user message
  Json schema;             // a JSON schema the answer should follow (null: free text)
  int64_t max_tokens = 256;
};

struct ChatReply {
  std::string content;
  int64_t prompt_tokens = 0, completion_tokens = 0;
};

// A request that failed for good (after the retries a backend makes): what happened, in one line.
struct ChatFailure {
  std::string what;
};

class ChatBackend {
 public:
  virtual ~ChatBackend() = default;
  // Throws ChatFailure when no reply could be had; cc::Error for a misconfiguration.
  virtual ChatReply complete(const ChatRequest& r) = 0;
  virtual int max_concurrency() const = 0;  // how many complete() calls may run at once
  virtual std::string describe() const = 0;  // e.g. "http://127.0.0.1:8000/v1 model gpt-4o-mini"
};

struct HttpChatOptions {
  std::string endpoint;                 // base URL, e.g. https://api.openai.com/v1 (…/chat/completions is added)
  std::string model;                    // e.g. gpt-4o-mini
  std::string api_key_env = "OPENAI_API_KEY";  // the key is read from this variable; unset: no Authorization header
  double timeout_s = 60, connect_timeout_s = 10;
  int retries = 5;                      // further attempts after a 429, 5xx, timeout, dropped connection or malformed body
  double backoff_s = 1, max_backoff_s = 60;  // wait backoff · 2^attempt (± 25%), or the server's Retry-After
  int concurrency = 4;
};
std::unique_ptr<ChatBackend> make_http_backend(const HttpChatOptions& o);

struct LocalChatOptions {
  std::string model_dir;  // an instruct model with tokenizer.json (its chat template detected)
  ComputeMode mode = ComputeMode::BF16;
};
std::unique_ptr<ChatBackend> make_local_backend(const LocalChatOptions& o);

}  // namespace cc
