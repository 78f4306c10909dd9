#pragma once
// What `fthost run` shows while it trains. On a terminal: a progress bar redrawn in place on the
// last line (step/total, loss, lr, tokens/s, ETA, memory) with log lines scrolling above it. Not
// on a terminal (a log file, CI, a pipe): plain log lines only, so logs stay readable.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

#include "train/trainer.hpp"

namespace fthost::cli {

class ProgressDisplay {
 public:
  // `terminal`: stdout is a terminal and FTHOST_PROGRESS is not 0.
  explicit ProgressDisplay(bool terminal) : terminal_(terminal) {}
  static bool stdout_is_terminal();

  // A log line; on a terminal it goes above the bar.
  void line(const std::string& text);
  // Every step; `log_line` is the step's log line when this step is logged (else empty).
  void step(const train::StepRecord& record, std::int64_t total_steps, const std::string& log_line);
  // Before the final summary: the bar's line is left complete.
  void finish();

  // "1:02:03" or "4:05".
  static std::string format_duration(double seconds);
  // The bar itself for a width of `columns` characters (exposed for tests).
  static std::string render(const train::StepRecord& record, std::int64_t total_steps, double eta_seconds,
                            double tokens_per_second, int columns);

 private:
  void clear_bar();
  void draw_bar();

  bool terminal_;
  bool bar_shown_ = false;
  std::optional<train::StepRecord> last_;
  std::int64_t total_steps_ = 0;
  std::int64_t first_step_ = 0;
  std::chrono::steady_clock::time_point started_;
  double tokens_per_second_ = 0.0;
};

}  // namespace fthost::cli
