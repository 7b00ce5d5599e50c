// Interleaved A/B of the packed grouped 1x1 convolution and feed-forward
// operators: one revision of csrc/ built in namespace sqold (operator_ab.sh
// compiles it with -Dsqbert=sqold) and another in sqbert, linked into one
// binary and timed in alternating order on the same inputs and weights.
//   conv_ab BATCH LENGTH [ROUNDS]
// Shapes: SqueezeBERT's 768->768 g4 (Q, K, V), 768->768 g1 (post-attention),
// 768->3072 g4, 3072->768 g4, and the feed-forward block 768->3072->768 g4.
#include <type_traits>
#include <vector>

#include "ab_harness.h"

#define sqbert sqold
#include "old/csrc/kernels/f32_gemm_pack.h"
#include "old/csrc/operators/grouped_pw_conv.h"
#undef sqbert
#include "kernels/f32_gemm_pack.h"
#include "operators/grouped_pw_conv.h"

namespace {

// Packed weights in a revision's layout: groups back to back, or rows of
// `row` floats (a 64-byte header first) where Args has a group stride.
template <typename Args, typename = void>
struct HasGroupStride : std::false_type {};
template <typename Args>
struct HasGroupStride<Args, std::void_t<decltype(Args::packed_group_stride)>> : std::true_type {};

struct Packed {
  std::vector<float> data;
  size_t offset, stride;  // floats: group 0's panels, and from group to group
};

template <bool kRows, typename Pack, typename Count>
Packed pack(Pack pack_weights, Count panel_count, size_t groups, size_t m, size_t k, size_t mr,
            const std::vector<float>& w) {
  const size_t panel_floats = panel_count(m, mr) * (1 + k) * mr;
  const size_t header = kRows ? 16 : 0, row = header + panel_floats;
  Packed p{std::vector<float>(groups * row + 16), header, kRows ? row : 0};
  for (size_t g = 0; g < groups; g++) {
    pack_weights(m, k, mr, 0, panel_count(m, mr), w.data() + g * m * k, k, 1, nullptr, 0,
                 p.data.data() + g * row + header);
  }
  return p;
}

template <typename Args, typename Config>
void fill_common(Args& a, size_t batch, size_t groups, size_t cin, size_t length, const float* x, float* y,
                 size_t cout) {
  a.batch = batch, a.groups = groups, a.group_in = cin / groups, a.length = length;
  a.x = x, a.x_batch_stride = cin * length, a.x_channel_stride = length;
  a.y = y, a.y_batch_stride = cout * length, a.y_channel_stride = length;
}

struct Shape {
  const char* name;
  size_t cin, hidden, cout, groups;  // hidden 0: one convolution cin -> cout
};

}  // namespace

int main(int argc, char** argv) {
  const ab::Args args = ab::parse_args(argc, argv, 60);
  const size_t batch = args.batch, length = args.length;
  const int rounds = args.rounds;
  const auto& oc = *sqold::kernel_config("avx2");
  const auto& nc = *sqbert::kernel_config("avx2");
  constexpr bool kOldRows = HasGroupStride<sqold::GroupedPwConvArgs>::value;
  constexpr bool kNewRows = HasGroupStride<sqbert::GroupedPwConvArgs>::value;
  const Shape shapes[] = {{"768->768 g4", 768, 0, 768, 4},     {"768->768 g1", 768, 0, 768, 1},
                          {"768->3072 g4", 768, 0, 3072, 4},   {"3072->768 g4", 3072, 0, 768, 4},
                          {"ffn 768->3072->768 g4", 768, 3072, 768, 4}};
  std::printf("B%zu L%zu, %d rounds, medians (us)\n", batch, length, rounds);
  for (const Shape& s : shapes) {
    const std::vector<float> x = ab::random_floats(batch * s.cin * length, 1.0f);
    const size_t first_out = s.hidden ? s.hidden : s.cout;
    const std::vector<float> w1 = ab::random_floats(first_out * s.cin / s.groups, 0.05f),
                             w2 = ab::random_floats(s.hidden ? s.cout * s.hidden / s.groups : 0, 0.05f);
    auto packs = [&](auto pack_weights, auto panel_count, size_t mr, auto rows) {
      constexpr bool kRows = decltype(rows)::value;
      std::vector<Packed> p{pack<kRows>(pack_weights, panel_count, s.groups, first_out / s.groups,
                                        s.cin / s.groups, mr, w1)};
      if (s.hidden) {
        p.push_back(pack<kRows>(pack_weights, panel_count, s.groups, s.cout / s.groups, s.hidden / s.groups, mr, w2));
      }
      return p;
    };
    const auto po = packs(sqold::f32_gemm_pack_weights, sqold::f32_gemm_panel_count, oc.mr,
                          std::integral_constant<bool, kOldRows>{});
    const auto pn = packs(sqbert::f32_gemm_pack_weights, sqbert::f32_gemm_panel_count, nc.mr,
                          std::integral_constant<bool, kNewRows>{});
    std::vector<float> y_old(batch * s.cout * length), y_new(y_old.size());
    auto run = [&](auto ns_conv, auto ns_ffn, const auto& config, const std::vector<Packed>& p, float* y,
                   auto run_conv, auto count_conv, auto run_ffn, auto count_ffn) {
      using ConvArgs = decltype(ns_conv);
      using FfnArgs = decltype(ns_ffn);
      return ab::seconds([&] {
        if (s.hidden == 0) {
          ConvArgs a{};
          fill_common<ConvArgs, decltype(config)>(a, batch, s.groups, s.cin, length, x.data(), y, s.cout);
          a.group_out = s.cout / s.groups;
          a.packed_weight = p[0].data.data() + p[0].offset;
          if constexpr (HasGroupStride<ConvArgs>::value) a.packed_group_stride = p[0].stride;
          run_conv(a, config, 0, count_conv(a, config));
        } else {
          FfnArgs a{};
          fill_common<FfnArgs, decltype(config)>(a, batch, s.groups, s.cin, length, x.data(), y, s.cout);
          a.group_hidden = s.hidden / s.groups, a.group_out = s.cout / s.groups, a.gelu = true;
          a.packed_w1 = p[0].data.data() + p[0].offset;
          a.packed_w2 = p[1].data.data() + p[1].offset;
          if constexpr (HasGroupStride<ConvArgs>::value) {
            a.packed_w1_group_stride = p[0].stride;
            a.packed_w2_group_stride = p[1].stride;
          }
          run_ffn(a, config, 0, count_ffn(a, config));
        }
      });
    };
    auto run_old = [&] {
      return run(sqold::GroupedPwConvArgs{}, sqold::GroupedPwFfnArgs{}, oc, po, y_old.data(),
                 sqold::grouped_pw_conv_run, sqold::grouped_pw_conv_task_count, sqold::grouped_pw_ffn_run,
                 sqold::grouped_pw_ffn_task_count);
    };
    auto run_new = [&] {
      return run(sqbert::GroupedPwConvArgs{}, sqbert::GroupedPwFfnArgs{}, nc, pn, y_new.data(),
                 sqbert::grouped_pw_conv_run, sqbert::grouped_pw_conv_task_count, sqbert::grouped_pw_ffn_run,
                 sqbert::grouped_pw_ffn_task_count);
    };
    const ab::Result r = ab::interleave(rounds, run_old, run_new);
    std::printf("  %-22s old %9.1f  new %9.1f  new/old %.3f  (max |diff| %g)\n", s.name, r.old_median * 1e6,
                r.new_median * 1e6, r.ratio, ab::max_abs_diff(y_old, y_new));
  }
  return 0;
}
