#include <doctest/doctest.h>

#include "fthost/runtime/suggest.hpp"

using fthost::runtime::closest_match;
using fthost::runtime::edit_distance;

TEST_CASE("edit distance counts an adjacent swap as one edit") {
  CHECK(edit_distance("lora_alpah", "lora_alpha") == 1);
  CHECK(edit_distance("", "abc") == 3);
  CHECK(edit_distance("kitten", "sitting") == 3);
  CHECK(edit_distance("same", "same") == 0);
}

TEST_CASE("closest match offers plausible typos only") {
  std::vector<std::string> keys = {"r", "lora_alpha", "lora_dropout", "target_modules"};
  CHECK(closest_match("lora_alpah", keys) == "lora_alpha");
  CHECK(closest_match("target_module", keys) == "target_modules");
  CHECK_FALSE(closest_match("learning_rate", keys).has_value());
  CHECK_FALSE(closest_match("x", keys).has_value());  // one letter is no evidence of a typo
  CHECK(closest_match("lorra", {"lora", "zero"}) == "lora");
}
