// Markdown summary of build.json: the command, shape, data, curves, held-out losses, generation check.
#include "organism/build_report.hpp"

#include <sstream>

#include "core/atomic_file.hpp"
#include "core/json_file.hpp"

namespace cc {

namespace {
std::string fmt(double v, int digits = 3) {
  std::ostringstream o;
  o.setf(std::ios::fixed);
  o.precision(digits);
  o << v;
  return o.str();
}
}  // namespace

void write_organism_build_md(const std::string& out) {
  const Json b = read_json_file(out + "/build.json");
  const Json& sh = b["shape"];
  const Json& tr = b["training"];
  const Json& loss = b["heldout_loss"];
  const Json& gen = b["generation"];
  const Json& rates = b["trace_word_rates_per_1000_tokens"];
  std::ostringstream md;
  md << "# The model organism\n\n";
  md << "Built by `crosscoder organism build --out " << out << " --seed " << b["seed"] << " --base-steps " << tr["base"]["steps"]
     << " --distill-steps " << tr["distilled"]["steps"] << "` (other options at their defaults) in "
     << fmt(b["wall_seconds"].get<double>() / 60, 1) << " minutes on the project's 2-core machine. Every number below comes from that run; "
     << "`build.json` holds them all, and `crosscoder organism describe --out " << out << "` re-renders this file from it.\n\n";
  md << "## Shape and data\n\n";
  md << "Qwen2 architecture, vocabulary " << sh["vocab"] << " (byte-level BPE trained here, " << b["data"]["tokenizer_merges"]
     << " merges, R1-Distill special tokens), d_model " << sh["d_model"] << ", " << sh["layers"] << " layers, " << sh["heads"] << " heads ("
     << sh["kv_heads"] << " KV), MLP " << sh["d_mlp"] << ", " << sh["params"] << " parameters, untied embeddings, BF16 on disk.\n\n";
  const Json& d = b["data"];
  md << "- base: " << d["base_train_docs"] << " training documents (Shakespeare and WikiText blocks, GSM8K train problems with plain "
     << "solutions), " << d["base_train_tokens"] << " tokens; " << d["base_eval_docs"] << " held out\n";
  md << "- distillation: " << d["distill_train_chats"] << " R1-template chats (" << d["real_traces"] << " real R1-distill traces and "
     << d["synthetic_traces"] << " traces synthesised from GSM8K train solutions, before the split), " << d["distill_train_tokens"]
     << " tokens (loss on responses only); " << d["distill_eval_chats"] << " held out\n\n";
  md << "## Training\n\n| stage | steps | peak lr | tokens/s | GFLOP/s |\n|---|---|---|---|---|\n";
  for (const char* s : {"base", "distilled"})
    md << "| " << s << " | " << tr[s]["steps"] << " | " << tr[s]["lr"] << " | " << fmt(tr[s]["tokens_per_s"].get<double>(), 0) << " | "
       << fmt(tr[s]["gflops"].get<double>(), 1) << " |\n";
  md << "\nLoss curves (mean training loss since the previous row; held-out loss on the stage's own held-out set):\n\n";
  for (const char* s : {"base", "distilled"}) {
    md << "| " << s << " step | train | held-out |\n|---|---|---|\n";
    for (const Json& l : tr[s]["log"])
      md << "| " << l["step"] << " | " << fmt(l["train_loss"].get<double>()) << " | " << fmt(l["eval_loss"].get<double>()) << " |\n";
    md << "\n";
  }
  md << "## Did distillation happen?\n\n| | base | distilled |\n|---|---|---|\n";
  md << "| held-out loss, general text + GSM8K (nats/token) | " << fmt(loss["base"]["general_and_gsm8k"].get<double>()) << " | "
     << fmt(loss["distilled"]["general_and_gsm8k"].get<double>()) << " |\n";
  md << "| held-out loss, reasoning traces (response tokens) | " << fmt(loss["base"]["traces"].get<double>()) << " | "
     << fmt(loss["distilled"]["traces"].get<double>()) << " |\n";
  md << "| generations closing `</think>` (of " << gen["base"]["prompts"] << " prompts) | " << gen["base"]["closed_think"] << " | "
     << gen["distilled"]["closed_think"] << " |\n";
  md << "| generated tokens | " << gen["base"]["generated_tokens"] << " | " << gen["distilled"]["generated_tokens"] << " |\n";
  for (auto& [cat, r] : rates.items())
    md << "| " << cat << " words per 1000 generated tokens (held-out traces: " << fmt(r.get<double>(), 2) << ") | "
       << fmt(gen["base"]["per_1000_tokens"][cat].get<double>(), 2) << " | " << fmt(gen["distilled"]["per_1000_tokens"][cat].get<double>(), 2)
       << " |\n";
  md << "\nPrompts: \"What is 5-1?\" and the first GSM8K test questions in the R1-Distill template, greedy, up to the build's "
     << "`--max-new-tokens`; words counted with `configs/reasoning_lexicon.toml`.\n\n## Samples\n\n";
  for (const char* s : {"base", "distilled"})
    for (const Json& x : b["samples"][s]) {
      std::string text = x["text"].get<std::string>();
      if (text.size() > 600) text = text.substr(0, 600) + " [...]";
      md << "**" << s << "**, \"" << x["question"].get<std::string>().substr(0, 80) << "\":\n\n```\n" << text << "\n```\n\n";
    }
  write_file_atomic(out + "/BUILD.md", md.str());
}

}  // namespace cc
