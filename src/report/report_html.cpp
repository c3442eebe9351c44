// The HTML shell: our stylesheet and app, the three Vega bundles from npm and the data, all inline,
// so the file opens offline. "</" inside inlined text is escaped so no string can close a <script>.
#include <cctype>
#include <filesystem>

#include "core/atomic_file.hpp"
#include "core/error.hpp"
#include "report/report.hpp"

namespace cc {

namespace {

// JSON: every "</" becomes "<\/" (the same string to a JSON parser).
std::string json_script_safe(std::string s) {
  for (size_t i = s.find("</"); i != std::string::npos; i = s.find("</", i + 3)) s.replace(i, 2, "<\\/");
  return s;
}

// JavaScript: only "</script" can end the element; it is escaped the same way (valid inside strings,
// where bundles keep it). Blanket escaping would break regex literals such as /</g.
std::string js_script_safe(std::string s) {
  auto lower = [](char c) { return char(std::tolower(static_cast<unsigned char>(c))); };
  for (size_t i = 0; i + 8 <= s.size(); ++i)
    if (s[i] == '<' && s[i + 1] == '/') {
      bool m = true;
      for (size_t k = 0; k < 6 && m; ++k) m = lower(s[i + 2 + k]) == "script"[k];
      if (m) s.replace(i, 2, "<\\/");
    }
  return s;
}

std::string asset(const std::string& dir, const std::string& rel) {
  const std::string p = dir + "/" + rel;
  if (!std::filesystem::exists(p))
    fail(p, "", "is missing", "", "",
         rel.rfind("node_modules", 0) == 0 ? "run `npm ci` in " + dir + " (scripts/demo.sh and scripts/test.sh do)" : "");
  return read_file(p);
}

}  // namespace

size_t write_report(const ReportOptions& opt) {
  if (opt.assets.empty()) fail("", "report assets", "are not set", "a folder with app.js, style.css and node_modules/vega*");
  const std::string& dir = opt.assets;
  // Assets first: a missing one is reported before the (possibly long) data collection.
  const std::string css = asset(dir, "style.css"), app = asset(dir, "app.js");
  const std::string vega = asset(dir, "node_modules/vega/build/vega.min.js");
  const std::string vl = asset(dir, "node_modules/vega-lite/build/vega-lite.min.js");
  const std::string embed = asset(dir, "node_modules/vega-embed/build/vega-embed.min.js");
  const Json data = collect_report_data(opt);
  std::string html;
  html.reserve(vega.size() + vl.size() + embed.size() + app.size() + (1u << 20));
  html += "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
          "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
          "<title>crosscoder report</title>\n<style>\n" + css + "\n</style></head>\n<body>\n<div id=\"app\"></div>\n";
  for (const std::string* js : {&vega, &vl, &embed}) html += "<script>\n" + js_script_safe(*js) + "\n</script>\n";
  html += "<script type=\"application/json\" id=\"report-data\">" + json_script_safe(data.dump(-1, ' ', false, Json::error_handler_t::replace)) +
          "</script>\n<script>\n" + js_script_safe(app) + "\n</script>\n</body></html>\n";
  write_file_atomic(opt.out, html);
  return html.size();
}

}  // namespace cc
