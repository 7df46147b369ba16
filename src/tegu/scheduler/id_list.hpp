// IdList: a vector of 32-bit ids in 16 bytes that keeps up to two ids inline, for the per-task
// lists of the scheduler (dependencies, dependents, who_has, who_wants). Most tasks have one or
// two of each, so most lists never allocate; std::vector would cost 24 bytes plus a heap block.
//
// Thread-safety: a value type; not synchronized.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <utility>

namespace tegu::scheduler::internal {

class IdList {
 public:
  IdList() noexcept : size_(0), capacity_(kInline), inline_{} {}
  ~IdList() { FreeHeap(); }
  IdList(IdList&& other) noexcept : size_(other.size_), capacity_(other.capacity_) {
    std::memcpy(&inline_, &other.inline_, sizeof(inline_));
    other.size_ = 0;
    other.capacity_ = kInline;
  }
  IdList& operator=(IdList&& other) noexcept {
    if (this != &other) {
      FreeHeap();
      size_ = other.size_;
      capacity_ = other.capacity_;
      std::memcpy(&inline_, &other.inline_, sizeof(inline_));
      other.size_ = 0;
      other.capacity_ = kInline;
    }
    return *this;
  }
  IdList(const IdList&) = delete;
  IdList& operator=(const IdList&) = delete;

  uint32_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  const uint32_t* begin() const { return data(); }
  const uint32_t* end() const { return data() + size_; }
  uint32_t operator[](size_t i) const { return data()[i]; }
  /// Bytes held on the heap (0 while inline).
  size_t heap_bytes() const { return capacity_ > kInline ? capacity_ * sizeof(uint32_t) : 0; }

  void push_back(uint32_t id) {
    if (size_ == capacity_) Grow();
    data()[size_++] = id;
  }
  bool contains(uint32_t id) const {
    for (uint32_t v : *this) {
      if (v == id) return true;
    }
    return false;
  }
  /// Removes the first occurrence of `id`, keeping the order of the rest.
  bool erase(uint32_t id) {
    uint32_t* d = data();
    for (uint32_t i = 0; i < size_; ++i) {
      if (d[i] == id) {
        std::memmove(d + i, d + i + 1, (size_ - i - 1) * sizeof(uint32_t));
        --size_;
        return true;
      }
    }
    return false;
  }
  /// Empties the list and gives back its heap block.
  void clear() {
    FreeHeap();
    size_ = 0;
    capacity_ = kInline;
  }

 private:
  static constexpr uint32_t kInline = 2;

  uint32_t* data() { return capacity_ > kInline ? heap_ : inline_.ids; }
  const uint32_t* data() const { return capacity_ > kInline ? heap_ : inline_.ids; }
  void FreeHeap() {
    if (capacity_ > kInline) delete[] heap_;
  }
  void Grow() {
    uint32_t new_capacity = capacity_ < 4 ? 4 : capacity_ * 2;
    auto* block = new uint32_t[new_capacity];
    std::memcpy(block, data(), size_ * sizeof(uint32_t));
    FreeHeap();
    heap_ = block;
    capacity_ = new_capacity;
  }

  struct Inline {
    uint32_t ids[kInline];
  };
  uint32_t size_;
  uint32_t capacity_;  // kInline while the ids are inline
  union {
    Inline inline_;
    uint32_t* heap_;
  };
};

static_assert(sizeof(IdList) == 16);

}  // namespace tegu::scheduler::internal
