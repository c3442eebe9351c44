// `crosscoder export` / `crosscoder import`: a checkpoint to and from dictionary_learning's
// CrossCoder (src/crosscoder/dictionary_learning.hpp has the format; docs/PYTHON.md how to load it).
#include <cstdio>

#include "cli/commands.hpp"
#include "core/error.hpp"
#include "crosscoder/dictionary_learning.hpp"

namespace cc::cli {

static void check_format(const std::string& option, const std::string& value) {
  if (value != "dictionary_learning") fail("", option, "names an unknown format", "dictionary_learning", value);
}

void register_interop(CLI::App& app) {
  struct Opts {
    std::string format = "dictionary_learning", from, to;
  };
  auto e = std::make_shared<Opts>();
  auto* ex = app.add_subcommand("export", "Write a crosscoder checkpoint as dictionary_learning's CrossCoder (model.safetensors + config.json)");
  ex->add_option("--to", e->format, "Target format")->capture_default_str();
  ex->add_option("CHECKPOINT", e->from, "Crosscoder checkpoint folder (crosscoder.safetensors + config.json)")->required();
  ex->add_option("OUT", e->to, "Folder to write (model.safetensors, config.json, crosscoder_cpp.json)")->required();
  ex->footer("Load it in Python: see docs/PYTHON.md (dictionary_learning_state_dict, then load_state_dict or torch.save).");
  ex->callback([e] {
    check_format("--to", e->format);
    export_dictionary_learning(e->from, e->to);
    std::printf("exported %s to %s (dictionary_learning CrossCoder state dict)\n", e->from.c_str(), e->to.c_str());
  });
  auto i = std::make_shared<Opts>();
  auto* im = app.add_subcommand("import", "Read dictionary_learning's CrossCoder (an export folder) into a crosscoder checkpoint");
  im->add_option("--from", i->format, "Source format")->capture_default_str();
  im->add_option("EXPORT", i->from, "Folder with model.safetensors (+ config.json, optional crosscoder_cpp.json)")->required();
  im->add_option("OUT", i->to, "Checkpoint folder to write")->required();
  im->footer("Without crosscoder_cpp.json the norm factors are 1 and the hook and models are unset.");
  im->callback([i] {
    check_format("--from", i->format);
    import_dictionary_learning(i->from, i->to);
    std::printf("imported %s into %s\n", i->from.c_str(), i->to.c_str());
  });
}

}  // namespace cc::cli
