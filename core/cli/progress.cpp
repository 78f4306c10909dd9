#include "progress.hpp"

#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace fthost::cli {
namespace {

int terminal_columns() {
  winsize size{};
  if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &size) == 0 && size.ws_col > 20) return size.ws_col;
  return 80;
}

}  // namespace

bool ProgressDisplay::stdout_is_terminal() {
  const char* setting = std::getenv("FTHOST_PROGRESS");
  if (setting != nullptr && std::strcmp(setting, "0") == 0) return false;
  return isatty(STDOUT_FILENO) == 1;
}

std::string ProgressDisplay::format_duration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "?";
  const auto total = static_cast<long long>(std::llround(seconds));
  char text[32];
  if (total >= 3600) {
    std::snprintf(text, sizeof text, "%lld:%02lld:%02lld", total / 3600, (total / 60) % 60, total % 60);
  } else {
    std::snprintf(text, sizeof text, "%lld:%02lld", total / 60, total % 60);
  }
  return text;
}

std::string ProgressDisplay::render(const train::StepRecord& record, std::int64_t total_steps, double eta_seconds,
                                    double tokens_per_second, int columns) {
  char stats[160];
  std::snprintf(stats, sizeof stats, " %lld/%lld  loss %.4f  lr %.2e  %.0f tok/s  ETA %s  mem %.0f MiB",
                static_cast<long long>(record.step), static_cast<long long>(total_steps), record.loss,
                record.learning_rate, tokens_per_second, format_duration(eta_seconds).c_str(),
                static_cast<double>(record.memory.peak_bytes) / 1048576.0);
  const int stats_width = static_cast<int>(std::strlen(stats));
  const int bar_width = std::clamp(columns - stats_width - 3, 0, 40);
  std::string bar;
  if (bar_width >= 5) {
    const double fraction = total_steps > 0 ? static_cast<double>(record.step) / static_cast<double>(total_steps) : 1.0;
    const int filled = std::clamp(static_cast<int>(fraction * bar_width), 0, bar_width);
    bar = std::string("[") + std::string(static_cast<std::size_t>(filled), '#') +
          std::string(static_cast<std::size_t>(bar_width - filled), '-') + "]";
  }
  std::string text = bar + stats;
  if (static_cast<int>(text.size()) >= columns) text.resize(static_cast<std::size_t>(std::max(columns - 1, 0)));
  return text;
}

void ProgressDisplay::clear_bar() {
  if (bar_shown_) std::fputs("\r\033[K", stdout);
  bar_shown_ = false;
}

void ProgressDisplay::draw_bar() {
  if (!last_) return;
  const std::int64_t done = last_->step - first_step_;
  const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count();
  const double eta = done > 0 ? elapsed / static_cast<double>(done) * static_cast<double>(total_steps_ - last_->step)
                              : std::nan("");
  std::fputs(render(*last_, total_steps_, eta, tokens_per_second_, terminal_columns()).c_str(), stdout);
  std::fflush(stdout);
  bar_shown_ = true;
}

void ProgressDisplay::line(const std::string& text) {
  clear_bar();
  std::fputs(text.c_str(), stdout);
  std::fputc('\n', stdout);
  if (terminal_) draw_bar();
  std::fflush(stdout);
}

void ProgressDisplay::step(const train::StepRecord& record, std::int64_t total_steps, const std::string& log_line) {
  if (!last_) {
    // The clock starts at the first step's end: the ETA then leaves out start-up and warm-up.
    started_ = std::chrono::steady_clock::now();
    first_step_ = record.step;
  }
  last_ = record;
  total_steps_ = total_steps;
  const double rate = static_cast<double>(record.tokens) / std::max(record.seconds, 1e-9);
  tokens_per_second_ = tokens_per_second_ == 0.0 ? rate : 0.8 * tokens_per_second_ + 0.2 * rate;  // smoothed
  if (!log_line.empty()) {
    line(log_line);
  } else if (terminal_) {
    clear_bar();
    draw_bar();
  }
}

void ProgressDisplay::finish() {
  if (bar_shown_) std::fputc('\n', stdout);
  bar_shown_ = false;
  std::fflush(stdout);
}

}  // namespace fthost::cli
