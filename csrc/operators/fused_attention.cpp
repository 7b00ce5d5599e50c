#include "fused_attention.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <vector>

namespace sqbert {
namespace {

size_t query_tiles(const FusedAttentionArgs& args, const KernelConfig& config) {
  return (args.length + config.nr - 1) / config.nr;
}

// Keys per block for n keys: a whole number of GEMM tiles, at most
// max_block so the score block (16 KiB on AVX2) stays in L1 beside the
// query tile and the context, and the blocks of one length equal (512 =
// 174 + 174 + 164, not 252 + 252 + 8). Up to 252 keys, one block: no
// rescaling of the context.
size_t key_block_size(size_t n, size_t mr, size_t max_block) {
  const size_t blocks = (n + max_block - 1) / max_block;
  return ((n + blocks - 1) / blocks + mr - 1) / mr * mr;
}

// A key whose additive mask is at most this is padding: its weight
// exp(mask + score - max) is exactly 0 in float32 (transformers' masks use
// the dtype's minimum, -3.4e38) unless scores differ by 1e30 or more.
constexpr float kPaddingMask = -1e30f;

// The keys a key mask leaves: all up to the last one above kPaddingMask.
// Trailing padding is skipped (the sums it would add are zeros); a row of
// padding only keeps every key, so the softmax treats it as Hugging Face's
// does (uniform weights, not 0 / 0).
size_t unpadded_keys(const float* key_mask, size_t stride, size_t length) {
  for (size_t n = length; n > 0; n--) {
    if (!(key_mask[(n - 1) * stride] <= kPaddingMask)) return n;
  }
  return length;
}

// The softmax sums l into the factors 1 / l that finish the context. A
// query whose keys were all -inf (l = 0) attends to nothing: 0, not NaN.
void invert_sums(float* l, size_t n) {
  for (size_t i = 0; i < n; i++) l[i] = l[i] > 0.0f ? 1.0f / l[i] : 0.0f;
}

}  // namespace

size_t fused_attention_task_count(const FusedAttentionArgs& args,
                                  const KernelConfig& config) {
  return args.batch * args.heads * query_tiles(args, config);
}

size_t fused_attention_task_flops(const FusedAttentionArgs& args,
                                  const KernelConfig& config) {
  return 4 * args.head_dim * args.length * config.nr;
}

namespace {

// From this many keys on, a thread packs each head's keys once, as GEMM
// weight panels (mr keys by d channels), instead of reading them transposed
// in place, where a key tile's d rows lie length * 4 bytes apart and share
// a few L1 sets (at length 512, 2 of 64). The copy is O(length d) against
// the GEMMs' O(length^2 d): it pays from 256 keys on, not at 128
// (benchmarks/RESULTS.md).
constexpr size_t kPackKeysFrom = 256;

// Fewer keys whose rows lie as far apart or more (the varlen attention's
// sequences lie in rows of the whole batch's length, 4 KiB apart for 1024
// positions, all d rows then in one L1 set and each on its own page) are
// copied row by row (memcpy) into rows kCopiedRowPad floats longer than
// the keys: rows that far apart share few L1 sets and few pages, and the
// copy costs a fraction of the panels' transposing one.
constexpr size_t kCopiedRowPad = 16;

// How a task reads its head's keys: in place, or from a thread's copy
// (panels, or rows).
enum class KeyLayout { kInPlace, kPanels, kRows };

KeyLayout key_layout(size_t keys, size_t key_channel_stride) {
  if (keys >= kPackKeysFrom) return KeyLayout::kPanels;
  return key_channel_stride >= kPackKeysFrom ? KeyLayout::kRows : KeyLayout::kInPlace;
}

// The stride of copied key rows for n keys: whole lines, and one more.
size_t copied_row_stride(size_t n) { return (n + 15) / 16 * 16 + kCopiedRowPad; }

void copy_key_rows(const float* k, size_t stride, size_t d, size_t n, float* rows) {
  const size_t rs = copied_row_stride(n);
  for (size_t c = 0; c < d; c++) std::memcpy(rows + c * rs, k + c * stride, n * sizeof(float));
}

// Keys [0, n) of a head (d rows, `stride` floats apart) as panels: panel t
// holds keys t*mr .. t*mr+mr-1 as [d][mr] (stride_m 1, stride_k mr).
// One channel row at a time: each row is read once, in order (panel by
// panel, the d rows would be walked n / mr times, their lines evicted in
// between when the rows share L1 sets).
void pack_keys(const float* k, size_t stride, size_t d, size_t n, size_t mr, float* packed) {
  for (size_t c = 0; c < d; c++) {
    const float* src = k + c * stride;
    for (size_t t = 0; t * mr < n; t++) {
      const size_t rows = std::min(mr, n - t * mr);
      float* dst = packed + t * d * mr + c * mr;
      for (size_t i = 0; i < rows; i++) dst[i] = src[t * mr + i];
    }
  }
}

// What a thread's next tasks read is fetched into L2 while this task
// computes: the next task's query rows, and a slice of the next head's keys
// and values per query tile of this head (all of them by its last tile),
// a few lines after each GEMM call. It pays when q, k and v come from L3 or
// DRAM, and costs while they stay in cache, where the prefetches compete
// with the GEMMs' own loads. Hence the threshold (benchmarks/RESULTS.md).
constexpr size_t kPrefetchFromBytes = size_t{6} << 20;

// The lines of up to three ranges of rows, fetched a few at a time.
class LinePrefetcher {
 public:
  void add(const float* base, size_t stride, size_t rows, size_t row_floats) {
    if (rows == 0 || row_floats == 0) return;
    ranges_[count_++] = Range{base, stride, rows, row_floats};
    lines_ += rows * ((row_floats + 15) / 16);
  }
  size_t lines() const { return lines_; }
  void issue(size_t n) {
    while (n > 0 && current_ < count_) {
      const Range& r = ranges_[current_];
      const float* row = r.base + row_ * r.stride;
      for (; offset_ < r.row_floats && n > 0; offset_ += 16, n--) {  // 64-byte lines
        __builtin_prefetch(row + offset_, 0, 2);
      }
      if (offset_ >= r.row_floats) {
        offset_ = 0;
        if (++row_ == r.rows) row_ = 0, current_++;
      }
    }
  }

