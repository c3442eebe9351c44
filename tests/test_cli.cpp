// The binary end to end: make-test-model → forward/generate, and one-line errors on bad input.
#include <array>
#include <cctype>
#include <sstream>
#include <vector>
#include <cstdio>
#include <fstream>

#include "core/npy.hpp"
#include "reference/naive_qwen2.hpp"
#include "core/json_file.hpp"
#include "test_util.hpp"
#include "tokenizer_fixtures.hpp"

namespace cc {
namespace {

using test::TempDir;

struct Run {
  int rc;
  std::string out;
};

Run sh(const std::string& args, const std::string& cwd = "") {
  const std::string cmd = (cwd.empty() ? "" : "cd '" + cwd + "' && ") + std::string(CROSSCODER_BIN) + " " + args + " 2>&1";
  Run r{0, ""};
  FILE* p = popen(cmd.c_str(), "r");
  std::array<char, 4096> buf;
  while (fgets(buf.data(), int(buf.size()), p)) r.out += buf.data();
  const int st = pclose(p);
  r.rc = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return r;
}

TEST(Cli, ForwardDumpsLogitsAndResidualsMatchingReference) {
  TempDir d;
  auto mk = sh("make-test-model --out " + d.str() + " --vocab 50 --d-model 32 --d-mlp 64 --layers 2 --heads 4 --kv-heads 2 --dtype BF16 --shards 2");
  ASSERT_EQ(mk.rc, 0) << mk.out;
  auto fw = sh("forward --model " + d.str() + " --token-ids 1,7,3,9,4 --dump-logits " + (d / "l.npy") +
               " --dump-resid 1:" + (d / "r1.npy") + " --dump-resid blocks.1.hook_resid_post:" + (d / "r2.npy"));
  ASSERT_EQ(fw.rc, 0) << fw.out;
  auto logits = read_npy_f32(d / "l.npy");
  EXPECT_EQ(logits.shape, (Shape{5, 50}));
  auto r2 = read_npy_f32(d / "r2.npy");
  EXPECT_EQ(r2.shape, (Shape{5, 32}));
  auto want = ref::forward(ref::load(d.str()), {1, 7, 3, 9, 4});
  double err = 0, scale = 0;
  for (size_t t = 0; t < 5; ++t)
    for (size_t j = 0; j < 32; ++j) {
      err = std::max(err, std::abs(double(r2.data[t * 32 + j]) - want.resid[2][t][j]));
      scale = std::max(scale, std::abs(want.resid[2][t][j]));
    }
  EXPECT_LT(err / scale, 1e-4);
}

TEST(Cli, GenerateStreamsIds) {
  TempDir d;
  ASSERT_EQ(sh("make-test-model --out " + d.str() + " --vocab 40 --d-model 16 --heads 2 --kv-heads 1").rc, 0);
  auto g = sh("generate --model " + d.str() + " --token-ids 1,2 --max-new-tokens 5 --temperature 0.8 --seed 3");
  ASSERT_EQ(g.rc, 0) << g.out;
  EXPECT_NE(g.out.find("5 tokens"), std::string::npos) << g.out;
}

TEST(Cli, GenerateNumSamplesDecodesTogetherAndEqualsSeparateRuns) {
  TempDir d;
  ASSERT_EQ(sh("make-test-model --out " + d.str() + " --vocab 40 --d-model 16 --heads 2 --kv-heads 1").rc, 0);
  const std::string base = "generate --model " + d.str() + " --token-ids 1,2 --max-new-tokens 12 --temperature 1.0 --ignore-eos";
  auto g = sh(base + " --seed 3 --num-samples 3");
  ASSERT_EQ(g.rc, 0) << g.out;
  for (int i = 0; i < 3; ++i) {
    const std::string head = "--- sample " + std::to_string(i + 1) + " (seed " + std::to_string(3 + i) + ") ---\n";
    const size_t at = g.out.find(head);
    ASSERT_NE(at, std::string::npos) << g.out;
    const std::string ids = g.out.substr(at + head.size(), g.out.find('\n', at + head.size()) - at - head.size());
    auto alone = sh(base + " --seed " + std::to_string(3 + i));
    ASSERT_EQ(alone.rc, 0) << alone.out;
    EXPECT_EQ(alone.out.substr(0, alone.out.find('\n')), ids) << "sample " << i + 1;
  }
  EXPECT_NE(sh(base + " --num-samples 17").rc, 0);
}

// The loader never looks in the folder the binary is started from: a file there named like a library
// it needs (a truncated download, say) changes nothing. CMake's default build RPATH for an
// installable target ends in an empty entry, which means exactly that folder.
TEST(Cli, RunsFromAFolderHoldingFilesNamedLikeItsLibraries) {
  TempDir d;
  for (const char* lib : {"libtomlplusplus.so.3", "libopenblas.so.0", "libpcre2-8.so.0", "libutf8proc.so.2"})
    std::ofstream(d / lib) << "not a library\n";
  const auto r = sh("--version", d.str());
  EXPECT_EQ(r.rc, 0) << r.out;
  EXPECT_NE(r.out.find("crosscoder.cpp"), std::string::npos) << r.out;
}

TEST(Cli, BadInputGivesOneLineErrorAndNonZeroExit) {
  TempDir d;
  ASSERT_EQ(sh("make-test-model --out " + d.str() + " --vocab 40 --d-model 16 --heads 2 --kv-heads 1").rc, 0);
  {
    std::ofstream(d / "model.safetensors", std::ios::binary | std::ios::trunc) << "garbage!";
  }
  auto r = sh("forward --model " + d.str() + " --token-ids 1,2");
  EXPECT_EQ(r.rc, 1);
  EXPECT_EQ(r.out.rfind("error: ", 0), 0u) << r.out;
  EXPECT_NE(r.out.find("model.safetensors"), std::string::npos) << r.out;
  EXPECT_EQ(std::count(r.out.begin(), r.out.end(), '\n'), 1) << r.out;
  auto r2 = sh("forward --model /nonexistent --token-ids 1");
  EXPECT_EQ(r2.rc, 1);
  EXPECT_NE(r2.out.find("/nonexistent/config.json"), std::string::npos) << r2.out;
  auto r3 = sh("forward --model " + d.str() + " --token-ids 1,x");
  EXPECT_EQ(r3.rc, 1);
  EXPECT_NE(r3.out.find("--token-ids"), std::string::npos) << r3.out;
}

TEST(Cli, TokenizeWithChatTemplates) {
  const std::string tok = test::qwen_tokenizer_json();
  auto r = sh("tokenize --tokenizer " + tok + " --text 'Hello world!'");
  ASSERT_EQ(r.rc, 0) << r.out;
  EXPECT_EQ(r.out, "9707,1879,0\n");  // HF tokenizers gives [9707, 1879, 0] for this text
  TempDir d;
  test::make_r1_tokenizer(d.str());
  auto c = sh("tokenize --tokenizer " + d.str() + " --text 'What is 5-1?' --chat auto --json");
  ASSERT_EQ(c.rc, 0) << c.out;
  Json j = Json::parse(c.out);
  EXPECT_EQ(j["ids"][0], 151646);
  EXPECT_EQ(j["tokens"][1], "<｜User｜>");
  auto bad = sh("tokenize --tokenizer " + d.str() + " --text x --chat llama");
  EXPECT_EQ(bad.rc, 1);
  EXPECT_NE(bad.out.find("--chat"), std::string::npos) << bad.out;
}

// The subcommands `crosscoder --help` lists (and the organism's own), read from the help text
// itself so that a new command is covered without editing this test.
std::vector<std::string> listed_commands() {
  std::vector<std::string> cmds;
  auto collect = [&](const std::string& help, const std::string& prefix) {
    std::istringstream in(help.substr(std::min(help.size(), help.find("Subcommands:"))));
    std::string line;
    std::getline(in, line);
    while (std::getline(in, line) && line.rfind("  ", 0) == 0 && line.size() > 2 && line[2] != ' ')
      cmds.push_back(prefix + line.substr(2, line.find(' ', 2) - 2));
  };
  collect(sh("--help").out, "");
  collect(sh("organism --help").out, "organism ");
  return cmds;
}

TEST(Cli, EveryCommandHasHelpWithDefaults) {
  const std::vector<std::string> cmds = listed_commands();
  // Every command of main.cpp, and organism's two: a parse of the wrong section would find fewer.
  ASSERT_GE(cmds.size(), 16u);
  for (const std::string& c : cmds) {
    if (c == "organism") continue;  // a group: its subcommands are checked
    const auto r = sh(c + " --help");
    ASSERT_EQ(r.rc, 0) << c << "\n" << r.out;
    // Each option that takes a value (a TYPE after its name) says what happens without it: CLI11's
    // "=DEFAULT", REQUIRED, or a "(default ...)" in its description. Descriptions may wrap onto
    // indented continuation lines.
    std::istringstream in(r.out.substr(r.out.find("Options:")));
    std::vector<std::string> options;
    std::string line;
    while (std::getline(in, line)) {
      if (line.rfind("  -", 0) == 0) options.push_back(line);
      else if (!options.empty() && line.rfind("      ", 0) == 0) options.back() += " " + line;
    }
    EXPECT_FALSE(options.empty()) << c;
    for (const std::string& o : options) {
      // "  --name TYPE[=DEFAULT] ..." : the type follows the name after exactly one space (a flag's
      // description follows after several).
      const size_t name_end = o.find(' ', 2);
      const std::string name = o.substr(2, name_end - 2);
      const bool takes_value = name_end + 2 < o.size() && o[name_end + 1] != ' ' &&
                               std::isupper(static_cast<unsigned char>(o[name_end + 1]));
      if (!takes_value || name.find("--help") != std::string::npos) continue;
      const std::string type = o.substr(name_end + 1, o.find(' ', name_end + 1) - name_end - 1);
      const bool said = type.find('=') != std::string::npos || o.find("REQUIRED") != std::string::npos ||
                        o.find("default") != std::string::npos;
      EXPECT_TRUE(said) << "crosscoder " << c << ": option without a stated default: " << o;
    }
  }
}

}  // namespace
}  // namespace cc
