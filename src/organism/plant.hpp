// A planted mechanism: a copy of a Qwen2 model in which a known direction links trigger tokens to a
// target token (issue 19's positive control for model diffing). With v a seeded random unit vector
// in the residual space,
//   embed[t]       += s_in  · ||embed[t]||       · v     for each trigger t
//   lm_head[target] += s_out · ||lm_head[target]|| · v
// so the trigger writes v into the stream, the stream carries it to the output, and the target's
// logit rises where v is present. Several triggers make a concept (one direction after any of them)
// rather than one token. plant.json records the vectors and the measured effect: the mean
// log p(target) right after a trigger, and at other positions, before and after planting.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace cc {

struct PlantOptions {
  std::string model, out;
  std::vector<std::string> triggers;  // token strings, each exactly one token, e.g. " number"
  std::string target;                 // one token, e.g. " Wait"
  double strength_in = 1.0, strength_out = 8.0;  // s_in, s_out above
  uint64_t seed = 0;
  int probes = 32;                    // random contexts per trigger for the measurement
};

// Writes OUT (config, tokenizer, weights as the source's dtype, plant.json); returns plant.json's path.
std::string plant_mechanism(const PlantOptions& opt);

}  // namespace cc