 private:
  struct Range {
    const float* base;
    size_t stride, rows, row_floats;
  };
  Range ranges_[3];
  size_t count_ = 0, lines_ = 0, current_ = 0, row_ = 0, offset_ = 0;
};

// Where a task is: query tile `tile` of the `tiles` of head h of a sequence
// of `length` positions from position `start` of batch entry `batch`.
// head_id names the (sequence, head), whose keys a thread packs once for
// all its tiles. The fused attention's sequences are its batch entries, all
// from position 0; the varlen attention's lie one after another in one.
struct TaskPlace {
  size_t batch, start, length, h, tile, tiles, head_id;
};

// The fused attention's tasks: (batch, head, query tile), all of one length.
struct PaddedSchedule {
  size_t heads, length, tiles;

  TaskPlace place(size_t task) const {
    const size_t h = (task / tiles) % heads, b = task / (tiles * heads);
    return TaskPlace{b, 0, length, h, task % tiles, tiles, b * heads + h};
  }
};

// The varlen attention's tasks: (sequence, head, query tile), the tiles of
// each sequence's length; an empty sequence has none.
class VarlenSchedule {
 public:
  VarlenSchedule(const FusedAttentionVarlenArgs& args, size_t nr)
      : offsets_(args.seq_offsets), heads_(args.heads), nr_(nr), first_task_(args.sequences + 1, 0) {
    for (size_t s = 0; s < args.sequences; s++) {
      first_task_[s + 1] = first_task_[s] + heads_ * tiles(s);
      max_length_ = std::max(max_length_, length(s));
    }
  }

