#include "device/device.hpp"

#include "core/error.hpp"
#ifdef CROSSCODER_CUDA
#include "cuda/cuda_step.hpp"
#endif

namespace cc {

Device parse_device(const std::string& name, const std::string& what) {
  if (name == "cpu") return Device::Cpu;
  if (name == "cuda") return Device::Cuda;
  fail("", what, "is not a device", "cpu or cuda", name);
}

const char* device_name(Device d) { return d == Device::Cuda ? "cuda" : "cpu"; }

#ifdef CROSSCODER_CUDA
bool cuda_built() { return true; }

std::string device_unavailable(Device d) { return d == Device::Cpu ? "" : cuda::status().error; }

void require_device(Device d, const std::string& what) {
  const std::string why = device_unavailable(d);
  if (!why.empty()) fail("", what + " cuda", "finds no usable GPU", "a CUDA device and driver", why);
}

std::string describe_device(Device d) {
  if (d == Device::Cpu) return "cpu";
  const cuda::Status s = cuda::status();
  if (s.devices == 0) return "cuda (unavailable: " + s.error + ")";
  return "cuda: " + s.name + ", compute capability " + std::to_string(s.major) + "." + std::to_string(s.minor) + ", " +
         std::to_string(s.memory >> 30) + " GiB";
}
#else
bool cuda_built() { return false; }

std::string device_unavailable(Device d) { return d == Device::Cpu ? "" : "this binary was built without the CUDA backend"; }

void require_device(Device d, const std::string& what) {
  if (d == Device::Cpu) return;
  fail("", what + " cuda", "is not available: this binary was built without the CUDA backend", "", "",
       "configure with -DCROSSCODER_CUDA=ON where nvcc and cuBLAS are installed (docs/GPU.md)");
}

std::string describe_device(Device d) { return d == Device::Cpu ? "cpu" : "cuda (not built)"; }
#endif

}  // namespace cc
