// OUT/BUILD.md of an organism build, rendered from OUT/build.json (so it can be regenerated).
#pragma once
#include <string>

namespace cc {

void write_organism_build_md(const std::string& out_dir);

}  // namespace cc
