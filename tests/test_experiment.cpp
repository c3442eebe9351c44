// Experiment TOML loading (strict keys, --set, path resolution) and the stage record behind
// `crosscoder run`'s resumption. The end-to-end behaviour is tests/e2e/run_demo.sh.
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <thread>

#include "pipeline/experiment.hpp"
#include "pipeline/run_experiment.hpp"
#include "pipeline/stage_record.hpp"
#include "test_util.hpp"

namespace cc {
namespace {

using test::expect_error;
using test::TempDir;
namespace fs = std::filesystem;

const char* kMinimal = R"(
[models]
base = "m/base"
distilled = "/abs/distilled"
[harvest]
corpora = ["traces.jsonl:question+trace@1#r1-distill", "general@2"]
tokens = 1000
[crosscoder.small]
dict_size = 64
[geometry]
datasets = "fv"
)";

std::string write(const TempDir& d, const std::string& name, const std::string& text) {
  std::ofstream(d / name) << text;
  return d / name;
}

TEST(Experiment, ShippedConfigsLoad) {
  for (const char* f : {"organism", "paper-1.5b", "paper-7b", "paper-14b"}) {
    const Experiment e = load_experiment(std::string(SOURCE_DIR) + "/configs/" + f + ".toml", {}, "/tmp/x");
    EXPECT_EQ(e.crosscoders.size(), 2u) << f;
    EXPECT_TRUE(fs::path(e.harvest.base_dir).is_absolute()) << f;
    EXPECT_EQ(stage_names(e).size(), std::string(f) == "organism" ? 12u : 11u) << f;  // the demo runs the calibration too
  }
  // configs/calibration.toml alone: no pair, one stage; the demo reads the same [calibration] table
  // through `file`, and --set overrides its keys.
  const Experiment c = load_experiment(std::string(SOURCE_DIR) + "/configs/calibration.toml", {}, "/tmp/x");
  EXPECT_FALSE(c.pair_on);
  EXPECT_EQ(stage_names(c), (std::vector<std::string>{"calibration"}));
  EXPECT_EQ(c.calibration.crosscoders.size(), 2u);
  EXPECT_TRUE(fs::exists(c.calibration.base + "/config.json"));
  const Experiment d = load_experiment(std::string(SOURCE_DIR) + "/configs/organism.toml", {"calibration.tokens=1234"}, "/tmp/x");
  EXPECT_TRUE(d.calibration_on);
  EXPECT_EQ(d.calibration.tokens, 1234);
  EXPECT_EQ(d.calibration.base, c.calibration.base);
  EXPECT_EQ(calibration_settings(d.calibration)["crosscoders"], calibration_settings(c.calibration)["crosscoders"]);
  EXPECT_THROW(load_experiment(std::string(SOURCE_DIR) + "/configs/organism.toml", {"calibration.tokns=1"}, "/tmp/x"), Error);
  const Experiment o = load_experiment(std::string(SOURCE_DIR) + "/configs/organism.toml", {}, "/tmp/x");
  EXPECT_EQ(o.harvest.base_dir, (fs::path(SOURCE_DIR) / "organism/base").lexically_normal().string());
  EXPECT_TRUE(fs::exists(o.harvest.base_dir + "/config.json"));
  EXPECT_TRUE(fs::exists(o.harvest.corpora[0].path));
  EXPECT_TRUE(fs::is_directory(o.geometry.datasets));
  // Stages follow the file's order, not toml++'s alphabetical one.
  EXPECT_EQ(o.crosscoders[0].name, "l1");
  EXPECT_EQ(stage_names(o), (std::vector<std::string>{"calibration", "harvest", "train-l1", "train-batchtopk", "spliced-loss-l1", "spliced-loss-batchtopk", "analyze", "enrich", "ablate", "steer", "geometry", "report"}));
  EXPECT_TRUE(fs::exists(o.enrich.sentences));
  EXPECT_EQ(o.enrich.crosscoder, o.analyze.crosscoder);
  // Defaults the config leaves unset are resolved by the loader to real files (so that their stamps,
  // not null, enter the stage fingerprints): the lexicon, the steering problems, the report assets.
  const std::string lexicon = (fs::path(SOURCE_DIR) / "configs/reasoning_lexicon.toml").string();
  EXPECT_EQ(fs::path(o.analyze.lexicon).lexically_normal(), fs::path(lexicon).lexically_normal());
  EXPECT_EQ(o.ablate.lexicon, o.analyze.lexicon);
  EXPECT_EQ(o.steer.lexicon, o.analyze.lexicon);
  EXPECT_TRUE(fs::is_regular_file(o.steer.problems_file)) << o.steer.problems_file;
  EXPECT_TRUE(fs::is_regular_file(o.report.assets + "/app.js")) << o.report.assets;
  // Every corpus and dataset of the demo is inside the repository.
  for (const auto& c : o.harvest.corpora)
    EXPECT_EQ(fs::relative(c.path, SOURCE_DIR).string().rfind("data/", 0), 0u) << c.path;
  EXPECT_EQ(fs::relative(o.geometry.datasets, SOURCE_DIR).string().rfind("data/", 0), 0u) << o.geometry.datasets;
}

TEST(Experiment, PathsResolveAgainstTheFileAndSettingsFillTheOptions) {
  TempDir d;
  const Experiment e = load_experiment(write(d, "x.toml", kMinimal), {}, d / "run");
  EXPECT_EQ(e.harvest.base_dir, d / "m/base");
  EXPECT_EQ(e.harvest.distilled_dir, "/abs/distilled");
  ASSERT_EQ(e.harvest.corpora.size(), 2u);
  EXPECT_EQ(e.harvest.corpora[0].path, d / "traces.jsonl");
  EXPECT_EQ(e.harvest.corpora[0].chat, "r1-distill");
  EXPECT_DOUBLE_EQ(e.harvest.corpora[1].weight, 2.0);
  EXPECT_EQ(e.store.tokens, 1000);
  EXPECT_EQ(e.store.out, d / "run/store");
  ASSERT_EQ(e.crosscoders.size(), 1u);
  EXPECT_EQ(e.crosscoders[0].cfg.dict_size, 64);
  EXPECT_EQ(e.crosscoders[0].train.out, d / "run/crosscoder-small");
  EXPECT_EQ(e.analyze.crosscoder, d / "run/crosscoder-small");
  EXPECT_EQ(e.geometry.datasets, d / "fv");
  EXPECT_EQ(e.report.out, d / "run/report.html");
  // Ablation has no corpus here, and it is enabled by default.
  EXPECT_TRUE(e.ablate_on);
}

TEST(Experiment, OverridesUseTomlSyntax) {
  TempDir d;
  const std::string f = write(d, "x.toml", kMinimal);
  const Experiment e = load_experiment(f, {"harvest.tokens=20000", "ablation.k=[5, 20]", "crosscoder.small.arch=batchtopk",
                                           "steering.feature=deductive", "ablation.enabled=false", "run.threads=1"},
                                       d / "run");
  EXPECT_EQ(e.store.tokens, 20000);
  EXPECT_EQ(e.ablate.ks, (std::vector<double>{5, 20}));
  EXPECT_EQ(e.crosscoders[0].cfg.architecture, Arch::BatchTopK);
  EXPECT_EQ(e.steer_features, (std::vector<std::string>{"deductive"}));
  EXPECT_FALSE(e.ablate_on);
  EXPECT_EQ(e.threads, 1);
  expect_error([&] { load_experiment(f, {"harvest.tokens"}, d / "run"); }, {"x.toml", "--set harvest.tokens", "KEY=VALUE"});
  expect_error([&] { load_experiment(f, {"harvest.tokens.x=1"}, d / "run"); }, {"not a table"});
  expect_error([&] { load_experiment(f, {"harvest.tokens=many"}, d / "run"); }, {"harvest.tokens", "not an integer"});
}

// [ablation] categories_from: the ablate stage then reads the enrichment stage's folder (and depends
// on it) or a labels file; a source that cannot be there is refused when the file is read.
TEST(Experiment, AblationCategorySourcesAreWiredOrRefused) {
  TempDir d;
  const std::string f = write(d, "x.toml", kMinimal);
  const Experiment none = load_experiment(f, {}, d / "run");
  EXPECT_EQ(none.ablate.categories_from, CategorySource::None);
  const Experiment en = load_experiment(f, {"enrichment.enabled=true", "ablation.categories_from='enrichment'"}, d / "run");
  EXPECT_EQ(en.ablate.categories_from, CategorySource::Enrichment);
  EXPECT_EQ(en.ablate.enrichment, en.enrich.out);
  const std::vector<std::string> names = stage_names(en);
  const auto at = [&](const char* s) { return std::find(names.begin(), names.end(), s) - names.begin(); };
  EXPECT_LT(at("enrich"), at("ablate"));  // a stage runs after the ones it reads
  const Experiment lb = load_experiment(f, {"ablation.categories_from='labels'", "ablation.labels='l/labels.jsonl'"}, d / "run");
  EXPECT_EQ(lb.ablate.labels, d / "l/labels.jsonl");
  expect_error([&] { load_experiment(f, {"ablation.categories_from='enrichment'"}, d / "run"); },
               {"x.toml", "ablation.categories_from", "[enrichment] stage is off"});
  expect_error([&] { load_experiment(f, {"ablation.categories_from='labels'"}, d / "run"); }, {"x.toml", "ablation.labels", "required"});
  expect_error([&] { load_experiment(f, {"ablation.categories_from='llm'"}, d / "run"); }, {"x.toml", "ablation.categories_from", "llm"});
}

TEST(Experiment, BadFilesAreRefusedNamingFileAndKey) {
  TempDir d;
  expect_error([&] { load_experiment(d / "none.toml"); }, {"none.toml", "does not exist"});
  expect_error([&] { load_experiment(write(d, "bad.toml", "[models\nbase = 1")); }, {"bad.toml", "malformed TOML", "line 1"});
  expect_error([&] { load_experiment(write(d, "typo.toml", std::string(kMinimal) + "[analysis]\ntop_n = 3\n")); },
               {"typo.toml", "analysis.top_n", "misspelt"});
  expect_error([&] { load_experiment(write(d, "top.toml", std::string(kMinimal) + "[harvester]\nx = 1\n")); }, {"top.toml", "harvester"});
  expect_error([&] { load_experiment(write(d, "nomodels.toml", "[harvest]\ntokens = 5\n")); }, {"nomodels.toml", "models", "missing"});
  expect_error([&] { load_experiment(write(d, "nocc.toml", "[models]\nbase='a'\ndistilled='b'\n[harvest]\ncorpora=['c']\ntokens=5\n")); },
               {"nocc.toml", "crosscoder", "no crosscoder"});
  expect_error([&] { load_experiment(write(d, "arch.toml", std::string(kMinimal) + "[crosscoder.other]\narch = 'topk'\n")); },
               {"arch.toml", "crosscoder.other.arch", "topk"});
  expect_error([&] { load_experiment(write(d, "which.toml", std::string(kMinimal) + "[analysis]\ncrosscoder = 'l2'\n")); },
               {"which.toml", "analysis.crosscoder", "l2"});
  expect_error([&] { load_experiment(write(d, "type.toml", std::string(kMinimal) + "[steering]\nalphas = 'big'\n")); },
               {"type.toml", "steering.alphas", "not an array of numbers"});
  expect_error([&] { load_experiment(write(d, "neg.toml", std::string(kMinimal) + "[run]\ndtype = 'f16'\n")); }, {"neg.toml", "run.dtype", "f16"});
}

TEST(StageRecord, DoneAndStartedFollowTheFingerprint) {
  TempDir d;
  {
    StageRecord r(d.str());
    EXPECT_FALSE(r.done("harvest", "aa"));
    r.mark_started("harvest", "aa", Json::object());
    EXPECT_TRUE(r.started("harvest", "aa"));
    EXPECT_FALSE(r.done("harvest", "aa"));
  }
  StageRecord r(d.str());  // read back from stages.json
  EXPECT_TRUE(r.started("harvest", "aa"));
  EXPECT_FALSE(r.started("harvest", "bb"));
  r.mark_done("harvest", 1.5, ResourceUsage{});
  EXPECT_TRUE(StageRecord(d.str()).done("harvest", "aa"));
  EXPECT_FALSE(StageRecord(d.str()).done("harvest", "bb"));
  std::ofstream(d / "stages.json") << "[1, 2]";
  expect_error([&] { StageRecord bad(d.str()); }, {"stages.json", "not a JSON object"});
}

TEST(StageRecord, StampsSeeChangedFiles) {
  TempDir d;
  fs::create_directories(d / "model");
  std::ofstream(d / "model/a.bin") << "1234";
  const Json s1 = file_stamp(d / "model");
  EXPECT_EQ(s1, file_stamp(d / "model"));
  std::ofstream(d / "model/a.bin") << "12345";
  EXPECT_NE(s1, file_stamp(d / "model"));
  const Json s2 = file_stamp(d / "model");
  std::ofstream(d / "model/b.bin") << "x";
  EXPECT_NE(s2, file_stamp(d / "model"));
  EXPECT_EQ(file_stamp(d / "nothing"), "missing");
  EXPECT_NE(fingerprint_of("a"), fingerprint_of("b"));
  EXPECT_EQ(fingerprint_of("abc").size(), 16u);
}

}  // namespace
}  // namespace cc
