#include <cmath>

#include <doctest/doctest.h>

#include "train/lr_schedule.hpp"

using fthost::train::DecayShape;
using fthost::train::LearningRateSchedule;
using fthost::train::WarmupShape;

TEST_CASE("learning-rate schedules follow Hugging Face's and DeepSpeed's formulas") {
  LearningRateSchedule schedule;
  schedule.peak = 1.0;
  schedule.warmup_steps = 10;
  schedule.total_steps = 110;

  schedule.decay = DecayShape::linear;
  CHECK(schedule.at(0) == 0.0);
  CHECK(schedule.at(5) == doctest::Approx(0.5));
  CHECK(schedule.at(10) == doctest::Approx(1.0));
  CHECK(schedule.at(60) == doctest::Approx(0.5));
  CHECK(schedule.at(110) == doctest::Approx(0.0));

  schedule.decay = DecayShape::cosine;
  CHECK(schedule.at(60) == doctest::Approx(0.5));
  CHECK(schedule.at(35) == doctest::Approx(0.5 * (1 + std::cos(M_PI * 0.25))));

  schedule.decay = DecayShape::constant;
  CHECK(schedule.at(100) == 1.0);

  schedule.warmup = WarmupShape::log;
  CHECK(schedule.at(0) == 0.0);
  CHECK(schedule.at(4) == doctest::Approx(std::log(5.0) / std::log(10.0)));
}
