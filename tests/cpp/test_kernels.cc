// Standalone tests of the f32 GEMM micro-kernels, weight packing and the
// grouped 1x1 convolution operator, against float64 math on the unpacked
// weights. Every kernel this build and CPU have is tested on every mr and nc
// up to its tile, many kc, strided rows, and poisoned outputs: an element the
// kernel should write but does not, or one it should leave but writes, fails.
// Operands hold exactly what the kernels may touch, between guard pages
// (guarded_buffer.h), flush against the leading one in a first run and the
// trailing one in a second: an access past either end segfaults.
#include <cmath>
#include <limits>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "guarded_buffer.h"
#include "kernels/kernel_config.h"
#include "kernels/f32_gemm_pack.h"
#include "operators/fused_attention.h"
#include "operators/grouped_pw_conv.h"
#include "operators/layernorm_ncw.h"

namespace {

using namespace sqbert;
using sqbert_test::GuardedBuffer;

// Kernel operands: guard pages flush against one end (guarded_buffer.h).
using Buffer = GuardedBuffer<float>;

int failures = 0;
const float kPoison = 12345.678f;

void fail(const std::string& what) {
  if (++failures <= 20) std::fprintf(stderr, "FAIL [%s]: %s\n", sqbert_test::guard_mode_name(), what.c_str());
}

Buffer random_vector(size_t n, std::mt19937& rng) {
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  Buffer v(n);
  for (float& x : v) x = dist(rng);
  return v;
}

// float32 against float64; `depth` (the length of the dot products) widens
// the bound for long sums, whose rounding error grows with them.
bool close(float got, double want, size_t depth = 0) {
  const double scale = depth > 200 ? depth / 200.0 : 1.0;
  return std::fabs(got - want) <= 1e-5 * scale * (1.0 + std::fabs(want));
}

// Floats from the first element of `outer` blocks (outer_stride apart) of
// `rows` rows (row_stride apart) of n to the last: what a strided operand
// takes when nothing past its last element is allocated. 0 when empty.
size_t extent(size_t outer, size_t outer_stride, size_t rows, size_t row_stride, size_t n) {
  if (outer == 0 || rows == 0 || n == 0) return 0;
  return (outer - 1) * outer_stride + (rows - 1) * row_stride + n;
}

// y[b][c][l] in float64 from unpacked weights [groups*m][k] and bias.
template <typename X, typename W>
std::vector<double> reference(size_t batch, size_t groups, size_t m, size_t k,
                              size_t length, const X& x,
                              size_t x_batch_stride, size_t x_channel_stride,
                              const W& w, const float* bias) {
  std::vector<double> y(batch * groups * m * length);
  for (size_t b = 0; b < batch; b++)
    for (size_t c = 0; c < groups * m; c++)
      for (size_t l = 0; l < length; l++) {
        double acc = bias ? bias[c] : 0.0;
        for (size_t j = 0; j < k; j++)
          acc += double(w[c * k + j]) *
                 x[b * x_batch_stride + ((c / m) * k + j) * x_channel_stride + l];
        y[(b * groups * m + c) * length + l] = acc;
      }
  return y;
}

// Weights as the kernels meet them: packed panels, rows of a [m, k] matrix
// read in place, and a [k, m] matrix read transposed (attention's keys).
enum class Layout { kPacked, kRows, kColumns };

void test_ukernel(const KernelConfig& config, std::mt19937& rng) {
  const size_t kcs[] = {0, 1, 2, 3, 4, 5, 7, 8, 16, 17, 33, 64, 191};
  const Layout layouts[] = {Layout::kPacked, Layout::kRows, Layout::kColumns};
  for (Layout layout : layouts)
  // bias, no bias, accumulate; then bias and accumulate with col_scale
  for (int mode = 0; mode < 5; mode++)
  for (size_t kc : kcs)
    for (size_t mr = 1; mr <= config.mr; mr++)
      for (size_t nc = 1; nc <= config.nr; nc++) {
        const bool accumulate = mode == 2 || mode == 4;
        // Every operand holds exactly what the kernel may touch, between
        // guard pages: a read or write past either end faults.
        Buffer col_scale = random_vector(mode >= 3 ? nc : 0, rng);
        const size_t x_stride = nc + 3, y_stride = nc + 5;
        Buffer w = random_vector(mr * kc, rng);  // [mr][kc]
        Buffer bias = random_vector(mr, rng);
        Buffer storage;
        F32GemmWeights weights{};
        if (layout == Layout::kPacked) {
          Buffer panel(f32_gemm_packed_size(1, mr, kc, config.mr));
          f32_gemm_pack_weights(mr, kc, config.mr, 0, 1, w.data(), kc, 1,
                                bias.data(), 1, panel.data());
          // The panel up to row mr - 1 of its last k step (bias first): the
          // zero rows of a partial panel past it are not the kernel's to read.
          storage = Buffer(std::vector<float>(panel.begin(), panel.begin() + kc * config.mr + mr));
          weights = {storage.data() + config.mr, 1, config.mr, storage.data()};
        } else if (layout == Layout::kRows) {
          // Row stride kc + 2: the gaps hold poison that must not be read in.
          storage.assign(extent(1, 0, mr, kc + 2, kc), kPoison);
          for (size_t i = 0; i < mr; i++)
            for (size_t j = 0; j < kc; j++) storage[i * (kc + 2) + j] = w[i * kc + j];
          weights = {storage.data(), kc + 2, 1, bias.data()};
        } else {
          storage.assign(extent(1, 0, kc, mr + 1, mr), kPoison);
          for (size_t i = 0; i < mr; i++)
            for (size_t j = 0; j < kc; j++) storage[j * (mr + 1) + i] = w[i * kc + j];
          weights = {storage.data(), 1, mr + 1, bias.data()};
        }
        const bool use_bias = mode == 0 || mode == 3 || layout == Layout::kPacked;
        if (!use_bias) weights.bias = nullptr;
        // The kc x nc block and nothing past it: the guard page catches a
        // read past the last row.
        Buffer x = random_vector(extent(1, 0, kc, x_stride, nc), rng);
        // mr rows of y, the gaps between them poisoned; a write to a row past
        // mr lands on the guard page.
        Buffer y(extent(1, 0, mr, y_stride, nc), kPoison);
        Buffer before = random_vector(mr * nc, rng);
        if (accumulate) {
          for (size_t i = 0; i < mr; i++)
            for (size_t j = 0; j < nc; j++) y[i * y_stride + j] = before[i * nc + j];
        }
        config.ukernel(mr, nc, kc, weights, x.data(), x_stride, y.data(), y_stride,
                       accumulate, col_scale.empty() ? nullptr : col_scale.data());
        std::vector<double> want =
            reference(1, 1, mr, kc, nc, x, 0, x_stride, w, use_bias && !accumulate ? bias.data() : nullptr);
        if (accumulate) {
          for (size_t i = 0; i < mr * nc; i++) want[i] += before[i];
        }
        if (!col_scale.empty()) {
          for (size_t i = 0; i < mr * nc; i++) want[i] *= col_scale[i % nc];
        }
        for (size_t i = 0; i < config.mr + 1; i++)
          for (size_t j = 0; j < y_stride && i * y_stride + j < y.size(); j++) {
            const float got = y[i * y_stride + j];
            const bool inside = i < mr && j < nc;
            if (inside ? !close(got, want[i * nc + j]) : got != kPoison) {
              fail(std::string(config.isa) + " ukernel layout=" +
                   std::to_string(static_cast<int>(layout)) + " mode=" +
                   std::to_string(mode) + " mr=" + std::to_string(mr) +
                   " nc=" + std::to_string(nc) + " kc=" + std::to_string(kc) +
                   " at [" + std::to_string(i) + "][" + std::to_string(j) + "]" +
                   (inside ? " wrong value" : " written outside the tile"));
              return;
            }
          }
      }
}

void test_pack_layout(std::mt19937& rng) {
  // weight stored transposed ([k][groups*m]) to exercise both strides.
  const size_t groups = 3, m = 7, k = 5, mr = 4;
  Buffer wt = random_vector(k * groups * m, rng);
  Buffer bias = random_vector(2 * groups * m - 1, rng);  // stride 2, up to the last one
  Buffer packed(f32_gemm_packed_size(groups, m, k, mr), kPoison);
  const size_t panels = f32_gemm_panel_count(m, mr);
  // Two disjoint ranges, as two threads would pack them.
  f32_gemm_pack_weights(m, k, mr, 0, 2, wt.data(), 1, groups * m, bias.data(), 2, packed.data());
  f32_gemm_pack_weights(m, k, mr, 2, groups * panels, wt.data(), 1, groups * m,
                        bias.data(), 2, packed.data());
  for (size_t g = 0; g < groups; g++)
    for (size_t p = 0; p < panels; p++) {
      const float* panel = packed.data() + (g * panels + p) * (1 + k) * mr;
      for (size_t i = 0; i < mr; i++) {
        const size_t row = p * mr + i, c = g * m + row;
        const float want_bias = row < m ? bias[2 * c] : 0.0f;
        if (panel[i] != want_bias) fail("pack bias g=" + std::to_string(g));
        for (size_t j = 0; j < k; j++) {
          const float want = row < m ? wt[j * groups * m + c] : 0.0f;
          if (panel[(1 + j) * mr + i] != want) fail("pack weight g=" + std::to_string(g));
        }
      }
    }
  Buffer no_bias(f32_gemm_packed_size(1, m, k, mr), kPoison);
  f32_gemm_pack_weights(m, k, mr, 0, panels, wt.data(), 1, m, nullptr, 0, no_bias.data());
  for (size_t p = 0; p < panels; p++)
    for (size_t i = 0; i < mr; i++)
      if (no_bias[p * (1 + k) * mr + i] != 0.0f) fail("pack without bias is not zero");
}

void test_operator(const KernelConfig& config, std::mt19937& rng) {
  struct Case { size_t batch, groups, m, k, length; };
  const Case cases[] = {{1, 1, 1, 1, 1},  {2, 4, 7, 5, 17},   {3, 2, 13, 9, 33},
                        {1, 4, 48, 48, 128}, {2, 3, 5, 31, 1}, {1, 1, 0, 4, 3},
                        // deeper than one 1024-channel slice: accumulates across slices
                        {1, 2, 61, 2100, 19}};
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
    for (size_t i = 0; i < y.size(); i++) {
      const size_t b = i / ybs, c = (i % ybs) / ycs, l = (i % ybs) % ycs;
      const bool inside = b < t.batch && c < t.groups * t.m && l < t.length;
      const bool ok = inside ? close(y[i], want[(b * t.groups * t.m + c) * t.length + l], t.k)
                             : y[i] == kPoison;
      if (!ok) {
        fail(std::string(config.isa) + (packed_weights ? " packed" : " in-place") +
             " operator batch=" + std::to_string(t.batch) +
             " groups=" + std::to_string(t.groups) + " m=" + std::to_string(t.m) +
             " k=" + std::to_string(t.k) + " length=" + std::to_string(t.length) +
             (inside ? " wrong value" : " written outside the output"));
        break;
      }
    }
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

void test_online_softmax(const KernelConfig& config, std::mt19937& rng) {
  const size_t nr = config.nr;
  const float ninf = -std::numeric_limits<float>::infinity();
  const size_t bks[] = {1, 2, 5, 8, 16, 97};
  const size_t ds[] = {0, 1, 7, 64};
  for (bool with_mask : {false, true})
  for (size_t bk : bks)
    for (size_t d : ds) {
      Buffer s = random_vector(bk * nr, rng);
      for (float& x : s) x *= 20.0f;
      Buffer m = random_vector(nr, rng), l = random_vector(nr, rng);
      Buffer o = random_vector(d * nr, rng);
      // mask[n][j] with a gap of 3 floats between rows, none after the last
      // row's bk keys; lane 2 masks key 0.
      const size_t mask_stride = bk + 3;
      Buffer mask = random_vector(extent(1, 0, nr, mask_stride, bk), rng);
      if (nr > 2) mask[2 * mask_stride] = ninf;
      for (size_t n = 0; n < nr; n++) l[n] += 2.0f;
      // Lane 0: nothing seen yet. Lane 1: all -inf so far and in this block.
      m[0] = ninf;
      l[0] = 0.0f;
      if (nr > 1) {
        m[1] = ninf;
        l[1] = 0.0f;
        for (size_t j = 0; j < bk; j++) s[j * nr + 1] = ninf;
        for (size_t c = 0; c < d; c++) o[c * nr + 1] = 0.0f;
      }
      const Buffer s0 = s, m0 = m, l0 = l, o0 = o;
      config.online_softmax(bk, d, s.data(), with_mask ? mask.data() : nullptr, mask_stride,
                            m.data(), l.data(), o.data());
      for (size_t n = 0; n < nr; n++) {
        std::vector<double> x(bk);
        double m_new = m0[n];
        for (size_t j = 0; j < bk; j++) {
          x[j] = double(s0[j * nr + n]) + (with_mask ? mask[n * mask_stride + j] : 0.0f);
          m_new = std::max(m_new, x[j]);
        }
        const double ref = std::isinf(m_new) ? 0.0 : m_new;
        const double alpha = std::exp(double(m0[n]) - ref);
        double sum = 0.0;
        bool ok = float(m_new) == m[n];
        for (size_t j = 0; j < bk; j++) {
          const double p = std::exp(x[j] - ref);
          sum += p;
          ok = ok && close(s[j * nr + n], p);
        }
        ok = ok && close(l[n], l0[n] * alpha + sum);
        for (size_t c = 0; c < d; c++) ok = ok && close(o[c * nr + n], o0[c * nr + n] * alpha);
        if (!ok) {
          fail(std::string(config.isa) + " online_softmax bk=" + std::to_string(bk) +
               " d=" + std::to_string(d) + (with_mask ? " masked" : "") + " lane " +
               std::to_string(n));
          return;
        }
      }
    }
}

void test_attention(const KernelConfig& config, std::mt19937& rng) {
  // How the mask is laid out: none; [b][i][j] (keys contiguous, read in
  // place on full query tiles); [b][j] shared by the queries (the score
  // GEMM's bias); [b][j][i] (transposed: gathered); [b][j] with a key
  // stride of 2 (gathered into the bias); [b][j] with trailing padding
  // (skipped), batch row 1 all padding (every key kept).
  enum Mask { kNone, kQueryKey, kKey, kKeyQuery, kKeyStrided, kKeyPadded };
  struct Case { size_t batch, heads, d, length; Mask mask; };
  const Case cases[] = {{1, 1, 1, 1, kNone},         {2, 3, 8, 7, kQueryKey},
                        {1, 2, 16, 33, kQueryKey},   {2, 1, 5, 130, kQueryKey},
                        {1, 2, 64, 200, kNone},      {2, 2, 8, 48, kQueryKey},
                        {2, 2, 8, 48, kKey},         {1, 1, 16, 37, kKeyQuery},
                        {1, 2, 8, 300, kKey},        {1, 1, 8, 300, kQueryKey},
                        {2, 1, 4, 21, kKeyStrided},  {2, 2, 8, 48, kKeyPadded},
                        {3, 1, 8, 300, kKeyPadded}};
  for (const Case& t : cases) {
    const size_t channels = t.heads * t.d, L = t.length;
    // Gaps between rows and batches; nothing after the last row's L positions.
    const size_t cs = L + 3, bs = channels * cs + 1;
    const size_t qkv_size = extent(t.batch, bs, channels, cs, L);
    Buffer q = random_vector(qkv_size, rng), k = random_vector(qkv_size, rng), v = random_vector(qkv_size, rng);
    size_t ms[4] = {L * L, 0, 0, 0};
    if (t.mask == kQueryKey) ms[2] = L, ms[3] = 1;
    if (t.mask == kKey || t.mask == kKeyPadded) ms[3] = 1;
    if (t.mask == kKeyQuery) ms[2] = 1, ms[3] = L;
    if (t.mask == kKeyStrided) ms[3] = 2;
    // Shared by the heads; some keys masked out, and with a query axis,
    // every key of some queries. Tight: the last batch entry ends at its
    // last element the operator reads, where the guard page starts.
    Buffer mask = random_vector(t.mask == kNone ? 0 : (t.batch - 1) * ms[0] + (L - 1) * (ms[2] + ms[3]) + 1, rng);
    for (size_t i = 0; i < mask.size(); i++) {
      if (i % 7 == 3) mask[i] = -std::numeric_limits<float>::infinity();
    }
    if (t.mask == kKeyPadded) {
      for (size_t b = 0; b < t.batch; b++) {
        for (size_t j = b == 1 ? 0 : L - L / (b + 3); j < L; j++) mask[b * ms[0] + j] = std::numeric_limits<float>::lowest();
      }
    }
    if (ms[2] != 0 && L > 2) {
      for (size_t j = 0; j < L; j++) mask[2 * ms[2] + j * ms[3]] = -std::numeric_limits<float>::infinity();
    }
    auto mask_at = [&](size_t b, size_t i, size_t j) {
      return t.mask == kNone ? 0.0f : mask[b * ms[0] + i * ms[2] + j * ms[3]];
    };
    Buffer out(qkv_size, kPoison);
    FusedAttentionArgs args{};
    args.batch = t.batch;
    args.heads = t.heads;
    args.head_dim = t.d;
    args.length = L;
    args.q = q.data(); args.k = k.data(); args.v = v.data(); args.out = out.data();
    args.q_batch_stride = args.k_batch_stride = args.v_batch_stride = args.out_batch_stride = bs;
    args.q_channel_stride = args.k_channel_stride = args.v_channel_stride = args.out_channel_stride = cs;
    if (t.mask != kNone) {
      args.mask = mask.data();
      for (int i = 0; i < 4; i++) args.mask_stride[i] = ms[i];
    }
    args.scale = 1.0f / std::sqrt(float(t.d));
    const size_t tasks = fused_attention_task_count(args, config);
    fused_attention_run(args, config, 0, tasks / 2);
    fused_attention_run(args, config, tasks / 2, tasks);
    bool ok = true;
    for (size_t b = 0; b < t.batch && ok; b++)
      for (size_t h = 0; h < t.heads && ok; h++)
        for (size_t i = 0; i < L && ok; i++) {
          std::vector<double> p(L);
          double mx = -std::numeric_limits<double>::infinity(), sum = 0.0;
          for (size_t j = 0; j < L; j++) {
            double dot = 0.0;
            for (size_t c = 0; c < t.d; c++)
              dot += double(q[b * bs + (h * t.d + c) * cs + i]) * k[b * bs + (h * t.d + c) * cs + j];
            p[j] = dot * args.scale + mask_at(b, i, j);
            mx = std::max(mx, p[j]);
          }
          for (size_t j = 0; j < L; j++) sum += p[j] = std::isinf(mx) ? 0.0 : std::exp(p[j] - mx);
          for (size_t c = 0; c < t.d && ok; c++) {
            double want = 0.0;
            for (size_t j = 0; j < L; j++) want += p[j] * v[b * bs + (h * t.d + c) * cs + j];
            want = sum > 0.0 ? want / sum : 0.0;
            ok = close(out[b * bs + (h * t.d + c) * cs + i], want);
          }
        }
    // Gaps between rows and batches must stay untouched.
    for (size_t i = 0; i < out.size() && ok; i++) {
      const bool gap = i % bs == channels * cs || (i % bs) % cs >= L;
      if (gap) ok = out[i] == kPoison;
    }
    if (!ok) {
      fail(std::string(config.isa) + " attention batch=" + std::to_string(t.batch) +
           " heads=" + std::to_string(t.heads) + " d=" + std::to_string(t.d) +
           " length=" + std::to_string(L) + " mask=" + std::to_string(int(t.mask)));
    }
  }
}

void test_vgelu(const KernelConfig& config, std::mt19937& rng) {
  for (size_t rows = 1; rows <= 3; rows++)
    for (size_t n = 0; n <= 41; n++) {
      const size_t stride = n + 2;  // two poisoned floats between rows, none after the last
      Buffer x = random_vector(extent(1, 0, rows, stride, n), rng);
      for (size_t i = 0; i < x.size(); i++) {
        if (i % stride >= n) x[i] = kPoison;
        else x[i] *= float(i % 7) * 3.0f;  // 0 and |x| up to 18
      }
      if (n > 3) x[3] = -1e4f;
      // torch's gelu: inf at +inf, NaN at -inf.
      if (n > 5) x[4] = std::numeric_limits<float>::infinity(), x[5] = -x[4];
      const Buffer x0 = x;
      config.vgelu(rows, n, x.data(), stride);
      for (size_t i = 0; i < x.size(); i++) {
        const double want = i % stride < n ? 0.5 * x0[i] * (1.0 + std::erf(x0[i] / std::sqrt(2.0))) : kPoison;
        const bool ok = std::isnan(want) ? std::isnan(x[i])
                        : std::isinf(want) ? x[i] == want
                                           : std::fabs(x[i] - want) <= 2e-6 * (1.0 + std::fabs(want));
        if (!ok) {
          fail(std::string(config.isa) + " vgelu rows=" + std::to_string(rows) + " n=" + std::to_string(n) +
               " at " + std::to_string(i));
          return;
        }
      }
    }
}

void test_layernorm(const KernelConfig& config, std::mt19937& rng) {
  // Lengths: one position, vector tails, and three blocks (the last partial).
  for (size_t length : {size_t(1), size_t(7), size_t(45), size_t(300)})
    for (bool with_residual : {true, false})
      for (bool in_place : {false, true}) {
        const size_t batch = 2, channels = 37;
        const size_t xcs = length + 1, xbs = channels * xcs + 2;
        const size_t ycs = in_place ? xcs : length + 3, ybs = in_place ? xbs : channels * ycs;
        // Each operand ends at the last position of its last row.
        const size_t x_size = extent(batch, xbs, channels, xcs, length);
        Buffer x = random_vector(x_size, rng), r = random_vector(x_size, rng);
        for (float& v : x) v = 4.0f + 2.0f * v;  // far from zero mean
        Buffer gamma = random_vector(channels, rng), beta = random_vector(channels, rng);
        Buffer y_out(in_place ? 0 : extent(batch, ybs, channels, ycs, length), kPoison);
        const Buffer x0 = x;
        float* y = in_place ? x.data() : y_out.data();
        const size_t y_size = in_place ? x.size() : y_out.size();
        LayerNormNcwArgs args{batch, channels, length, x.data(), xbs, xcs,
                              with_residual ? r.data() : nullptr, xbs, xcs,
                              gamma.data(), beta.data(), 1e-5f, y, ybs, ycs};
        const size_t tasks = layernorm_ncw_task_count(args);
        layernorm_ncw_run(args, config, 0, 1);
        layernorm_ncw_run(args, config, 1, tasks);
        bool ok = true;
        for (size_t b = 0; b < batch && ok; b++)
          for (size_t l = 0; l < ycs && ok; l++) {
            auto z = [&](size_t c) {
              return x0[b * xbs + c * xcs + l] + (with_residual ? double(r[b * xbs + c * xcs + l]) : 0.0);
            };
            double mean = 0, var = 0;
            for (size_t c = 0; c < channels && l < length; c++) mean += z(c);
            mean /= channels;
            for (size_t c = 0; c < channels && l < length; c++) var += (z(c) - mean) * (z(c) - mean);
            const double rstd = 1.0 / std::sqrt(var / channels + 1e-5);
            for (size_t c = 0; c < channels && ok && b * ybs + c * ycs + l < y_size; c++) {
              const float got = y[b * ybs + c * ycs + l];
              // Past the length: untouched (poison, or x itself in place).
              const float untouched = in_place ? x0[b * xbs + c * xcs + l] : kPoison;
              ok = l < length ? close(got, (z(c) - mean) * rstd * gamma[c] + beta[c]) : got == untouched;
            }
          }
        if (!ok) {
          fail(std::string(config.isa) + " layernorm length=" + std::to_string(length) +
               (with_residual ? " residual" : "") + (in_place ? " in place" : ""));
        }
      }
}

// Positions where every channel of z = x + r is the same value: the exact
// LayerNorm there is beta, bit for bit (the deviation is exactly 0), at any
// eps, whatever the value; a float32 mean that misses it by one rounding
// gives +-gamma instead (d / sqrt(d^2 + eps) = +-1 when d^2 >> eps). Random
// positions in between are held to float64 as in test_layernorm.
void test_layernorm_constant_rows(const KernelConfig& config, std::mt19937& rng) {
  std::uniform_real_distribution<float> unit(-1.0f, 1.0f);
  std::uniform_int_distribution<int> eighths(-64, 64);
  const float values[] = {0.0f, 1.0f, -3.7f, 1e4f, 123.456f};
  for (size_t length : {size_t(1), size_t(7), size_t(45), size_t(300)})
    for (size_t channels : {size_t(768), size_t(37)})
      for (bool with_residual : {true, false})
        for (float eps : {1e-12f, 1e-5f}) {
          const size_t batch = 2;
          const size_t xcs = length + 1, xbs = channels * xcs + 2;
          const size_t ycs = length + 3, ybs = channels * ycs;
          std::vector<float> x(batch * xbs), r(batch * xbs), gamma(channels), beta(channels);
          for (float& v : x) v = 4.0f + 2.0f * unit(rng);  // far from zero mean
          for (float& v : r) v = unit(rng);
          for (float& v : gamma) v = unit(rng);
          for (float& v : beta) v = unit(rng);
          // Every third position is constant (position 0, vector tails and
          // whole steps among them), its kind cycling through the values and
          // a residual that makes x + r constant while x alone is not.
          auto constant = [](size_t l) { return l % 3 == 0; };
          for (size_t b = 0; b < batch; b++)
            for (size_t l = 0; l < length; l++) {
              if (!constant(l)) continue;
              const size_t kind = (l / 3 + b) % 6;
              for (size_t c = 0; c < channels; c++) {
                float& xv = x[b * xbs + c * xcs + l];
                float& rv = r[b * xbs + c * xcs + l];
                if (kind < 5) {
                  xv = values[kind];
                  rv = 0.5f;  // z = fl(v + 0.5), the same at every channel
                } else if (with_residual) {
                  xv = 0.125f * eighths(rng);  // x + r = 2.75 exactly
                  rv = 2.75f - xv;
                } else {
                  xv = 2.75f;
                }
              }
            }
          std::vector<float> y(batch * ybs, kPoison);
          LayerNormNcwArgs args{batch, channels, length, x.data(), xbs, xcs,
                                with_residual ? r.data() : nullptr, xbs, xcs,
                                gamma.data(), beta.data(), eps, y.data(), ybs, ycs};
          layernorm_ncw_run(args, config, 0, layernorm_ncw_task_count(args));
          size_t wrong_constant = 0, wrong_random = 0, first_bad = size_t(-1);
          for (size_t b = 0; b < batch; b++)
            for (size_t l = 0; l < ycs; l++) {
              auto z = [&](size_t c) {
                return x[b * xbs + c * xcs + l] + (with_residual ? double(r[b * xbs + c * xcs + l]) : 0.0);
              };
              double mean = 0, var = 0;
              for (size_t c = 0; c < channels && l < length; c++) mean += z(c);
              mean /= channels;
              for (size_t c = 0; c < channels && l < length; c++) var += (z(c) - mean) * (z(c) - mean);
              const double rstd = 1.0 / std::sqrt(var / channels + double(eps));
              bool ok = true;
              for (size_t c = 0; c < channels; c++) {
                const float got = y[b * ybs + c * ycs + l];
                if (l >= length) {
                  ok = ok && got == kPoison;
                } else if (constant(l)) {
                  // Bit for bit: the same value and sign (beta is never 0 here).
                  ok = ok && got == beta[c] && std::signbit(got) == std::signbit(beta[c]);
                } else {
                  ok = ok && close(got, (z(c) - mean) * rstd * gamma[c] + beta[c]);
                }
              }
              if (!ok) {
                (l < length && constant(l) ? wrong_constant : wrong_random)++;
                if (first_bad == size_t(-1)) first_bad = l;
              }
            }
          if (wrong_constant + wrong_random) {
            fail(std::string(config.isa) + " layernorm constant rows length=" + std::to_string(length) +
                 " channels=" + std::to_string(channels) + (with_residual ? " residual" : "") +
                 (eps < 1e-6f ? " eps=1e-12: " : " eps=1e-5: ") + std::to_string(wrong_constant) +
                 " constant positions not beta, " + std::to_string(wrong_random) +
                 " other positions wrong, first at l=" + std::to_string(first_bad));
          }
        }
}

// Names the test, then runs it: a guard page's segfault ends the process,
// and the output (ctest --output-on-failure) then ends with its name.
template <typename Test>
void run_test(const char* isa, const char* name, Test test) {
  std::printf("[%s] %s %s\n", sqbert_test::guard_mode_name(), isa, name);
  std::fflush(stdout);
  test();
}

#define RUN_TEST(isa, test, ...) run_test(isa, #test, [&] { test(__VA_ARGS__); })

}  // namespace

int main() {
  // Every test twice, on the same data: operands flush against a leading
  // guard page, then against a trailing one.
  for (auto mode : {sqbert_test::GuardMode::kHead, sqbert_test::GuardMode::kTail}) {
    sqbert_test::guard_mode() = mode;
    std::mt19937 rng(42);
    RUN_TEST("-", test_pack_layout, rng);
    for (const KernelConfig& config : kernel_configs()) {
      std::printf("testing %s (%zux%zu)\n", config.isa, config.mr, config.nr);
      RUN_TEST(config.isa, test_ukernel, config, rng);
      RUN_TEST(config.isa, test_operator, config, rng);
      RUN_TEST(config.isa, test_ffn_operator, config, rng);
      RUN_TEST(config.isa, test_online_softmax, config, rng);
      RUN_TEST(config.isa, test_attention, config, rng);
      RUN_TEST(config.isa, test_vgelu, config, rng);
      RUN_TEST(config.isa, test_layernorm, config, rng);
      RUN_TEST(config.isa, test_layernorm_constant_rows, config, rng);
    }
  }
  if (failures) {
    std::fprintf(stderr, "%d failures\n", failures);
    return 1;
  }
  std::printf("all kernel tests passed\n");
  return 0;
}
