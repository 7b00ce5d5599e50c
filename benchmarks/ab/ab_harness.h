// What the operator A/B harnesses (*_ab.cc, built by operator_ab.sh) share:
// their arguments, the interleaved rounds and the summary.
#pragma once

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <vector>

namespace ab {

struct Args {
  size_t batch, length;
  int rounds;
};

// BATCH LENGTH [ROUNDS]; exits with the usage on anything else.
inline Args parse_args(int argc, char** argv, int default_rounds) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: %s BATCH LENGTH [ROUNDS]\n", argv[0]);
    std::exit(2);
  }
  return {static_cast<size_t>(std::atoi(argv[1])), static_cast<size_t>(std::atoi(argv[2])),
          argc > 3 ? std::atoi(argv[3]) : default_rounds};
}

template <typename F>
double seconds(F f) {
  const auto start = std::chrono::steady_clock::now();
  f();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

inline double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

inline std::vector<float> random_floats(size_t n, float scale) {
  std::vector<float> v(n);
  for (float& x : v) x = (std::rand() / float(RAND_MAX) * 2.0f - 1.0f) * scale;
  return v;
}

inline double max_abs_diff(const std::vector<float>& a, const std::vector<float>& b) {
  double diff = 0;
  for (size_t i = 0; i < a.size(); i++) diff = std::max(diff, double(std::fabs(a[i] - b[i])));
  return diff;
}

struct Result {
  double old_median, new_median, ratio;  // seconds, and the median of new / old per round
};

// Times run_old and run_new (each returning seconds) `rounds` times,
// alternating which goes first, after one untimed call of each.
template <typename Old, typename New>
Result interleave(int rounds, Old run_old, New run_new) {
  run_old();
  run_new();
  std::vector<double> t_old, t_new, ratio;
  for (int r = 0; r < rounds; r++) {
    double a, b;
    if (r % 2) {
      a = run_old(), b = run_new();
    } else {
      b = run_new(), a = run_old();
    }
    t_old.push_back(a), t_new.push_back(b), ratio.push_back(b / a);
  }
  return {median(t_old), median(t_new), median(ratio)};
}

}  // namespace ab