  size_t sequences() const { return first_task_.size() - 1; }
  size_t tasks() const { return first_task_.back(); }
  size_t first_task(size_t s) const { return first_task_[s]; }
  size_t length(size_t s) const { return static_cast<size_t>(offsets_[s + 1] - offsets_[s]); }
  size_t tiles(size_t s) const { return (length(s) + nr_ - 1) / nr_; }
  size_t max_length() const { return max_length_; }

  TaskPlace place(size_t task) const {
    // The last sequence whose first task is at most `task`: never an empty
    // one, whose first task is the next sequence's.
    const size_t s = std::upper_bound(first_task_.begin(), first_task_.end(), task) - first_task_.begin() - 1;
    const size_t tiles_s = tiles(s), within = task - first_task_[s], h = within / tiles_s;
    return TaskPlace{0, static_cast<size_t>(offsets_[s]), length(s), h, within % tiles_s, tiles_s, s * heads_ + h};
  }

 private:
  const int64_t* offsets_;
  size_t heads_, nr_, max_length_ = 0;
  std::vector<size_t> first_task_;  // [sequences + 1]: the first task of each sequence, then the count
};

// Head h of batch entry `batch` of an operand, at the sequence's start.
const float* head_start(const float* base, size_t batch_stride, size_t channel_stride, size_t d,
                        const TaskPlace& at) {
  return base + at.batch * batch_stride + at.h * d * channel_stride + at.start;
}

template <typename Schedule>
LinePrefetcher next_tasks_lines(const FusedAttentionArgs& args, size_t nr, const Schedule& schedule,
                                const TaskPlace& here, size_t task, size_t task_end) {
  LinePrefetcher lines;
  const size_t d = args.head_dim;
  if (task + 1 < task_end) {
    const TaskPlace next = schedule.place(task + 1);
    lines.add(head_start(args.q, args.q_batch_stride, args.q_channel_stride, d, next) + next.tile * nr,
              args.q_channel_stride, d, nr);
  }
  const size_t next_head = task - here.tile + here.tiles;
  if (next_head < task_end) {
    const TaskPlace at = schedule.place(next_head);
    const size_t c0 = here.tile * d / here.tiles, c1 = (here.tile + 1) * d / here.tiles;
    lines.add(head_start(args.k, args.k_batch_stride, args.k_channel_stride, d, at) + c0 * args.k_channel_stride,
              args.k_channel_stride, c1 - c0, at.length);
    lines.add(head_start(args.v, args.v_batch_stride, args.v_channel_stride, d, at) + c0 * args.v_channel_stride,
              args.v_channel_stride, c1 - c0, at.length);
  }
  return lines;
}

// What every task of one call shares: sizes, and the choices made once.
struct AttentionPlan {
  size_t nr, mr, d;
  size_t length;          // the longest sequence's
  size_t max_block;       // keys per block at most: a whole number of GEMM tiles
  size_t block_capacity;  // the score buffer's keys, for any count up to length
  // A mask that is the same for every query ([B, 1, 1, L] padding masks) is
  // the bias of the key rows of the score GEMM; any other mask is added by
  // the softmax kernel, read in place when its keys are contiguous.
  bool key_mask, query_mask;
  bool gather_key_bias;  // a key mask whose keys are strided: copied per block
  bool pack;      // some task's keys copied (key_layout)
  bool prefetch;  // the next tasks' operands fetched ahead (kPrefetchFromBytes)
};

// max_length: the longest sequence's (the fused attention's length).
AttentionPlan make_plan(const FusedAttentionArgs& args, const KernelConfig& config, size_t max_length) {
  AttentionPlan p;
  p.nr = config.nr, p.mr = config.mr, p.d = args.head_dim, p.length = max_length;
  p.max_block = (256 / p.mr) * p.mr;
  p.block_capacity = std::min(p.max_block, (p.length + p.mr - 1) / p.mr * p.mr);
  p.key_mask = args.mask != nullptr && args.mask_stride[2] == 0;
  p.query_mask = args.mask != nullptr && args.mask_stride[2] != 0;
  p.gather_key_bias = p.key_mask && args.mask_stride[3] != 1;
  p.pack = key_layout(p.length, args.k_channel_stride) != KeyLayout::kInPlace;
  p.prefetch = 3 * args.batch * args.heads * p.d * args.length * sizeof(float) >= kPrefetchFromBytes;
  return p;
}

// A thread's buffers, kept from call to call (scratch.h says why): resized
// to each call's plan, which zero-fills only what grows.
struct AttentionBuffers {
  std::vector<float> q_tile, scores, context, running_max, running_sum, key_bias, mask_tile, packed_keys;
  size_t packed_head = SIZE_MAX;  // TaskPlace::head_id of packed_keys, in this call

