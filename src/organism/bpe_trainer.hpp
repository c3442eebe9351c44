// A byte-level BPE trainer that writes a standard Hugging Face tokenizer.json: NFC normaliser,
// Qwen's pre-tokenizer regex + ByteLevel, BPE model with ranked merges, ByteLevel decoder, and the
// R1-Distill special tokens with a BOS-adding TemplateProcessing post-processor. So the organism
// goes through exactly the tokenizer and chat-template code a real checkpoint does, and HF
// `tokenizers` encodes it identically (tests/test_bpe_trainer.cpp).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "core/json_file.hpp"

namespace cc {

struct BpeTrainOptions {
  int64_t vocab_size = 6000;  // BPE vocabulary (256 bytes + merges), specials not included
  int64_t min_frequency = 2;  // a pair seen fewer times is never merged
};

// The added tokens of the organism, in id order after the BPE vocabulary:
// <|endoftext|> (document separator), the R1-Distill chat tokens, <think>, </think>.
const std::vector<std::string>& organism_special_tokens();

struct BpeTrainResult {
  Json tokenizer;          // tokenizer.json
  Json tokenizer_config;   // tokenizer_config.json (bos/eos, chat template)
  int64_t merges = 0, words = 0, bpe_vocab = 0;
};

// Deterministic: the same texts and options give the same files. Ties between equally frequent
// pairs go to the smaller pair of token ids.
BpeTrainResult train_bpe(const std::vector<std::string>& texts, const BpeTrainOptions& opt);

}  // namespace cc
