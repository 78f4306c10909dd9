#include "train/report.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <limits>

#include <nlohmann/json.hpp>

#include "model/atomic_file.hpp"

namespace fthost::train {
namespace {

std::string escape_html(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      default: out += c;
    }
  }
  return out;
}

std::string number(double value) {
  char text[32];
  std::snprintf(text, sizeof text, "%.4g", value);
  return text;
}

std::string coordinate(double value) {
  char text[32];
  std::snprintf(text, sizeof text, "%.1f", value);
  return text;
}

}  // namespace

std::string svg_line_chart(const std::string& title, const std::vector<ChartSeries>& series, int width, int height) {
  constexpr double left = 64, right = 16, top = 28, bottom = 36;
  double x_min = std::numeric_limits<double>::infinity(), x_max = -x_min, y_min = x_min, y_max = -x_min;
  for (const ChartSeries& line : series) {
    for (const auto& [x, y] : line.points) {
      if (!std::isfinite(x) || !std::isfinite(y)) continue;
      x_min = std::min(x_min, x), x_max = std::max(x_max, x), y_min = std::min(y_min, y), y_max = std::max(y_max, y);
    }
  }
  std::string svg = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" + std::to_string(width) + "\" height=\"" +
                    std::to_string(height) + "\" font-family=\"sans-serif\" font-size=\"11\">\n";
  svg += "<text x=\"" + coordinate(left) + "\" y=\"16\" font-size=\"13\" font-weight=\"bold\">" + escape_html(title) + "</text>\n";
  if (!std::isfinite(x_min)) return svg + "<text x=\"" + coordinate(left) + "\" y=\"60\">no data</text>\n</svg>\n";
  if (x_max == x_min) x_max = x_min + 1;
  if (y_max == y_min) y_max = y_min + (y_min == 0 ? 1 : std::abs(y_min) * 0.1);
  const double plot_width = width - left - right, plot_height = height - top - bottom;
  auto to_x = [&](double x) { return left + (x - x_min) / (x_max - x_min) * plot_width; };
  auto to_y = [&](double y) { return top + (1.0 - (y - y_min) / (y_max - y_min)) * plot_height; };
  svg += "<rect x=\"" + coordinate(left) + "\" y=\"" + coordinate(top) + "\" width=\"" + coordinate(plot_width) +
         "\" height=\"" + coordinate(plot_height) + "\" fill=\"none\" stroke=\"#bbb\"/>\n";
  for (int tick = 0; tick <= 4; ++tick) {
    const double y = y_min + (y_max - y_min) * tick / 4.0;
    const double x = x_min + (x_max - x_min) * tick / 4.0;
    svg += "<line x1=\"" + coordinate(left) + "\" x2=\"" + coordinate(left + plot_width) + "\" y1=\"" +
           coordinate(to_y(y)) + "\" y2=\"" + coordinate(to_y(y)) + "\" stroke=\"#eee\"/>\n";
    svg += "<text x=\"" + coordinate(left - 6) + "\" y=\"" + coordinate(to_y(y) + 4) + "\" text-anchor=\"end\">" +
           number(y) + "</text>\n";
    svg += "<text x=\"" + coordinate(to_x(x)) + "\" y=\"" + coordinate(top + plot_height + 16) +
           "\" text-anchor=\"middle\">" + number(std::round(x)) + "</text>\n";
  }
  svg += "<text x=\"" + coordinate(left + plot_width / 2) + "\" y=\"" + coordinate(height - 4.0) +
         "\" text-anchor=\"middle\">step</text>\n";
  double legend_x = left + 220;
  for (const ChartSeries& line : series) {
    if (line.points.empty()) continue;
    if (line.markers) {
      for (const auto& [x, y] : line.points) {
        svg += "<circle cx=\"" + coordinate(to_x(x)) + "\" cy=\"" + coordinate(to_y(y)) + "\" r=\"3.5\" fill=\"" +
               line.color + "\"/>\n";
      }
    } else {
      svg += "<polyline fill=\"none\" stroke-width=\"1.5\" stroke=\"" + line.color + "\" points=\"";
      for (const auto& [x, y] : line.points) {
        if (std::isfinite(y)) svg += coordinate(to_x(x)) + "," + coordinate(to_y(y)) + " ";
      }
      svg += "\"/>\n";
    }
    svg += "<rect x=\"" + coordinate(legend_x) + "\" y=\"8\" width=\"10\" height=\"10\" fill=\"" + line.color + "\"/>";
    svg += "<text x=\"" + coordinate(legend_x + 14) + "\" y=\"17\">" + escape_html(line.name) + "</text>\n";
    legend_x += 110;
  }
  return svg + "</svg>\n";
}

sdk::Result<bool> write_report(const std::filesystem::path& file, const ReportInputs& inputs) {
  ChartSeries train_loss{"train loss", "#1f77b4", {}, false};
  ChartSeries eval_loss{"eval loss", "#d62728", {}, true};
  ChartSeries learning_rate{"learning rate", "#2ca02c", {}, false};
  std::ifstream metrics(inputs.metrics_file);
  std::string line;
  while (std::getline(metrics, line)) {
    auto record = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (record.is_discarded() || !record.contains("step")) continue;
    const auto step = record["step"].get<double>();
    if (record.contains("loss")) train_loss.points.emplace_back(step, record["loss"].get<double>());
    if (record.contains("lr")) learning_rate.points.emplace_back(step, record["lr"].get<double>());
    if (record.contains("eval_loss")) eval_loss.points.emplace_back(step, record["eval_loss"].get<double>());
  }

  std::string html = "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>" + escape_html(inputs.title) +
                     "</title>\n<style>body{font-family:sans-serif;margin:24px;max-width:980px}"
                     "table{border-collapse:collapse}td{padding:2px 12px 2px 0;vertical-align:top}"
                     "pre{background:#f6f6f6;padding:8px;overflow-x:auto}</style></head><body>\n";
  html += "<h1>" + escape_html(inputs.title) + "</h1>\n<ul>\n";
  for (const std::string& item : inputs.summary) html += "<li>" + escape_html(item) + "</li>\n";
  html += "</ul>\n";
  html += svg_line_chart("Loss", {train_loss, eval_loss}, 960, 320);
  html += svg_line_chart("Learning rate", {learning_rate}, 960, 220);
  html += "<h2>Settings</h2>\n<table>\n";
  for (const auto& [key, value] : inputs.settings) {
    html += "<tr><td>" + escape_html(key) + "</td><td>" + escape_html(value) + "</td></tr>\n";
  }
  html += "</table>\n<h2>Pipeline file</h2>\n<pre>" + escape_html(inputs.pipeline_text) + "</pre>\n";
  html += "<p>Data: <code>metrics.jsonl</code> beside this file; TensorBoard: <code>tensorboard --logdir " +
          escape_html((file.parent_path() / "tensorboard").string()) + "</code></p>\n</body></html>\n";
  std::span<const std::byte> pieces[] = {std::as_bytes(std::span<const char>(html))};
  auto written = model::write_file_atomically(file, pieces);
  if (!written) return written.error();
  return true;
}

}  // namespace fthost::train
