// Per-thread scratch buffers that outlive a call. On the thread pool an
// operator's range function runs one task at a time (thread_pool.h), so
// buffers allocated per call were allocated, and zero-filled, per task:
// about 4% of a 768->768 convolution's task and 7% of the attention's at
// B1 L128 (benchmarks/RESULTS.md). A buffer grows to the largest size a
// thread has asked of it and is never zeroed again: its contents are
// whatever the thread's last call left.
#pragma once

#include <cstddef>
#include <vector>

namespace sqbert {

// The scratch buffers, one per use that can be live at once on a thread.
enum class Scratch { kXPanel, kHidden, kQuantized, kScales, kZeroPoints };

// At least n elements of the calling thread's buffer `slot`.
template <Scratch slot, typename T>
T* thread_scratch(size_t n) {
  thread_local std::vector<T> buffer;
  if (buffer.size() < n) buffer.resize(n);
  return buffer.data();
}

}  // namespace sqbert
