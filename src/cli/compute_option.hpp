// The --dtype option of every command that runs a model: one spelling of the compute modes.
#pragma once
#include <string>

#include <CLI/CLI.hpp>

#include "model/weights.hpp"

namespace cc::cli {

inline CLI::Option* add_compute_option(CLI::App* c, std::string& dtype) {
  return c
      ->add_option("--dtype", dtype,
                   "Compute mode: f32 (weights widened to f32), bf16 (BF16 weights, f32 activations: exact products), "
                   "bf16-act (BF16 weights and BF16-rounded GEMM inputs, f32 accumulation: AVX512-BF16 GEMMs, fastest)")
      ->check(CLI::IsMember(kComputeModeNames))
      ->capture_default_str();
}

}  // namespace cc::cli
