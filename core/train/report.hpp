#pragma once
// OUTPUT_DIR/report.html at the end of a run: loss (train and eval) and learning-rate curves as
// inline SVG, the run's summary and its full configuration. One self-contained file: no
// scripts, no network, opens in any browser.

#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "fthost/sdk/error.hpp"

namespace fthost::train {

struct ReportInputs {
  std::filesystem::path metrics_file;            // metrics.jsonl of the run (resumed parts included)
  std::string title;                             // "fthost run: <pipeline file>"
  std::vector<std::string> summary;              // lines: steps, losses, time, where the model went
  std::map<std::string, std::string> settings;   // "training.learning_rate" -> "0.0003", ...
  std::string pipeline_text;                     // the pipeline file as written
};

// One SVG line chart, width x height pixels, of named series of (x, y) points.
struct ChartSeries {
  std::string name;
  std::string color;
  std::vector<std::pair<double, double>> points;
  bool markers = false;  // dots instead of a line (eval points)
};
std::string svg_line_chart(const std::string& title, const std::vector<ChartSeries>& series, int width, int height);

// Writes `file` atomically.
sdk::Result<bool> write_report(const std::filesystem::path& file, const ReportInputs& inputs);

}  // namespace fthost::train
