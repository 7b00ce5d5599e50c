// The fused attention operator (fused_attention.h) against float64 softmax
// attention, over mask layouts, lengths past one tile and fully masked
// queries; gaps between rows and batches must stay untouched. The varlen
// attention over sequences of every length around the tile, empty ones,
// packed keys and several key blocks, its tasks split by work.
// Cases (tester.h): masks, varlen.
#include <algorithm>
#include <cmath>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "operators/fused_attention.h"
#include "tester.h"

namespace {

using namespace sqbert;
using namespace sqbert_test;

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

void test_varlen(const KernelConfig& config, std::mt19937& rng) {
  const size_t nr = config.nr;
  struct Case { size_t heads, d; std::vector<size_t> lengths; };
  const Case cases[] = {
      {1, 1, {1}},
      {2, 8, {0, 1, nr - 1, 0, 0, nr, nr + 1, 2 * nr + 1, 7, 0}},
      {3, 5, {3 * nr - 1, 1, 2, 3, 4, 5}},
      {1, 16, {300, 0, 17, 257}},  // packed keys, two key blocks
      {2, 64, {33, 128, 9}},
      {1, 4, {0, 0}},  // no positions at all
      {2, 8, {}},
  };
  for (const Case& t : cases) {
    const size_t channels = t.heads * t.d, sequences = t.lengths.size();
    GuardedBuffer<int64_t> offsets(sequences + 1, 0);
    for (size_t s = 0; s < sequences; s++) offsets[s + 1] = offsets[s] + int64_t(t.lengths[s]);
    const size_t T = size_t(offsets[sequences]);
    const size_t cs = T + 3;  // gaps between rows; nothing after the last row's T positions
    const size_t size = extent(1, 0, channels, cs, T);
    Buffer q = random_vector(size, rng), k = random_vector(size, rng), v = random_vector(size, rng);
    Buffer out(size, kPoison);
    FusedAttentionVarlenArgs args{};
    args.sequences = sequences;
    args.heads = t.heads;
    args.head_dim = t.d;
    args.length = T;
    args.seq_offsets = offsets.data();
    args.q = q.data(); args.k = k.data(); args.v = v.data(); args.out = out.data();
    args.q_channel_stride = args.k_channel_stride = args.v_channel_stride = args.out_channel_stride = cs;
    args.scale = 1.0f / std::sqrt(float(t.d));
    // Three ranges of about equal work, consecutive and covering the tasks.
    const size_t tasks = fused_attention_varlen_task_count(args, config);
    size_t want_tasks = 0;
    for (size_t n : t.lengths) want_tasks += t.heads * ((n + nr - 1) / nr);
    size_t bounds[4];
    fused_attention_varlen_split(args, config, 3, bounds);
    bool ok = tasks == want_tasks && bounds[0] == 0 && bounds[3] == tasks;
    for (int i = 0; i < 3; i++) ok = ok && bounds[i] <= bounds[i + 1];
    if (ok) {
      for (int i = 0; i < 3; i++) fused_attention_varlen_run(args, config, bounds[i], bounds[i + 1]);
    }
    for (size_t s = 0; s < sequences && ok; s++) {
      const size_t a = size_t(offsets[s]), n = t.lengths[s];
      for (size_t h = 0; h < t.heads && ok; h++)
        for (size_t i = a; i < a + n && ok; i++) {
          std::vector<double> p(n);
          double mx = -std::numeric_limits<double>::infinity(), sum = 0.0;
          for (size_t j = 0; j < n; j++) {
            double dot = 0.0;
            for (size_t c = 0; c < t.d; c++) dot += double(q[(h * t.d + c) * cs + i]) * k[(h * t.d + c) * cs + a + j];
            p[j] = dot * args.scale;
            mx = std::max(mx, p[j]);
          }
          for (size_t j = 0; j < n; j++) sum += p[j] = std::exp(p[j] - mx);
          for (size_t c = 0; c < t.d && ok; c++) {
            double want = 0.0;
            for (size_t j = 0; j < n; j++) want += p[j] * v[(h * t.d + c) * cs + a + j];
            ok = close(out[(h * t.d + c) * cs + i], want / sum);
          }
        }
    }
    // The gaps between rows must stay untouched.
    for (size_t i = 0; i < out.size() && ok; i++) {
      if (i % cs >= T) ok = out[i] == kPoison;
    }
    if (!ok) {
      std::string lengths;
      for (size_t n : t.lengths) lengths += " " + std::to_string(n);
      fail(std::string(config.isa) + " varlen heads=" + std::to_string(t.heads) + " d=" + std::to_string(t.d) +
           " lengths" + lengths + " tasks=" + std::to_string(tasks) + " bounds " + std::to_string(bounds[0]) + " " +
           std::to_string(bounds[1]) + " " + std::to_string(bounds[2]) + " " + std::to_string(bounds[3]));
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  return run_cases(argc, argv, {{"masks", test_attention}, {"varlen", test_varlen}});
}
