// `crosscoder label`: LLM labels with detection scores for an analysis folder's features, from an
// OpenAI-compatible server or a local instruct model (src/labels/labeller.hpp).
#include <cstdio>

#include "cli/commands.hpp"
#include "cli/compute_option.hpp"
#include "core/error.hpp"
#include "core/parallel.hpp"
#include "labels/labeller.hpp"

namespace cc::cli {

void register_label(CLI::App& app) {
  struct Opts {
    LabelOptions l;
    HttpChatOptions http;
    LocalChatOptions local;
    std::string dtype = "bf16";
    int threads = 0;
    bool quiet = false, no_detection = false;
  };
  auto o = std::make_shared<Opts>();
  LabelOptions& l = o->l;
  auto* s = app.add_subcommand("label", "Label features with an LLM (remote or local) and score each label by detection");
  s->add_option("--analysis", l.analysis, "Analysis folder (features.jsonl, examples.jsonl, summary.json)")->required();
  s->add_option("--out", l.out, "Output folder (labels.jsonl, cache.jsonl, failed.jsonl, usage.json); a rerun resumes")->required();
  auto* ep = s->add_option("--endpoint", o->http.endpoint, "OpenAI-compatible base URL, e.g. https://api.openai.com/v1 or http://127.0.0.1:8080/v1 (default: none; give it or --local)");
  s->add_option("--model", o->http.model, "Model name for --endpoint, e.g. gpt-4o-mini (default: none; required with --endpoint)");
  auto* loc = s->add_option("--local", o->local.model_dir, "Label with this local Qwen2-family instruct model instead, no network (default: none)");
  ep->excludes(loc);
  s->add_option("--api-key-env", o->http.api_key_env, "Environment variable holding the API key (never written anywhere)")->capture_default_str();
  s->add_option("--timeout", o->http.timeout_s, "Seconds per request")->capture_default_str();
  s->add_option("--retries", o->http.retries, "Further attempts after 429, 5xx, timeouts, dropped connections, malformed replies")->capture_default_str();
  s->add_option("--backoff", o->http.backoff_s, "First retry wait in seconds, doubled each time (or the server's Retry-After)")->capture_default_str();
  s->add_option("--concurrency", o->http.concurrency, "Requests in flight at once (--endpoint)")->capture_default_str();
  s->add_option("--feature", l.features, "Only these features (repeatable; default: every alive feature passing the filters)");
  s->add_option("--class", l.classes, "Only these NRN classes: base-only, shared, distilled-only, changed (repeatable; default: all)");
  s->add_option("--category", l.categories, "Only features with these lexicon categories (repeatable; default: all)");
  s->add_option("--nrn-min", l.nrn_min, "Only features with NRN at least this")->capture_default_str();
  s->add_option("--nrn-max", l.nrn_max, "Only features with NRN at most this")->capture_default_str();
  s->add_option("--limit", l.limit, "At most this many features, in feature order (0 = all)")->capture_default_str();
  s->add_option("--shown-top", l.shown_top, "Top contexts in the labelling prompt")->capture_default_str();
  s->add_option("--shown-samples", l.shown_samples, "Sampled contexts in the labelling prompt")->capture_default_str();
  s->add_option("--detect-positive", l.detect_positive, "Held-out activating contexts in the detection prompt")->capture_default_str();
  s->add_option("--detect-negative", l.detect_negative, "Non-activating contexts in the detection prompt")->capture_default_str();
  s->add_flag("--no-detection", o->no_detection, "Labels only, no detection score");
  s->add_option("--crosscoder", l.crosscoder, "Checkpoint for the non-activating check (default: the analysis's)");
  s->add_option("--acts", l.acts, "Store for the non-activating check (default: the analysis's)");
  s->add_option("--max-tokens", l.max_tokens, "Most tokens per answer")->capture_default_str();
  s->add_option("--price-in", l.price_in, "Price per million prompt tokens, for usage.json's cost")->capture_default_str();
  s->add_option("--price-out", l.price_out, "Price per million completion tokens")->capture_default_str();
  s->add_option("--seed", l.seed, "Seed of the detection mixes")->capture_default_str();
  add_compute_option(s, o->dtype);
  s->add_flag("--quiet", o->quiet, "No progress bar");
  s->add_option("--threads", o->threads, "Threads (0 = all cores)")->capture_default_str();
  s->footer("Merge the labels into the tables and the report with `crosscoder analyze ... --labels OUT/labels.jsonl`.");
  s->callback([o] {
    set_num_threads(o->threads);
    o->l.progress = !o->quiet;
    o->l.detection = !o->no_detection;
    o->local.mode = compute_mode_from_name(o->dtype);
    if (o->http.endpoint.empty() && o->local.model_dir.empty()) fail("", "labeller", "is not given", "--endpoint URL --model NAME, or --local DIR");
    auto backend = o->http.endpoint.empty() ? make_local_backend(o->local) : make_http_backend(o->http);
    const LabelRunStats s = run_labelling(o->l, *backend);
    std::printf("labelled %lld features (%lld already done, %lld failed; %lld requests, %lld cache hits) into %s/labels.jsonl\n",
                (long long)s.labelled, (long long)s.skipped, (long long)s.failed, (long long)s.requests, (long long)s.cache_hits,
                o->l.out.c_str());
  });
}

}  // namespace cc::cli
