// The grouped 1x1 convolution and feed-forward operators
// (grouped_pw_conv.h) against float64 math on the unpacked weights: packed
// and in-place weights, strided and poisoned operands, tasks run in two
// uneven ranges as two threads would.
// Cases (tester.h): conv, ffn.
#include <algorithm>
#include <cmath>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "kernels/f32_gemm_pack.h"
#include "operators/grouped_pw_conv.h"
#include "tester.h"

namespace {

using namespace sqbert;
using namespace sqbert_test;

void test_operator(const KernelConfig& config, std::mt19937& rng) {
  struct Case { size_t batch, groups, m, k, length; };
  const Case cases[] = {{1, 1, 1, 1, 1},  {2, 4, 7, 5, 17},   {3, 2, 13, 9, 33},
                        {1, 4, 48, 48, 128}, {2, 3, 5, 31, 1}, {1, 1, 0, 4, 3},
                        // deeper than one 1024-channel slice: accumulates across slices
                        {1, 2, 61, 2100, 19},
                        // x read in place (AVX-512) and the output channels
                        // in two chunks, the last one 195 rows
                        {2, 1, 403, 600, 45}};
  for (const Case& t : cases)
  for (bool packed_weights : {true, false}) {
    // x with gaps: channel stride length + 2, batch stride one channel more.
    // Both end at the last position of their last row (guard page after).
    const size_t xcs = t.length + 2, xbs = (t.groups * t.k + 1) * xcs;
    const size_t ycs = t.length + 1, ybs = t.groups * t.m * ycs + 3;
    Buffer x = random_vector(extent(t.batch, xbs, t.groups * t.k, xcs, t.length), rng);
    // Weights read in place are stored transposed ([k][groups*m]).
    Buffer w = random_vector(t.groups * t.m * t.k, rng);
    Buffer wt(w.size());
    for (size_t c = 0; c < t.groups * t.m; c++)
      for (size_t j = 0; j < t.k; j++) wt[j * t.groups * t.m + c] = w[c * t.k + j];
    Buffer bias = random_vector(t.groups * t.m, rng);
    Buffer packed(f32_gemm_packed_size(t.groups, t.m, t.k, config.mr));
    f32_gemm_pack_weights(t.m, t.k, config.mr, 0, t.groups * f32_gemm_panel_count(t.m, config.mr),
                          w.data(), t.k, 1, bias.data(), 1, packed.data());
    Buffer y(extent(t.batch, ybs, t.groups * t.m, ycs, t.length), kPoison);
    GroupedPwConvArgs args{};
    args.batch = t.batch;
    args.groups = t.groups;
    args.group_out = t.m;
    args.group_in = t.k;
    args.length = t.length;
    args.x = x.data();
    args.x_batch_stride = xbs;
    args.x_channel_stride = xcs;
    if (packed_weights) {
      args.packed_weight = packed.data();
    } else {
      args.weight = wt.data();
      args.w_stride_c = 1;
      args.w_stride_k = t.groups * t.m;
      args.bias = bias.data();
    }
    args.y = y.data();
    args.y_batch_stride = ybs;
    args.y_channel_stride = ycs;
    // Run the tasks in two uneven ranges, as two threads would.
    const size_t tasks = grouped_pw_conv_task_count(args, config);
    grouped_pw_conv_run(args, config, 0, tasks / 3);
    grouped_pw_conv_run(args, config, tasks / 3, tasks);
    const std::vector<double> want =
        reference(t.batch, t.groups, t.m, t.k, t.length, x, xbs, xcs, w, bias.data());
    auto check = [&](const Buffer& out, const std::string& what) {
      for (size_t i = 0; i < out.size(); i++) {
        const size_t b = i / ybs, c = (i % ybs) / ycs, l = (i % ybs) % ycs;
        const bool inside = b < t.batch && c < t.groups * t.m && l < t.length;
        const bool ok = inside ? close(out[i], want[(b * t.groups * t.m + c) * t.length + l], t.k)
                               : out[i] == kPoison;
        if (!ok) {
          fail(std::string(config.isa) + (packed_weights ? " packed" : " in-place") + what +
               " operator batch=" + std::to_string(t.batch) + " groups=" + std::to_string(t.groups) +
               " m=" + std::to_string(t.m) + " k=" + std::to_string(t.k) + " length=" + std::to_string(t.length) +
               (inside ? " wrong value" : " written outside the output"));
          break;
        }
      }
    };
    check(y, "");
    // Three convolutions of one x in one run (grouped_pw_convs_run), each
    // into an output of its own.
    std::vector<Buffer> ys;
    GroupedPwConvArgs convs[kMaxSharedInputConvs];
    for (size_t i = 0; i < kMaxSharedInputConvs; i++) {
      ys.emplace_back(extent(t.batch, ybs, t.groups * t.m, ycs, t.length), kPoison);
      convs[i] = args;
      convs[i].y = ys[i].data();
    }
    grouped_pw_convs_run(convs, kMaxSharedInputConvs, config, 0, tasks / 3);
    grouped_pw_convs_run(convs, kMaxSharedInputConvs, config, tasks / 3, tasks);
    for (size_t i = 0; i < kMaxSharedInputConvs; i++) check(ys[i], " shared-input[" + std::to_string(i) + "]");
  }
}

// The feed-forward operator against the two convolutions in float64, GELU
// between them or not, over hidden depths of one, two and three slices.
void test_ffn_operator(const KernelConfig& config, std::mt19937& rng) {
  struct Case { size_t batch, groups, k, hidden, m, length; };
  const Case cases[] = {{1, 1, 1, 1, 1, 1},      {2, 4, 5, 7, 3, 17},  {1, 2, 9, 1100, 13, 33},
                        {1, 4, 48, 192, 48, 128}, {2, 3, 31, 5, 1, 1}, {1, 1, 4, 2100, 6, 19}};
  for (const Case& t : cases)
  for (bool gelu : {true, false}) {
    const size_t xcs = t.length + 2, xbs = (t.groups * t.k + 1) * xcs;
    const size_t ycs = t.length + 1, ybs = t.groups * t.m * ycs + 3;
    Buffer x = random_vector(extent(t.batch, xbs, t.groups * t.k, xcs, t.length), rng);
    Buffer w1 = random_vector(t.groups * t.hidden * t.k, rng), b1 = random_vector(t.groups * t.hidden, rng);
    Buffer w2 = random_vector(t.groups * t.m * t.hidden, rng), b2 = random_vector(t.groups * t.m, rng);
    Buffer p1(f32_gemm_packed_size(t.groups, t.hidden, t.k, config.mr));
    Buffer p2(f32_gemm_packed_size(t.groups, t.m, t.hidden, config.mr));
    f32_gemm_pack_weights(t.hidden, t.k, config.mr, 0, t.groups * f32_gemm_panel_count(t.hidden, config.mr),
                          w1.data(), t.k, 1, b1.data(), 1, p1.data());
    f32_gemm_pack_weights(t.m, t.hidden, config.mr, 0, t.groups * f32_gemm_panel_count(t.m, config.mr),
                          w2.data(), t.hidden, 1, b2.data(), 1, p2.data());
    Buffer y(extent(t.batch, ybs, t.groups * t.m, ycs, t.length), kPoison);
    GroupedPwFfnArgs args{t.batch, t.groups, t.k, t.hidden, t.m, t.length, x.data(), xbs, xcs,
                          p1.data(), p2.data(), y.data(), ybs, ycs, gelu};
    const size_t tasks = grouped_pw_ffn_task_count(args, config);
    grouped_pw_ffn_run(args, config, 0, tasks / 3);
    grouped_pw_ffn_run(args, config, tasks / 3, tasks);
    std::vector<double> h = reference(t.batch, t.groups, t.hidden, t.k, t.length, x, xbs, xcs, w1, b1.data());
    if (gelu) {
      for (double& v : h) v = 0.5 * v * (1.0 + std::erf(v / std::sqrt(2.0)));
    }
    const size_t hcs = t.length, hbs = t.groups * t.hidden * hcs;
    const std::vector<double> want = reference(t.batch, t.groups, t.m, t.hidden, t.length, h, hbs, hcs, w2, b2.data());
    for (size_t i = 0; i < y.size(); i++) {
      const size_t b = i / ybs, c = (i % ybs) / ycs, l = (i % ybs) % ycs;
      const bool inside = b < t.batch && c < t.groups * t.m && l < t.length;
      // The second sum's terms are up to k times larger than one product.
      const bool ok = inside ? close(y[i], want[(b * t.groups * t.m + c) * t.length + l], t.hidden * (1 + t.k / 8))
                             : y[i] == kPoison;
      if (!ok) {
        fail(std::string(config.isa) + " ffn operator batch=" + std::to_string(t.batch) +
             " groups=" + std::to_string(t.groups) + " k=" + std::to_string(t.k) +
             " hidden=" + std::to_string(t.hidden) + " m=" + std::to_string(t.m) +
             " length=" + std::to_string(t.length) + (gelu ? " gelu" : "") +
             (inside ? " wrong value" : " written outside the output"));
        break;
      }
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  return run_cases(argc, argv, {{"conv", test_operator}, {"ffn", test_ffn_operator}});
}
