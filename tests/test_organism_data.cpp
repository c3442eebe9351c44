// The organism's data: GSM8K solutions cleaned, synthetic traces carrying the reasoning moves and
// the right answer in the R1 format, chats masked so only responses are predicted, splits seeded,
// and the shipped organism's held-out trace list is the set its distillation held out.
#include <filesystem>
#include <fstream>
#include <set>
#include <random>

#include "core/json_file.hpp"
#include "data/lexicon.hpp"
#include "data/answer.hpp"
#include "data/packer.hpp"
#include "organism/lm_trainer.hpp"
#include "organism/organism_data.hpp"
#include "organism/train_model.hpp"
#include "test_util.hpp"
#include "tokenizer_fixtures.hpp"

namespace cc {
namespace {

const std::string kQ = "Natalia sold clips to 48 of her friends in April, and then she sold half as many clips in May. How many clips did Natalia sell altogether in April and May?";
const std::string kA = "Natalia sold 48/2 = <<48/2=24>>24 clips in May.\nNatalia sold 48+24 = <<48+24=72>>72 clips altogether in April and May.\n#### 72";

TEST(OrganismData, CleansSolutionsAndSynthesisesTracesWithTheMoves) {
  EXPECT_EQ(clean_gsm8k_solution(kA), "Natalia sold 48/2 = 24 clips in May.\nNatalia sold 48+24 = 72 clips altogether in April and May.");
  const Lexicon lex = load_lexicon(std::string(SOURCE_DIR) + "/configs/reasoning_lexicon.toml");
  std::vector<int64_t> total(lex.categories.size(), 0);
  std::mt19937_64 rng(1);
  for (int i = 0; i < 50; ++i) {
    const std::string t = synthesize_trace(kQ, kA, rng);
    ASSERT_EQ(t.rfind("<think>\n", 0), 0u) << t;
    ASSERT_NE(t.find("\n</think>\n\n"), std::string::npos);
    EXPECT_EQ(t.find("<<"), std::string::npos);  // no calculator annotations leak
    EXPECT_TRUE(answers_match(extract_answer(t).value_or(""), "72")) << t;
    EXPECT_EQ(t.substr(t.size() - std::string("<｜end▁of▁sentence｜>").size()), "<｜end▁of▁sentence｜>");
    const auto c = lex.count(t.substr(0, t.find("</think>")));
    for (size_t k = 0; k < c.size(); ++k) total[k] += c[k];
  }
  // Over 50 traces every move appears; re-checks and deductions are common.
  for (const char* cat : {"self-reflection", "deductive", "alternative", "contrastive"}) EXPECT_GT(total[size_t(lex.find(cat))], 0) << cat;
  EXPECT_GT(total[size_t(lex.find("self-reflection"))], 20);
  std::mt19937_64 a(7), b(7);
  EXPECT_EQ(synthesize_trace(kQ, kA, a), synthesize_trace(kQ, kA, b));
}

TEST(OrganismData, ChatsPredictOnlyTheResponse) {
  test::TempDir dir;
  auto tok = Tokenizer::load(test::make_r1_tokenizer(dir / "r1"));
  const std::vector<Chat> chats = {{"<｜begin▁of▁sentence｜><｜User｜>What is 5-1?<｜Assistant｜>", "<think>\nWait, 4.\n</think>\n\n4<｜end▁of▁sentence｜>"}};
  const TokenStream s = tokenize_chats(*tok, chats, 151643);
  const auto p = tok->encode(chats[0].prompt, false), r = tok->encode(chats[0].response, false);
  ASSERT_EQ(s.tokens.size(), 1 + p.size() + r.size());
  EXPECT_EQ(s.tokens[0], 151643);
  for (size_t i = 0; i < s.tokens.size(); ++i) EXPECT_EQ(s.predict[i], i > p.size() ? 1 : 0) << i;
  const TokenStream d = tokenize_documents(*tok, {"hello world", "x"}, 151643);
  for (uint8_t m : d.predict) EXPECT_EQ(m, 1);
}

// Records of a JSONL file whose string fields `a` and `b` are both non-empty, counted directly.
int64_t count_records(const std::string& path, const char* a, const char* b) {
  std::ifstream in(path);
  std::string line;
  int64_t n = 0;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    const Json j = Json::parse(line);
    auto has = [&](const char* k) { return j.contains(k) && j[k].is_string() && !j[k].get<std::string>().empty(); };
    n += has(a) && has(b);
  }
  return n;
}

TEST(OrganismData, BuildsSeededSplitsFromTheProjectData) {
  const OrganismTexts a = build_organism_texts(std::string(DATA_DIR), 3);
  // One chat per usable record: every real trace, and one synthesised trace per GSM8K train problem.
  const int64_t traces = count_records(std::string(DATA_DIR) + "/reasoning_traces/reasoning_traces.jsonl", "question", "trace");
  const int64_t gsm8k = count_records(std::string(DATA_DIR) + "/math/gsm8k_train.jsonl", "question", "answer");
  ASSERT_GT(traces, 1000);
  ASSERT_GT(gsm8k, 7000);
  EXPECT_EQ(a.real_traces, traces);
  EXPECT_EQ(a.synthetic_traces, gsm8k);
  EXPECT_EQ(int64_t(a.distill_train.size() + a.distill_eval.size()), traces + gsm8k);
  EXPECT_GT(a.base_eval.size(), 100u);
  const OrganismTexts b = build_organism_texts(std::string(DATA_DIR), 3);
  EXPECT_EQ(a.distill_eval[0].response, b.distill_eval[0].response);
  EXPECT_EQ(a.base_train[5], b.base_train[5]);
}

// The shipped organism/split.json lists the real traces the shipped organism's distillation held
// out: regenerated from seed 0 it gives the same lines, and the held-out losses build.json recorded
// when the organism was built are reproduced on the regenerated held-out sets (any other split
// scores other windows and misses by far more than float rounding).
TEST(OrganismData, ShippedSplitIsTheDistillationsHeldOutSet) {
  const std::string org = std::string(SOURCE_DIR) + "/organism";
  const OrganismTexts t = build_organism_texts(std::string(DATA_DIR), 0);
  std::set<uint32_t> want;
  for (const Chat& c : t.distill_eval)
    if (c.trace_line > 0) want.insert(c.trace_line);
  ASSERT_GT(want.size(), 40u);
  const auto listed = load_held_out_list(org + "/split.json");
  ASSERT_EQ(listed.size(), 1u);
  EXPECT_EQ(listed.begin()->first, std::filesystem::weakly_canonical(std::string(DATA_DIR) + "/reasoning_traces/reasoning_traces.jsonl").string());
  EXPECT_EQ(listed.begin()->second, want);

  const Json build = read_json_file(org + "/build.json");
  auto tok = Tokenizer::load(org + "/base/tokenizer.json");
  const int32_t eot = tok->token_to_id("<|endoftext|>");
  const TokenStream base_eval = tokenize_documents(*tok, t.base_eval, eot), dist_eval = tokenize_chats(*tok, t.distill_eval, eot);
  for (const char* m : {"base", "distilled"}) {
    const TrainParams p = load_train_params(org + "/" + m);
    const double traces = build["heldout_loss"][m]["traces"], general = build["heldout_loss"][m]["general_and_gsm8k"];
    // float32 forwards of the same weights and windows: equal to ~1e-6 relative whatever the CPU
    // (measured: 2e-9 relative on this machine).
    EXPECT_NEAR(evaluate_lm(p, dist_eval, 256, 64), traces, 1e-4 * traces) << m;
    EXPECT_NEAR(evaluate_lm(p, base_eval, 256, 64), general, 1e-4 * general) << m;
  }
}

}  // namespace
}  // namespace cc
