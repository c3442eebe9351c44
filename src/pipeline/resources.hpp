// Where the files that ship with crosscoder live (configs/, data/, organism/, report/): resolved
// once, at the edge (the CLI and the experiment loader), so library functions only ever take paths.
// Order: $CROSSCODER_HOME, then PREFIX/share/crosscoder beside an installed binary
// (bin/../share/crosscoder), then the source tree the binary was built from.
#pragma once
#include <string>

namespace cc {

// The resource root; cc::Error naming every place looked at when none holds configs/organism.toml.
const std::string& resource_root();

// resource_root() + "/" + rel, e.g. resource_path("configs/reasoning_lexicon.toml").
std::string resource_path(const std::string& rel);

// The defaults the library's options leave to the caller.
inline std::string default_lexicon() { return resource_path("configs/reasoning_lexicon.toml"); }
inline std::string default_steer_problems() { return resource_path("data/math/gsm8k_test.jsonl"); }
inline std::string default_report_assets() { return resource_path("report"); }
inline std::string default_demo_config() { return resource_path("configs/organism.toml"); }

}  // namespace cc
