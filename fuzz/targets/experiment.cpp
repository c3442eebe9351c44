// Target: the experiment TOML of `crosscoder run` (load_experiment: strict keys, types, ranges,
// paths relative to the file) and, for odd first bytes, one `--set section.key=value` override
// applied to the committed configs/organism.toml.
#include <filesystem>

#include "core/atomic_file.hpp"
#include "fuzz_common.hpp"
#include "pipeline/experiment.hpp"

using namespace cc;

static std::string organism_toml;

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  fuzz::setup();
  organism_toml = read_file(std::string(FUZZ_SOURCE_DIR) + "/configs/organism.toml");
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string rest(reinterpret_cast<const char*>(data) + 1, size - 1);
  fuzz::refuse_ok([&] {
    if (data[0] & 1) {
      // The committed config's relative paths resolve against the source tree's configs/.
      const std::string p = std::string(FUZZ_SOURCE_DIR) + "/configs/organism.toml";
      (void)load_experiment(p, {rest}, fuzz::scratch() + "/out");
    } else {
      (void)load_experiment(fuzz::put("exp/experiment.toml", rest), {});
    }
  });
  return 0;
}
