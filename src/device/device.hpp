// Which processor a command computes on (`--device cpu|cuda`). The CUDA backend (src/cuda/) exists
// only in a build configured with -DCROSSCODER_CUDA=ON; asking for it elsewhere, or where no GPU or
// driver is present, ends the command with one line saying which.
#pragma once
#include <string>

namespace cc {

enum class Device { Cpu, Cuda };

// "cpu" | "cuda"; anything else fails naming `what` (an option or key).
Device parse_device(const std::string& name, const std::string& what);
const char* device_name(Device d);

// Whether this binary was built with the CUDA backend.
bool cuda_built();

// Why `d` cannot run here ("" when it can): this build lacks the CUDA backend, or the CUDA runtime's
// own reason (no device, driver too old, ...).
std::string device_unavailable(Device d);

// Returns when `d` can run here; otherwise fails naming `what`: a build without CUDA (and the
// option that adds it), or the CUDA runtime's own reason (no device, driver too old, ...).
void require_device(Device d, const std::string& what);

// One line on the device: "cpu", or the GPU's name, compute capability and memory.
std::string describe_device(Device d);

}  // namespace cc
