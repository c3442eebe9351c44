// `crosscoder report`: one self-contained HTML file from a run's tables on disk — training curves,
// the paper's figures (NRN and decoder-cosine histograms, ablation curves, steering, geometry) and
// a feature browser with lazily built dashboards. Charts are Vega-Lite, inlined from npm's build.
#pragma once
#include <string>

#include "core/json_file.hpp"

namespace cc {

struct ReportOptions {
  std::string run;        // folder whose subfolders hold the outputs (discovered by their files)
  std::string crosscoder, analysis, ablation, steer, geometry, store;  // explicit folders override discovery
  std::string out;        // report.html
  std::string assets;     // folder with app.js, style.css, node_modules/vega* (the CLI fills the default: report/)
  int top_examples = 5;   // max-activating contexts per feature in the dashboards
  int sample_examples = 2;
  int context = 6;        // tokens either side kept per context
  int transcript_chars = 4000;
};

// Everything the page shows, as one JSON document (also what the tests inspect).
Json collect_report_data(const ReportOptions& opt);

// Writes the HTML atomically; returns its size in bytes.
size_t write_report(const ReportOptions& opt);

}  // namespace cc
