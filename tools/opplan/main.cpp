// opplan: the command-line front end of the library. Each subcommand lives in its own cmd_*.cpp;
// this file parses the command line and turns every outcome into one of three exit codes.
#include <exception>
#include <iostream>
#include <new>
#include <string>
#include <vector>

#include <opplan/version.hpp>

#include "cli.hpp"

namespace opplan::cli {
namespace {

constexpr const char* kFooter = R"(Exit codes: 0 success; 1 invalid input (a file, model or preset is missing or wrong;
the message on stderr names it); 2 usage error (unknown subcommand or flag, missing argument).

With --json, stdout carries exactly one JSON object when the command succeeds and stays empty when
it fails; error messages always go to stderr, in JSON mode too.)";

int run(int argc, char** argv) {
  CLI::App app{"opplan: plans the parallel execution of a deep-learning training step", "opplan"};
  app.footer(kFooter);
  app.set_version_flag("--version", [] {
    std::string info = build_info();
    while (!info.empty() && info.back() == '\n') info.pop_back();  // CLI11 adds the final newline
    return info;
  });
  const std::vector<Command> commands = {add_info_command(app), add_validate_command(app), add_solve_command(app),
                                         add_schedule_command(app), add_shard_command(app), add_plan_command(app),
                                         add_stages_command(app), add_zoo_command(app), add_export_command(app),
                                         add_evaluate_command(app)};
  for (const Command& command : commands) command.app->footer(kFooter);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // --help and --version are "errors" with exit code 0 that print to stdout.
    if (e.get_exit_code() == static_cast<int>(CLI::ExitCodes::Success)) return app.exit(e);
    app.exit(e, std::cout, std::cerr);
    return kExitUsage;
  }
  for (const Command& command : commands)
    if (command.app->parsed()) return command.run();
  std::cerr << app.help();
  return kExitUsage;
}

}  // namespace
}  // namespace opplan::cli

int main(int argc, char** argv) {
  // Library functions report bad input through Status; an exception here is a bug or an
  // environment failure (out of memory), and still must not crash the program.
  try {
    return opplan::cli::run(argc, argv);
  } catch (const std::bad_alloc&) {
    // The library refuses inputs above its documented limits before allocating; this is a machine
    // with less memory than they assume (or a bug): say so in words.
    std::cerr << "opplan: out of memory: the input is too large for this machine's memory\n";
  } catch (const std::exception& e) {
    std::cerr << "opplan: error: " << e.what() << "\n";
  } catch (...) {
    std::cerr << "opplan: error: unknown exception\n";
  }
  return opplan::cli::kExitInvalidInput;
}
