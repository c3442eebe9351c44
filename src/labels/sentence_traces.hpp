// The sentence-labelled traces (thought_anchors_sentence_labels.jsonl: one sentence per line with
// trace_id, chunk_idx, sentence, function_tags) tokenised sentence by sentence, so every token
// belongs to exactly one sentence, then run through both models to the crosscoder's hook and
// encoded: each feature's activation mass per sentence (enrichment.hpp).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "crosscoder/crosscoder.hpp"
#include "labels/enrichment.hpp"
#include "model/weights.hpp"

namespace cc {

class Tokenizer;

struct TaggedTraces {
  SentenceSet sentences;
  std::vector<std::string> trace_ids;
  // Forward windows: start token, then up to seq_len - 1 trace tokens; sentence[w][t] is the sentence
  // of window w's token t (-1 for the start token, which belongs to none and is not attributed).
  std::vector<std::vector<int32_t>> windows, sentence;
};

// Traces in file order of their first sentence, sentences by chunk_idx; each sentence but a trace's
// first is encoded with a leading space. max_traces 0 = all. Errors name the file and line.
TaggedTraces load_tagged_traces(const std::string& path, const Tokenizer& tok, int64_t seq_len, int32_t start_id, int64_t max_traces);

struct AttributionOptions {
  std::string base, distilled;  // model directories
  ComputeMode mode = ComputeMode::BF16;
  int64_t batch_windows = 8;  // windows per forward call
  bool progress = true;
};

// Per feature, its activation mass in each sentence (the crosscoder's inference encoder on both
// models' streams at its hook, inputs scaled by its norm factors).
std::vector<FeatureMass> sentence_feature_mass(const TaggedTraces& t, const CrosscoderParams& p, const CrosscoderConfig& c,
                                               const AttributionOptions& opt);

}  // namespace cc