  static AttentionBuffers& of_this_thread(const AttentionPlan& p) {
    thread_local AttentionBuffers buf;
    buf.q_tile.resize(p.d * p.nr);
    buf.scores.resize(p.block_capacity * p.nr);
    buf.context.resize(p.d * p.nr);
    buf.running_max.resize(p.nr);
    buf.running_sum.resize(p.nr);
    buf.key_bias.resize(p.gather_key_bias ? p.block_capacity : 0);
    buf.mask_tile.resize(p.query_mask ? p.nr * p.block_capacity : 0);
    buf.packed_keys.resize(
        p.pack ? std::max((p.length + p.mr - 1) / p.mr * p.mr, copied_row_stride(p.length)) * p.d : 0);
    buf.packed_head = SIZE_MAX;
    return buf;
  }
};

// One task: a tile of nc queries from i0 of one head of one sequence, its
// operands (q, k, v and out at the head's channel 0 and the sequence's
// first position) and its mask rows, and the keys it attends to in blocks
// of key_block, in place or from a copy (key_layout).
struct AttentionTask {
  size_t i0, nc;
  const float *q, *k, *v, *mask;
  float* out;
  size_t keys, key_block;
  KeyLayout key_layout;
  size_t head_id;
};

AttentionTask make_task(const FusedAttentionArgs& args, const AttentionPlan& p, const TaskPlace& at) {
  const size_t* ms = args.mask_stride;
  AttentionTask t;
  t.i0 = at.tile * p.nr;
  t.nc = std::min(p.nr, at.length - t.i0);
  t.q = head_start(args.q, args.q_batch_stride, args.q_channel_stride, p.d, at);
  t.k = head_start(args.k, args.k_batch_stride, args.k_channel_stride, p.d, at);
  t.v = head_start(args.v, args.v_batch_stride, args.v_channel_stride, p.d, at);
  t.out = args.out + at.batch * args.out_batch_stride + at.h * p.d * args.out_channel_stride + at.start;
  // Masks come with the fused attention only, whose sequences start at 0.
  t.mask = args.mask == nullptr ? nullptr : args.mask + at.batch * ms[0] + at.h * ms[1] + t.i0 * ms[2];
  t.keys = p.key_mask ? unpadded_keys(t.mask, ms[3], at.length) : at.length;
  t.key_block = key_block_size(t.keys, p.mr, p.max_block);
  t.key_layout = key_layout(at.length, args.k_channel_stride);
  t.head_id = at.head_id;
  return t;
}

// Packs the task's head's keys unless the buffer holds them already: a
// thread's tasks are consecutive, so a head's query tiles share its pack.
void pack_head_keys(const FusedAttentionArgs& args, const AttentionPlan& p, const AttentionTask& t,
                    AttentionBuffers& buf) {
  if (t.key_layout == KeyLayout::kInPlace || buf.packed_head == t.head_id) return;
  if (t.key_layout == KeyLayout::kPanels) {
    pack_keys(t.k, args.k_channel_stride, p.d, t.keys, p.mr, buf.packed_keys.data());
  } else {
    copy_key_rows(t.k, args.k_channel_stride, p.d, t.keys, buf.packed_keys.data());
  }
  buf.packed_head = t.head_id;
}

// The tile's queries, pre-scaled, and the softmax state reset. Lanes past nc
// are never read: the kernels compute them from whatever the buffers hold
// and the caller drops them.
void start_tile(const FusedAttentionArgs& args, const AttentionPlan& p, const AttentionTask& t,
                AttentionBuffers& buf) {
  for (size_t c = 0; c < p.d; c++) {
    for (size_t n = 0; n < t.nc; n++) {
      buf.q_tile[c * p.nr + n] = t.q[c * args.q_channel_stride + t.i0 + n] * args.scale;
    }
  }
  std::fill(buf.running_max.begin(), buf.running_max.end(), -std::numeric_limits<float>::infinity());
  std::fill(buf.running_sum.begin(), buf.running_sum.end(), 0.0f);
}

// The key mask of keys j0 .. j0 + bk as the score GEMM's bias (contiguous,
// gathered when its keys are strided), or null without a key mask.
const float* block_key_bias(const FusedAttentionArgs& args, const AttentionPlan& p, const AttentionTask& t,
                            size_t j0, size_t bk, AttentionBuffers& buf) {
  if (!p.key_mask) return nullptr;
  const size_t s3 = args.mask_stride[3];
  const float* bias = t.mask + j0 * s3;
  if (s3 == 1) return bias;
  for (size_t j = 0; j < bk; j++) buf.key_bias[j] = bias[j * s3];
  return buf.key_bias.data();
}

// scores[j][n] = k[:, j0 + j] . q_tile[:, n] (+ bias[j]): keys read from
// their panels or copied rows, or transposed in place.
void score_block(const FusedAttentionArgs& args, const KernelConfig& config, const AttentionPlan& p,
                 const AttentionTask& t, size_t j0, size_t bk, const float* bias, AttentionBuffers& buf,
                 LinePrefetcher& ahead, size_t per_call) {
  const size_t mr = p.mr, nr = p.nr, d = p.d;
  for (size_t j = 0; j < bk; j += mr) {
    const float* b_j = bias ? bias + j : nullptr;
    const float* copy = buf.packed_keys.data();
    const F32GemmWeights key_rows =
        t.key_layout == KeyLayout::kPanels ? F32GemmWeights{copy + (j0 + j) * d, 1, mr, b_j}
        : t.key_layout == KeyLayout::kRows ? F32GemmWeights{copy + j0 + j, 1, copied_row_stride(t.keys), b_j}
                                           : F32GemmWeights{t.k + j0 + j, 1, args.k_channel_stride, b_j};
    config.gemm(std::min(mr, bk - j), t.nc, d, key_rows, buf.q_tile.data(), nr, buf.scores.data() + j * nr, nr,
                F32GemmEpilogue{});
    ahead.issue(per_call);
  }
}

// A per-query mask's rows for keys j0 .. j0 + bk as the softmax kernel reads
// them (nr rows of contiguous keys, `stride` apart): in place when they are,
// else gathered, the rows past the last query padded with zeros. Null
// without a per-query mask.
const float* block_query_mask(const FusedAttentionArgs& args, const AttentionPlan& p, const AttentionTask& t,
                              size_t j0, size_t bk, AttentionBuffers& buf, size_t& stride) {
  stride = 0;
  if (!p.query_mask) return nullptr;
  const size_t* ms = args.mask_stride;
  const float* block_mask = t.mask + j0 * ms[3];
  stride = ms[2];
  if (ms[3] == 1 && t.nc == p.nr) return block_mask;
  std::fill(buf.mask_tile.begin(), buf.mask_tile.end(), 0.0f);
  for (size_t n = 0; n < t.nc; n++) {
    for (size_t j = 0; j < bk; j++) buf.mask_tile[n * t.key_block + j] = block_mask[n * ms[2] + j * ms[3]];
  }
  stride = t.key_block;
  return buf.mask_tile.data();
}

// context[c][n] (+)= sum_j v[c, j0 + j] * p[j][n]: values read in place;
// the first block starts the context, and col_scale (or null) divides it
// by the softmax sums as it is stored.
void context_block(const FusedAttentionArgs& args, const KernelConfig& config, const AttentionPlan& p,
                   const AttentionTask& t, size_t j0, size_t bk, bool first, float* ctx, size_t ctx_stride,
                   const float* col_scale, AttentionBuffers& buf, LinePrefetcher& ahead, size_t per_call) {
  const size_t mr = p.mr, d = p.d;
  for (size_t c = 0; c < d; c += mr) {
    const F32GemmWeights values{t.v + c * args.v_channel_stride + j0, args.v_channel_stride, 1, nullptr};
    config.gemm(std::min(mr, d - c), t.nc, bk, values, buf.scores.data(), p.nr, ctx + c * ctx_stride, ctx_stride,
                F32GemmEpilogue{/*accumulate=*/!first, col_scale});
    ahead.issue(per_call);
  }
}

// Several key blocks: the context accumulated in buf.context, divided by
// the softmax sums as it is copied out.
void finish_context(const AttentionPlan& p, const AttentionTask& t, float* out, size_t os, AttentionBuffers& buf) {
  invert_sums(buf.running_sum.data(), p.nr);
  for (size_t c = 0; c < p.d; c++) {
    for (size_t n = 0; n < t.nc; n++) out[c * os + n] = buf.context[c * p.nr + n] * buf.running_sum[n];
  }
}

// Tasks [task_begin, task_end) of a schedule, on one thread.
template <typename Schedule>
void run_schedule(const FusedAttentionArgs& args, const KernelConfig& config, const AttentionPlan& p,
                  const Schedule& schedule, size_t task_begin, size_t task_end) {
  if (task_begin >= task_end) return;
  AttentionBuffers& buf = AttentionBuffers::of_this_thread(p);
  for (size_t task = task_begin; task < task_end; task++) {
    const TaskPlace at = schedule.place(task);
    const AttentionTask t = make_task(args, p, at);
    pack_head_keys(args, p, t, buf);

    LinePrefetcher ahead =
        p.prefetch ? next_tasks_lines(args, p.nr, schedule, at, task, task_end) : LinePrefetcher{};
    const size_t calls = (t.keys + p.mr - 1) / p.mr + (p.d + p.mr - 1) / p.mr;  // GEMM calls of one key block
    const size_t per_call = (ahead.lines() + calls - 1) / std::max<size_t>(1, calls);

    start_tile(args, p, t, buf);

    // With one key block, the context GEMM writes the output rows itself,
    // divided by the softmax sums as it stores them: their first writes, to
    // lines not yet in cache, then overlap the GEMM's FMAs, and no pass over
    // the output remains. Several blocks accumulate in `context`, rescaled by
    // the softmax kernel, and are divided as they are copied out (scaling the
    // last block in the GEMM measured slower there).
    float* out = t.out + t.i0;
    const size_t os = args.out_channel_stride;
    const bool one_block = t.key_block >= t.keys;
    float* const ctx = one_block ? out : buf.context.data();
    const size_t ctx_stride = one_block ? os : p.nr;
    for (size_t j0 = 0; j0 < t.keys; j0 += t.key_block) {
      const size_t bk = std::min(t.key_block, t.keys - j0);
      score_block(args, config, p, t, j0, bk, block_key_bias(args, p, t, j0, bk, buf), buf, ahead, per_call);
      size_t mask_stride;
      const float* mask = block_query_mask(args, p, t, j0, bk, buf, mask_stride);
      // The first block starts the context, so it has nothing to rescale.
      const bool first = j0 == 0;
      config.online_softmax(bk, first ? 0 : p.d, buf.scores.data(), mask, mask_stride, buf.running_max.data(),
                            buf.running_sum.data(), buf.context.data());
      if (one_block) invert_sums(buf.running_sum.data(), p.nr);
      context_block(args, config, p, t, j0, bk, first, ctx, ctx_stride, one_block ? buf.running_sum.data() : nullptr,
                    buf, ahead, per_call);
    }

    ahead.issue(ahead.lines());
    if (!one_block) finish_context(p, t, out, os, buf);
  }
}

// A task's work for the split, in keys: its GEMMs' and softmax's, and
// about 16 keys' worth of fixed cost (the query tile, the softmax state,
// the output's division).
constexpr size_t kTaskOverheadKeys = 16;

}  // namespace

void fused_attention_run(const FusedAttentionArgs& args,
                         const KernelConfig& config, size_t task_begin,
                         size_t task_end) {
  const PaddedSchedule schedule{args.heads, args.length, query_tiles(args, config)};
  run_schedule(args, config, make_plan(args, config, args.length), schedule, task_begin, task_end);
}

size_t fused_attention_varlen_task_count(const FusedAttentionVarlenArgs& args,
                                         const KernelConfig& config) {
  return VarlenSchedule(args, config.nr).tasks();
}

size_t fused_attention_varlen_flops(const FusedAttentionVarlenArgs& args,
                                    const KernelConfig& config) {
  const VarlenSchedule schedule(args, config.nr);
  size_t flops = 0;
  for (size_t s = 0; s < schedule.sequences(); s++) {
    flops += args.heads * schedule.tiles(s) * 4 * args.head_dim * config.nr * schedule.length(s);
  }
  return flops;
}

void fused_attention_varlen_split(const FusedAttentionVarlenArgs& args,
                                  const KernelConfig& config, size_t parts,
                                  size_t* bounds) {
  const VarlenSchedule schedule(args, config.nr);
  double total = 0;
  for (size_t s = 0; s < schedule.sequences(); s++) {
    total += double(args.heads * schedule.tiles(s)) * double(schedule.length(s) + kTaskOverheadKeys);
  }
  // Boundary i is the task where the work done reaches i / parts of the
  // total: within a sequence every task costs the same.
  bounds[0] = 0;
  size_t i = 1;
  double done = 0;
  for (size_t s = 0; s < schedule.sequences() && i < parts; s++) {
    const size_t n = args.heads * schedule.tiles(s);
    const double w = double(schedule.length(s) + kTaskOverheadKeys);
    for (; i < parts && total * i / parts <= done + n * w; i++) {
      const double tasks = std::max(0.0, std::round((total * i / parts - done) / w));
      bounds[i] = schedule.first_task(s) + std::min(n, static_cast<size_t>(tasks));
    }
    done += n * w;
  }
  for (; i <= parts; i++) bounds[i] = schedule.tasks();
}

void fused_attention_varlen_run(const FusedAttentionVarlenArgs& args,
                                const KernelConfig& config, size_t task_begin,
                                size_t task_end) {
  if (task_begin >= task_end) return;
  const VarlenSchedule schedule(args, config.nr);
  // The sequences as batch entry 0 of the fused attention's operands, from
  // their own start positions, with no mask.
  FusedAttentionArgs base{};
  base.batch = 1;
  base.heads = args.heads;
  base.head_dim = args.head_dim;
  base.length = args.length;
  base.q = args.q, base.q_channel_stride = args.q_channel_stride;
  base.k = args.k, base.k_channel_stride = args.k_channel_stride;
  base.v = args.v, base.v_channel_stride = args.v_channel_stride;
  base.scale = args.scale;
  base.out = args.out, base.out_channel_stride = args.out_channel_stride;
  run_schedule(base, config, make_plan(base, config, schedule.max_length()), schedule, task_begin, task_end);
}

}  // namespace sqbert
