// The organism's training data, all from the project's data/ folder, seeded and deterministic:
//   base:    general text (Shakespeare blocks, WikiText paragraphs) + GSM8K train problems with
//            their plain worked solutions ("Question: ... Answer: ... The answer is N.");
//   distill: R1-style chats in the R1-Distill template — the real traces of reasoning_traces/
//            and traces synthesised from GSM8K train solutions with the moves of PAPER.md §3
//            (self-reflection, verification, deduction, alternatives, contrast) in varied wording.
// Each set keeps a held-out split.
#pragma once
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "organism/lm_trainer.hpp"
#include "tokenizer/tokenizer.hpp"

namespace cc {

struct Chat {
  std::string prompt;    // "<｜begin▁of▁sentence｜><｜User｜>{question}<｜Assistant｜>"
  std::string response;  // "<think>\n...\n</think>\n\n{answer}<｜end▁of▁sentence｜>" (no end when the trace was cut)
  uint32_t trace_line = 0;  // a real trace: its 1-based line in reasoning_traces.jsonl; 0 = synthesised
};

struct OrganismTexts {
  std::vector<std::string> base_train, base_eval;
  std::vector<Chat> distill_train, distill_eval;
  int64_t real_traces = 0, synthetic_traces = 0;
};

OrganismTexts build_organism_texts(const std::string& data_dir, uint64_t seed, double eval_frac = 0.05);

// The real traces the distillation held out, as a held-out list (PackOptions::held_out_list) for
// DATA/reasoning_traces/reasoning_traces.jsonl, written atomically to OUT/split.json with the path
// relative to OUT: a harvest given it never trains a crosscoder on, and never evaluates on, a
// trace other than those the distilled model never saw. Returns the file's path.
std::string write_organism_split(const OrganismTexts& t, const std::string& data_dir, uint64_t seed, const std::string& out);

// One synthetic R1-style response for a GSM8K solution (calculator annotations <<a*b=c>> drive the
// re-checks). Exposed for tests.
std::string synthesize_trace(const std::string& question, const std::string& solution, std::mt19937_64& rng);

// A text file's blank-line separated blocks, merged up to ~max_chars each (documents for the LMs).
std::vector<std::string> text_blocks(const std::string& path, size_t max_chars);

// GSM8K worked solution without <<...>> annotations and without the "#### N" line.
std::string clean_gsm8k_solution(const std::string& solution);

// Documents joined with sep_id between them; every token is predicted.
TokenStream tokenize_documents(const Tokenizer& tok, const std::vector<std::string>& docs, int32_t sep_id);
// Chats joined with sep_id; only response tokens are predicted (the prompt is context).
TokenStream tokenize_chats(const Tokenizer& tok, const std::vector<Chat>& chats, int32_t sep_id);

}  // namespace cc
