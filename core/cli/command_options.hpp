#pragma once
// Option parsing shared by the sub-commands that take --flags (Boost.Program_options).

#include <iostream>
#include <optional>
#include <string>
#include <string_view>

#include <boost/program_options.hpp>

#include "cli.hpp"

namespace fthost::cli {

// Parses a sub-command's options; an error or --help ends the command with its exit code.
inline std::optional<int> parse_options(const Arguments& arguments,
                                        const boost::program_options::options_description& options,
                                        std::string_view usage, boost::program_options::variables_map& variables) {
  namespace po = boost::program_options;
  try {
    po::store(po::command_line_parser(arguments).options(options).run(), variables);
    if (variables.count("help") > 0) {
      std::cout << usage << "\n" << options;
      return exit_ok;
    }
    po::notify(variables);
  } catch (const po::error& failure) {
    return report_error(sdk::Error::invalid_input(std::string("command line: ") + failure.what()));
  }
  return std::nullopt;
}

}  // namespace fthost::cli
