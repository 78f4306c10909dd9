#pragma once
// "Did you mean ...?" for misspelt keys and plugin names.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace fthost::runtime {

// Optimal string alignment distance (Levenshtein plus adjacent transpositions: "alpah" -> "alpha" is 1).
std::size_t edit_distance(std::string_view a, std::string_view b);

// The candidate closest to `typed`, if it is close enough to be a plausible typo.
std::optional<std::string> closest_match(std::string_view typed, const std::vector<std::string>& candidates);

// "a, b, c" for messages.
std::string join(const std::vector<std::string>& items, std::string_view separator = ", ");

}  // namespace fthost::runtime
