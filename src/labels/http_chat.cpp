// An OpenAI-compatible chat-completions client over libcurl: POST {endpoint}/chat/completions with
// the model, one user message, temperature 0 and (until the server refuses it) a json_schema
// response_format. 429, 5xx, timeouts, dropped connections and malformed bodies are retried with
// exponential backoff (or the server's Retry-After); other 4xx end the run, since every request
// would fail the same way. The API key lives only in this process's memory and the request header.
#include "core/error.hpp"
#include "labels/chat_backend.hpp"

#ifdef CROSSCODER_CURL
#include <curl/curl.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <mutex>
#include <optional>
#include <random>
#include <thread>

namespace cc {

namespace {

struct HttpResponse {
  long status = 0;
  std::string body;
  double retry_after_s = -1;  // from the Retry-After header, when the server sent one
  std::string transport_error;  // non-empty: no HTTP response (timeout, refused, dropped)
};

size_t append_body(char* p, size_t size, size_t n, void* out) {
  static_cast<std::string*>(out)->append(p, size * n);
  return size * n;
}

size_t read_header(char* p, size_t size, size_t n, void* out) {
  std::string h(p, size * n);
  for (auto& c : h) c = char(std::tolower(static_cast<unsigned char>(c)));
  if (h.rfind("retry-after:", 0) == 0) static_cast<HttpResponse*>(out)->retry_after_s = std::atof(h.c_str() + 12);
  return size * n;
}

class HttpChat : public ChatBackend {
 public:
  explicit HttpChat(HttpChatOptions o) : o_(std::move(o)) {
    static std::once_flag once;
    std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
    if (o_.endpoint.empty() || o_.model.empty()) fail("", "--endpoint/--model", "are both required for a remote labeller");
    url_ = o_.endpoint;
    while (!url_.empty() && url_.back() == '/') url_.pop_back();
    if (url_.size() < 17 || url_.compare(url_.size() - 17, 17, "/chat/completions") != 0) url_ += "/chat/completions";
    if (const char* k = std::getenv(o_.api_key_env.c_str()); k && *k) key_ = k;
  }

  ChatReply complete(const ChatRequest& r) override {
    std::string last;
    for (int attempt = 0;; ++attempt) {
      const bool schema = schema_ok_ && !r.schema.is_null();
      const HttpResponse resp = post(body(r, schema));
      double wait = o_.backoff_s * std::pow(2.0, attempt) * jitter();
      if (!resp.transport_error.empty()) {
        last = resp.transport_error;
      } else if (resp.status == 200) {
        if (auto reply = parse(resp.body)) return *reply;
        last = "the server's reply is not a chat completion (malformed JSON)";
      } else if (resp.status == 400 && schema && mentions_response_format(resp.body)) {
        schema_ok_ = false;  // this server has no structured output: ask again without it, at once
        --attempt;
        continue;
      } else if (resp.status == 429 || resp.status >= 500) {
        last = "HTTP " + std::to_string(resp.status);
        if (resp.retry_after_s >= 0) wait = resp.retry_after_s;
      } else {
        fail(url_, "request", "was refused by the server", "HTTP 200", "HTTP " + std::to_string(resp.status) + ": " + resp.body.substr(0, 200),
             resp.status == 401 ? "is the key in $" + o_.api_key_env + "?" : "check --endpoint and --model");
      }
      if (attempt >= o_.retries) throw ChatFailure{last + " (after " + std::to_string(attempt + 1) + " attempts)"};
      std::this_thread::sleep_for(std::chrono::duration<double>(std::min(wait, o_.max_backoff_s)));
    }
  }

  int max_concurrency() const override { return std::max(1, o_.concurrency); }
  std::string describe() const override { return url_ + " model " + o_.model; }

 private:
  std::string body(const ChatRequest& r, bool schema) const {
    Json j = {{"model", o_.model}, {"messages", {{{"role", "user"}, {"content", r.prompt}}}}, {"temperature", 0}, {"max_tokens", r.max_tokens}};
    if (schema) j["response_format"] = {{"type", "json_schema"}, {"json_schema", {{"name", "answer"}, {"schema", r.schema}}}};
    return j.dump();
  }

  HttpResponse post(const std::string& payload) const {
    HttpResponse resp;
    CURL* h = curl_easy_init();
    if (!h) throw ChatFailure{"libcurl could not start a request"};
    curl_slist* headers = curl_slist_append(nullptr, "Content-Type: application/json");
    if (key_) headers = curl_slist_append(headers, ("Authorization: Bearer " + *key_).c_str());
    curl_easy_setopt(h, CURLOPT_URL, url_.c_str());
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, payload.c_str());
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, long(payload.size()));
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, long(o_.timeout_s * 1000));
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, long(o_.connect_timeout_s * 1000));
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);  // timeouts without SIGALRM: safe in worker threads
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, append_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &resp.body);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, read_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, &resp);
    const CURLcode rc = curl_easy_perform(h);
    if (rc != CURLE_OK) resp.transport_error = curl_easy_strerror(rc);
    else curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &resp.status);
    curl_slist_free_all(headers);
    curl_easy_cleanup(h);
    return resp;
  }

  static std::optional<ChatReply> parse(const std::string& body) {
    const Json j = Json::parse(body, nullptr, false);
    if (j.is_discarded() || !j.is_object() || !j.contains("choices") || !j["choices"].is_array() || j["choices"].empty()) return std::nullopt;
    const Json& m = j["choices"][0];
    if (!m.is_object() || !m.contains("message") || !m["message"].is_object() || !m["message"].contains("content") ||
        !m["message"]["content"].is_string())
      return std::nullopt;
    ChatReply r{m["message"]["content"].get<std::string>()};
    if (j.contains("usage") && j["usage"].is_object()) {
      const Json& u = j["usage"];
      auto count = [&](const char* k) { return u.contains(k) && u[k].is_number_integer() ? u[k].get<int64_t>() : int64_t(0); };
      r.prompt_tokens = count("prompt_tokens");
      r.completion_tokens = count("completion_tokens");
    }
    return r;
  }

  static bool mentions_response_format(const std::string& body) {
    return body.find("response_format") != std::string::npos || body.find("json_schema") != std::string::npos;
  }

  static double jitter() {
    thread_local std::mt19937_64 rng(std::random_device{}());
    return std::uniform_real_distribution<double>(0.75, 1.25)(rng);
  }

  HttpChatOptions o_;
  std::string url_;
  std::optional<std::string> key_;
  std::atomic<bool> schema_ok_{true};
};

}  // namespace

std::unique_ptr<ChatBackend> make_http_backend(const HttpChatOptions& o) { return std::make_unique<HttpChat>(o); }

}  // namespace cc
#else  // a build configured with -DCROSSCODER_CURL=OFF (no libcurl)

namespace cc {

std::unique_ptr<ChatBackend> make_http_backend(const HttpChatOptions&) {
  fail("", "--endpoint", "is not available: this binary was built without libcurl (-DCROSSCODER_CURL=OFF)", "", "",
       "rebuild with libcurl4-openssl-dev installed, or label with --local DIR");
}

}  // namespace cc
#endif
