// The harvest binary under hostile conditions: SIGKILL at seeded random moments then --resume (the store
// must equal an uninterrupted run, and no partial shard may ever appear under a final name), a
// full disk (RLIMIT_FSIZE), and cross-checks with `forward --dump-resid` and a numpy reader.
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <filesystem>
#include <thread>

#include "core/atomic_file.hpp"
#include "core/npy.hpp"
#include "data/packer.hpp"
#include "harvest/activation_store.hpp"
#include "kill_harness.hpp"
#include "pair_fixture.hpp"

namespace cc {
namespace {

namespace fs = std::filesystem;
using test::PairFixture;

std::string harvest_args(const PairFixture& f, const std::string& out, int64_t tokens, int64_t shard) {
  return "harvest --base " + f.a + " --distilled " + f.b + " --layer 2 --corpus " + f.jsonl + ":question+trace@1 --corpus " +
         f.txt + "@1 --seq-len 64 --batch-seqs 2 --seed 3 --tokens " + std::to_string(tokens) + " --shard-tokens " +
         std::to_string(shard) + " --out " + out + " --quiet --threads 2";
}

int run_sh(const std::string& cmd, std::string* out = nullptr) {
  std::string full = cmd + " 2>&1";
  FILE* p = popen(full.c_str(), "r");
  std::array<char, 4096> buf;
  std::string o;
  while (fgets(buf.data(), int(buf.size()), p)) o += buf.data();
  if (out) *out = o;
  const int st = pclose(p);
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

size_t listed_shards(const std::string& store) {
  try {
    return read_json_file(store + "/manifest.json")["shards"].size();
  } catch (const std::exception&) {
    return 0;
  }
}

std::vector<std::string> split_args(const std::string& args) {
  std::vector<std::string> parts;
  std::string cur;
  for (char c : args + " ") {
    if (c != ' ') {
      cur += c;
    } else if (!cur.empty()) {
      parts.push_back(cur);
      cur.clear();
    }
  }
  return parts;
}

// Every file under a final name in a store being written is whole: the manifest parses and lists
// only shards that exist, and every shard-NNNNN.safetensors parses with its columns.
void expect_store_files_whole(const std::string& out) {
  if (!fs::exists(out)) return;
  for (const auto& e : fs::directory_iterator(out)) {
    const std::string n = e.path().filename().string();
    if (n.find(".tmp-") != std::string::npos) continue;
    if (n == "manifest.json") {
      Json m;
      EXPECT_NO_THROW(m = read_json_file(e.path().string())) << n;
      for (size_t s = 0; s < m.value("shards", Json::array()).size(); ++s)
        EXPECT_TRUE(fs::exists(out + "/" + shard_name(s))) << "manifest lists a missing " << shard_name(s);
    } else if (n.rfind("shard-", 0) == 0) {
      try {
        SafetensorsFile f(e.path().string());
        EXPECT_NE(f.find("acts"), nullptr) << n;
        EXPECT_NE(f.find("corpus"), nullptr) << n;
      } catch (const std::exception& x) {
        ADD_FAILURE() << n << " is visible but not whole: " << x.what();
      }
    }
  }
}

TEST(HarvestCli, KilledAtRandomMomentsAndResumedEqualsUninterrupted) {
  PairFixture f;
  const int64_t tokens = 12000, shard = 400;
  const std::string ref = f.dir / "ref";
  const double ref_s = test::run_cli(split_args(harvest_args(f, ref, tokens, shard)));
  ASSERT_GT(ref_s, 0);
  const size_t n_shards = listed_shards(ref);
  ASSERT_GT(n_shards, 10u);
  int kills = 0, seed = 0;
  for (double at : test::kill_moments(ref_s, 5)) {
    ++seed;
    const std::string out = f.dir / ("killed" + std::to_string(seed));
    const test::KillOutcome k = test::kill_at(split_args(harvest_args(f, out, tokens, shard)), at, [&] { expect_store_files_whole(out); });
    kills += k.killed;
    std::string log;
    ASSERT_EQ(run_sh(std::string(CROSSCODER_BIN) + " " + harvest_args(f, out, tokens, shard) + " --resume", &log), 0) << log;
    ASSERT_EQ(listed_shards(out), n_shards);
    for (size_t s = 0; s < n_shards; ++s)
      EXPECT_EQ(read_file(out + "/" + shard_name(s)), read_file(ref + "/" + shard_name(s))) << "shard " << s << " seed " << seed;
    Json a = read_json_file(out + "/manifest.json"), b = read_json_file(ref + "/manifest.json");
    EXPECT_EQ(a["norm_factors"], b["norm_factors"]);
    EXPECT_EQ(a["tokens"], b["tokens"]);
    for (const auto& e : fs::directory_iterator(out)) EXPECT_EQ(e.path().string().find(".tmp-"), std::string::npos);
    std::printf("seed %d: killed at %.2f s of %.2f s (%s, %d looks)\n", seed, at, ref_s, k.killed ? "killed" : "had finished", k.looks);
  }
  EXPECT_GE(kills, 3) << "the runs finished before they could be killed; the test did not exercise resume";
}

TEST(HarvestCli, FullDiskIsAClearErrorAndLeavesNoPartialShard) {
  PairFixture f;
  const std::string out = f.dir / "full";
  std::string log;
  // RLIMIT_FSIZE (in 1 KiB blocks) makes a write past 150 KiB in one file fail with EFBIG, as a full
  // disk would; shards of 2000 rows are 256 KiB.
  const int rc = run_sh("bash -c \"ulimit -f 150; trap '' XFSZ; exec " + std::string(CROSSCODER_BIN) + " " +
                        harvest_args(f, out, 20000, 2000) + "\"", &log);
  EXPECT_EQ(rc, 1) << log;
  EXPECT_NE(log.find("write failed"), std::string::npos) << log;
  EXPECT_NE(log.find(".safetensors"), std::string::npos) << log;
  const size_t listed = listed_shards(out);
  for (const auto& e : fs::directory_iterator(out)) {
    const std::string n = e.path().filename().string();
    EXPECT_EQ(n.find(".tmp-"), std::string::npos) << n;
    if (n.rfind("shard-", 0) == 0) {
      EXPECT_LT(std::stoul(n.substr(6, 5)), listed) << n << " is not in the manifest";
    }
  }
}

TEST(HarvestCli, DiskFillingMidRunKeepsTheListedShardsAndResumes) {
  PairFixture f;
  const std::string ref = f.dir / "ref", out = f.dir / "out";
  ASSERT_GT(test::run_cli(split_args(harvest_args(f, ref, 6000, 400))), 0);
  // Shards of ~400 rows are ~57 KB: the disk fills a few shards in (ENOSPC from tests/fault/).
  std::string log;
  const int rc = test::run_shell(test::full_disk_after(300'000) + CROSSCODER_BIN + " " + harvest_args(f, out, 6000, 400), &log);
  EXPECT_EQ(rc, 1) << log;
  EXPECT_NE(log.find("No space left on device"), std::string::npos) << log;
  EXPECT_NE(log.find("nothing was written under the final name"), std::string::npos) << log;
  expect_store_files_whole(out);
  EXPECT_GE(listed_shards(out), 2u) << "the disk filled before any shard was kept; the test shows nothing";
  for (const auto& e : fs::directory_iterator(out)) EXPECT_EQ(e.path().string().find(".tmp-"), std::string::npos) << e.path();
  ASSERT_EQ(run_sh(std::string(CROSSCODER_BIN) + " " + harvest_args(f, out, 6000, 400) + " --resume", &log), 0) << log;
  ASSERT_EQ(listed_shards(out), listed_shards(ref));
  for (size_t s = 0; s < listed_shards(ref); ++s)
    EXPECT_EQ(read_file(out + "/" + shard_name(s)), read_file(ref + "/" + shard_name(s))) << "shard " << s;
}

TEST(HarvestCli, StoreEqualsForwardDumpResidAndNumpyReadsIt) {
  PairFixture f;
  const std::string out = f.dir / "st";
  ASSERT_EQ(run_sh(std::string(CROSSCODER_BIN) + " " + harvest_args(f, out, 300, 100) + " --store-dtype f32"), 0);
  ActivationStore st(out);
  auto all = st.read(0, st.rows());
  // Sequence 0 as the harvest packed it.
  auto tok = Tokenizer::load(f.a);
  std::vector<std::unique_ptr<Corpus>> cs;
  cs.push_back(std::make_unique<Corpus>(parse_corpus_spec(f.jsonl + ":question+trace@1")));
  cs.push_back(std::make_unique<Corpus>(parse_corpus_spec(f.txt + "@1")));
  PackOptions po;
  po.seq_len = 64;
  po.seed = 3;
  Packer p(cs, *tok, po);
  auto seq = p.next();
  std::string ids;
  for (size_t k = 0; k < seq.tokens.size(); ++k) ids += (k ? "," : "") + std::to_string(seq.tokens[k]);
  for (int m = 0; m < 2; ++m) {
    const std::string npy = f.dir / ("r" + std::to_string(m) + ".npy");
    std::string log;
    ASSERT_EQ(run_sh(std::string(CROSSCODER_BIN) + " forward --model " + (m ? f.b : f.a) + " --token-ids " + ids +
                     " --dump-resid blocks.2.hook_resid_pre:" + npy),
              0);
    auto r = read_npy_f32(npy);
    int64_t row = 0;
    double worst = 0;
    for (size_t k = 0; k < seq.tokens.size(); ++k) {
      if (!seq.keep[k]) continue;
      for (int64_t i = 0; i < 32; ++i)
        worst = std::max(worst, double(std::abs(all.acts[size_t((row * 2 + m) * 32 + i)] - r.data[k * 32 + size_t(i)])));
      ++row;
    }
    EXPECT_GT(row, 50);
    EXPECT_LT(worst, 1e-4) << "model " << m;
  }
  std::string py;
  ASSERT_EQ(run_sh("/usr/bin/python3 " + std::string(SOURCE_DIR) + "/tests/python/read_store.py " + out, &py), 0) << py;
  Json j = Json::parse(py);
  EXPECT_EQ(j["rows"], st.rows());
  double sa = 0;
  for (int64_t r = 0; r < st.rows(); ++r)
    for (int64_t i = 0; i < 32; ++i) sa += all.acts[size_t(r * 64 + i)];
  EXPECT_NEAR(j["sum_a"].get<double>(), sa, 1e-6 * std::max(1.0, std::abs(sa)) + 1e-3);
  EXPECT_EQ(j["tokens_head"][0], all.tokens[0]);
}

}  // namespace
}  // namespace cc
