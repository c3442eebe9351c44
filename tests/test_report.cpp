// The report's data and HTML shell: discovery of a run's outputs, compaction (columns, interned
// context strings, trimmed windows), text that would close a <script> element staying inert, and
// clear errors for empty runs, malformed tables and missing assets. (The rendering itself is
// checked in headless Chromium by tests/report/run.sh.)
#include <filesystem>
#include <fstream>

#include "core/atomic_file.hpp"
#include "report/report.hpp"
#include "test_util.hpp"

namespace cc {
namespace {

struct RunFixture {
  test::TempDir dir;
  RunFixture() {
    const std::string an = dir / "analysis";
    std::filesystem::create_directories(an);
    std::ofstream(an + "/summary.json") << R"({"tokens": 100, "features": 2, "dead": 1, "thresholds": {"base_only_below": 0.3, "distilled_only_above": 0.7}})";
    std::ofstream(an + "/features.jsonl")
        << R"({"feature": 0, "nrn": 0.9, "class": "distilled-only", "category": "self-reflection", "freq": 0.5, "dead": false, "act_hist": [1, 2], "top_tokens": [{"text": " Wait", "share": 1.0}], "promotes_b": ["a","b"]})"
        << "\n"
        << R"({"feature": 1, "nrn": 0.5, "class": "shared", "freq": 0.0, "dead": true})" << "\n";
    std::ofstream ex(an + "/examples.jsonl");
    for (int i = 0; i < 4; ++i)
      ex << R"({"feature": 0, "kind": "top", "center": 3, "value": 2.5, "texts": ["a", "b", "</script><b>", " Wait", "d", "e", "f"], "acts": [0, 0, 0, 2.5, 0.1234567, 0, 0]})"
         << "\n";
    std::filesystem::create_directories(dir / "geo");
    std::ofstream(dir / "geo/geometry.json") << R"({"tasks": [], "summary": [], "pca": 20})";
  }
};

TEST(Report, CollectsCompactsAndKeepsScriptTextInert) {
  RunFixture fx;
  ReportOptions o;
  o.run = fx.dir.str();
  o.top_examples = 2;
  o.context = 1;
  o.out = fx.dir / "report.html";
  o.assets = std::string(SOURCE_DIR) + "/report";
  const Json d = collect_report_data(o);
  ASSERT_TRUE(d.contains("analysis"));
  ASSERT_TRUE(d.contains("geometry"));
  EXPECT_FALSE(d.contains("ablation"));
  EXPECT_EQ(d["features"]["rows"].size(), 2u);
  EXPECT_TRUE(d["details"].contains("0"));
  EXPECT_FALSE(d["details"].contains("1"));  // dead: no dashboard details
  ASSERT_EQ(d["examples"]["0"].size(), 2u);  // --top-examples
  const Json& e = d["examples"]["0"][0];
  EXPECT_EQ(e[1], 1);                  // centre inside the trimmed window
  EXPECT_EQ(e[2].size(), 3u);          // ±1 token
  EXPECT_EQ(d["strings"][e[2][1].get<size_t>()], " Wait");
  EXPECT_EQ(e[3][2], 0.123);           // rounded
  if (!std::filesystem::exists(std::string(SOURCE_DIR) + "/report/node_modules/vega/build/vega.min.js"))
    GTEST_SKIP() << "report/node_modules not installed (scripts/test.sh runs npm ci there)";
  const size_t bytes = write_report(o);
  const std::string html = read_file(o.out);
  EXPECT_EQ(bytes, html.size());
  size_t closes = 0;
  for (size_t i = html.find("</script>"); i != std::string::npos; i = html.find("</script>", i + 1)) ++closes;
  EXPECT_EQ(closes, 5u);  // vega, vega-lite, vega-embed, data, app: the token text closed nothing
  const size_t a = html.find("id=\"report-data\">") + 17, b = html.find("</script>", a);
  const Json back = Json::parse(html.substr(a, b - a));
  bool found = false;
  for (const Json& s : back["strings"]) found = found || s == "</script><b>";
  EXPECT_TRUE(found);
}

TEST(Report, EmptyRunsMalformedTablesAndMissingAssetsAreRefused) {
  test::TempDir empty;
  ReportOptions o;
  o.run = empty.str();
  o.out = empty / "r.html";
  test::expect_error([&] { collect_report_data(o); }, {"holds no crosscoder, analysis"});
  o.run = empty / "nope";
  test::expect_error([&] { collect_report_data(o); }, {"nope", "is not a folder"});
  RunFixture fx;
  std::ofstream(fx.dir / "analysis/features.jsonl", std::ios::app) << "{\"feature\": 2,\n";
  o.run = fx.dir.str();
  test::expect_error([&] { collect_report_data(o); }, {"features.jsonl:3"});
  o.assets = fx.dir / "no-assets";
  test::expect_error([&] { write_report(o); }, {"no-assets/style.css", "is missing"});
}

}  // namespace
}  // namespace cc
