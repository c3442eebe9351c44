// Harvests a model pair into an activation store: shards written atomically (temp + rename), the
// manifest rewritten atomically after each shard, so a killed run resumes after its last complete
// shard and ends identical to an uninterrupted one.
#pragma once
#include <array>
#include <string>

#include "core/dtype.hpp"
#include "harvest/pair_harvester.hpp"

namespace cc {

struct StoreOptions {
  std::string out;              // store directory
  int64_t tokens = 0;           // activation rows to harvest (kept positions), e.g. 400'000'000
  int64_t shard_rows = 32768;   // a shard closes at the first batch boundary past this many rows
  DType dtype = DType::BF16;    // BF16: 4·d bytes per token (both models); F32: 8·d
  int64_t norm_rows = 16384;    // rows used to estimate the norm factors s_m
  bool resume = false;          // continue a store whose manifest says it is incomplete
  bool progress = true;
};

// Returns the number of rows in the finished store.
int64_t harvest_to_store(const HarvestConfig& cfg, const StoreOptions& opt);

// Writes rows that came from elsewhere (synthetic data, an import) as a complete store with the
// given norm factors, in shards of shard_rows.
void write_store(const std::string& dir, const ActivationBatch& rows, std::array<double, 2> norm_factors,
                 DType dtype = DType::F32, int64_t shard_rows = 65536);

}  // namespace cc
