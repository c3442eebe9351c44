// Target: one .safetensors file (header length, JSON header, dtypes, shapes, offsets) through
// SafetensorsFile, then every tensor's bytes read and converted as a loader would.
#include <vector>

#include "core/dtype.hpp"
#include "core/safetensors.hpp"
#include "fuzz_common.hpp"

using namespace cc;

CC_FUZZ_INIT_WITHOUT_FIXTURE

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = fuzz::put("x.safetensors", data, size);
  fuzz::refuse_ok([&] {
    SafetensorsFile f(path);
    std::vector<float> buf;
    for (const auto& [name, t] : f.tensors()) {
      // What the reader promises: every tensor lies inside the file and its bytes match its shape.
      FUZZ_CHECK(t.offset <= size && t.nbytes <= size - t.offset);
      FUZZ_CHECK(t.nbytes == size_t(t.numel()) * dtype_size(t.dtype));
      if (t.dtype == DType::F32 || t.dtype == DType::BF16 || t.dtype == DType::F16) {
        buf.resize(size_t(t.numel()));
        convert_to_f32(t.dtype, t.data, buf.data(), buf.size());
      }
    }
  });
  return 0;
}
