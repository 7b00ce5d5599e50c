// run_cases() and failure reporting (tester.h).
#include "tester.h"

#include <cstdio>
#include <cstring>

namespace sqbert_test {
namespace {

int failures = 0;         // in this process
int case_failures = 0;    // in the current case
const char* current_case = "";

int usage(const char* argv0) {
  std::fprintf(stderr, "usage: %s ISA head|tail [CASE...]\n       %s --list\n", argv0, argv0);
  return 2;
}

}  // namespace

void fail(const std::string& what) {
  case_failures++;
  if (++failures <= 20) {
    std::fprintf(stderr, "FAIL [%s] %s: %s\n", guard_mode_name(), current_case, what.c_str());
  }
}

// The float and the int8 cases' main, over their configs.
template <typename C, typename Config>
int run_any_cases(int argc, char** argv, std::initializer_list<C> cases,
                  const Config* (*lookup)(const std::string& isa)) {
  if (argc == 2 && std::strcmp(argv[1], "--list") == 0) {
    for (const C& c : cases) std::printf("%s\n", c.name);
    return 0;
  }
  if (argc < 3) return usage(argv[0]);
  const std::string isa = argv[1], mode = argv[2];
  if (mode != "head" && mode != "tail") return usage(argv[0]);
  guard_mode() = mode == "head" ? GuardMode::kHead : GuardMode::kTail;
  const Config* config = lookup(isa);
  if (config == nullptr) {
    std::printf("%s: not in this build or not supported by this CPU: skipped\n", isa.c_str());
    return 77;
  }
  for (int i = 3; i < argc; i++) {
    bool known = false;
    for (const C& c : cases) known = known || std::strcmp(c.name, argv[i]) == 0;
    if (!known) {
      std::fprintf(stderr, "no case %s (--list names them)\n", argv[i]);
      return 2;
    }
  }
  int cases_failed = 0, cases_run = 0;
  for (const C& c : cases) {
    bool selected = argc == 3;
    for (int i = 3; i < argc; i++) selected = selected || std::strcmp(c.name, argv[i]) == 0;
    if (!selected) continue;
    // Named before it runs: a segfault's output ends with the name.
    std::printf("[%s] %s (%zux%zu) %s\n", mode.c_str(), isa.c_str(), config->mr, config->nr, c.name);
    std::fflush(stdout);
    current_case = c.name;
    case_failures = 0;
    std::mt19937 rng(42);  // the same data in both modes
    c.run(*config, rng);
    cases_run++;
    if (case_failures) {
      cases_failed++;
      std::fprintf(stderr, "FAILED [%s] %s %s: %d failures\n", mode.c_str(), isa.c_str(), c.name,
                   case_failures);
    }
  }
  if (cases_failed) {
    std::fprintf(stderr, "%d of %d cases failed (%d failures)\n", cases_failed, cases_run, failures);
    return 1;
  }
  std::printf("%d cases passed\n", cases_run);
  return 0;
}

int run_cases(int argc, char** argv, std::initializer_list<Case> cases) {
  return run_any_cases(argc, argv, cases, +[](const std::string& isa) {
    return isa == "-" ? &sqbert::kernel_configs().back() : sqbert::kernel_config(isa);
  });
}

int run_cases(int argc, char** argv, std::initializer_list<Qs8Case> cases) {
  return run_any_cases(argc, argv, cases, +[](const std::string& isa) { return sqbert::qs8_kernel_config(isa); });
}

}  // namespace sqbert_test
