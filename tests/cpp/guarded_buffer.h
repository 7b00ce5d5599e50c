// Test buffers that fault on any access just past either end.
//
// Why: GCC's AddressSanitizer does not instrument the AVX2 kernels'
// _mm256_broadcast_ss and _mm256_maskload_ps reads, nor some NEON lane loads
// (vld1q_lane_f32), so the sanitizer run cannot see a kernel reading past
// an operand. A GuardedBuffer maps its elements between two PROT_NONE
// pages, flush against the leading one (GuardMode::kHead) or the trailing
// one (GuardMode::kTail), so a read or write one element before the start
// or past the end segfaults, with or without a sanitizer. The tests run
// once in each mode; a buffer takes the mode current when it is allocated.
#pragma once

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <type_traits>
#include <utility>
#include <vector>

namespace sqbert_test {

enum class GuardMode { kHead, kTail };

inline GuardMode& guard_mode() {
  static GuardMode mode = GuardMode::kTail;
  return mode;
}

inline const char* guard_mode_name() { return guard_mode() == GuardMode::kHead ? "head" : "tail"; }

// A fixed-size array of n elements between guard pages. n = 0 is fine:
// data() then points at a guard page, and nothing may be read there.
template <typename T>
class GuardedBuffer {
  static_assert(std::is_trivially_copyable<T>::value, "elements are placed by memory mapping");

 public:
  using value_type = T;

  GuardedBuffer() { allocate(0); }
  explicit GuardedBuffer(size_t n, const T& value = T()) {
    allocate(n);
    std::fill(begin(), end(), value);
  }
  GuardedBuffer(const std::vector<T>& v) {  // NOLINT: converts like a vector copy
    allocate(v.size());
    std::copy(v.begin(), v.end(), begin());
  }
  GuardedBuffer(const GuardedBuffer& other) {
    allocate(other.size_);
    std::copy(other.begin(), other.end(), begin());
  }
  GuardedBuffer(GuardedBuffer&& other) noexcept { swap(other); }
  GuardedBuffer& operator=(GuardedBuffer other) noexcept {
    swap(other);
    return *this;
  }
  ~GuardedBuffer() {
    if (map_ == nullptr) return;
    if (free_maps().size() < kMaxFreeMaps) {
      free_maps().push_back({map_, map_bytes_});
    } else {
      munmap(map_, map_bytes_);
    }
  }

  // n copies of value, in the current mode (as vector::assign).
  void assign(size_t n, const T& value) { *this = GuardedBuffer(n, value); }

  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  T* data() { return data_; }
  const T* data() const { return data_; }
  T& operator[](size_t i) { return data_[i]; }
  const T& operator[](size_t i) const { return data_[i]; }
  T* begin() { return data_; }
  T* end() { return data_ + size_; }
  const T* begin() const { return data_; }
  const T* end() const { return data_ + size_; }

 private:
  void swap(GuardedBuffer& other) noexcept {
    std::swap(map_, other.map_);
    std::swap(map_bytes_, other.map_bytes_);
    std::swap(data_, other.data_);
    std::swap(size_, other.size_);
  }

  // Freed mappings (guards intact), reused by size: the tests allocate
  // and free some 10^5 small buffers, and an mmap, mprotect and munmap for
  // each took ten times as long as the tests themselves.
  struct Map {
    char* map;
    size_t bytes;
  };
  static constexpr size_t kMaxFreeMaps = 64;
  static std::vector<Map>& free_maps() {
    static std::vector<Map> maps;
    return maps;
  }

  void allocate(size_t n) {
    const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
    const size_t bytes = n * sizeof(T), data_bytes = (bytes + page - 1) / page * page;
    map_bytes_ = data_bytes + 2 * page;
    std::vector<Map>& maps = free_maps();
    for (size_t i = 0; i < maps.size() && map_ == nullptr; i++) {
      if (maps[i].bytes == map_bytes_) {
        map_ = maps[i].map;
        maps[i] = maps.back();
        maps.pop_back();
      }
    }
    if (map_ == nullptr) {
      void* map = mmap(nullptr, map_bytes_, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
      if (map == MAP_FAILED) {
        std::perror("GuardedBuffer: mmap");
        std::abort();
      }
      map_ = static_cast<char*>(map);
      if (data_bytes != 0 && mprotect(map_ + page, data_bytes, PROT_READ | PROT_WRITE) != 0) {
        std::perror("GuardedBuffer: mprotect");
        std::abort();
      }
    }
    char* first = map_ + page;
    data_ = reinterpret_cast<T*>(guard_mode() == GuardMode::kHead ? first : first + data_bytes - bytes);
    size_ = n;
  }

  char* map_ = nullptr;
  size_t map_bytes_ = 0;
  T* data_ = nullptr;
  size_t size_ = 0;
};

}  // namespace sqbert_test
