// Interop with dictionary_learning's CrossCoder / BatchTopKCrossCoder (Minder et al.'s crosscoders;
// docs/PYTHON.md). An export folder holds:
//   model.safetensors   the module's state dict, names and shapes as its load_state_dict wants them:
//                         encoder.weight [2, d, F], encoder.bias [F], decoder.weight [2, F, d],
//                         decoder.bias [2, d], code_normalization_id I64 [] (1 = CROSSCODER: the
//                         score f · (||d_A|| + ||d_B||), ours); BatchTopK adds k I32 [] and threshold F32 [].
//   config.json         its constructor's arguments (activation_dim, dict_size, num_layers,
//                         code_normalization, and k for BatchTopK).
//   crosscoder_cpp.json what its state dict cannot hold: the class, our norm factors (its inputs are
//                         the raw residuals times these, as ours), the hook and the models.
// Layer 0 is the base model (A), layer 1 the distilled model (B). Our θ = 0 (not yet learned) infers
// with plain ReLU, as its θ = -1 does; both are written and read as such.
#pragma once
#include <string>

namespace cc {

void export_dictionary_learning(const std::string& checkpoint_dir, const std::string& out_dir);
// The reverse; refuses (naming the file) anything our crosscoder cannot express: more or fewer than
// two layers, another code normalisation, per-layer thresholds.
void import_dictionary_learning(const std::string& export_dir, const std::string& checkpoint_dir);

}  // namespace cc
