// The low-level pieces that text_io.cpp and compression.cpp share: ByteBuffer (an output byte
// array released as a Buffer without a copy), File (a read-only file read by position, with
// errors worded as Python's OSError) and PyRepr (Python's repr() of a str, for paths in
// messages) with PyQuote, the escaping it shares with compression.cpp's repr() of bytes.
//
// Thread-safety: PyQuote and PyRepr are pure functions. A ByteBuffer is single-threaded. A
// File's const members (ReadAt included: it reads with pread, which keeps no file position) may
// run concurrently.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>
#include <string>
#include <string_view>
#include <utility>

#include "tegu/bag/strings.hpp"
#include "tegu/result.hpp"

namespace tegu::bag::internal {

// `s` between `quote`s, escaped as Python's repr() escapes a str or bytes quoted that way: the
// quote and backslash take a backslash; \n, \r and \t their escapes; other control bytes and
// 0x7f become \xNN, and so do bytes >= 0x80 when `escape_high_bytes` (bytes; a str keeps its
// UTF-8). The one escaping loop behind PyRepr and compression.cpp's repr() of bytes.
std::string PyQuote(std::string_view s, char quote, bool escape_high_bytes);

// Python's repr() of a str, for paths in messages (as Python's OSError prints them).
std::string PyRepr(std::string_view s);

// A growable byte array that, unlike std::string, leaves the bytes it is about to overwrite
// uninitialised (a 128 MiB block would otherwise be zeroed only to be read over) and grows with
// realloc, which can extend a large allocation in place. Released as a Buffer without a copy.
class ByteBuffer {
 public:
  ByteBuffer() = default;
  ByteBuffer(const ByteBuffer&) = delete;
  ByteBuffer& operator=(const ByteBuffer&) = delete;
  ByteBuffer(ByteBuffer&& other) noexcept
      : data_(std::exchange(other.data_, nullptr)),
        size_(std::exchange(other.size_, 0)),
        capacity_(std::exchange(other.capacity_, 0)) {}
  ByteBuffer& operator=(ByteBuffer&& other) noexcept {
    if (this != &other) {
      std::free(data_);
      data_ = std::exchange(other.data_, nullptr);
      size_ = std::exchange(other.size_, 0);
      capacity_ = std::exchange(other.capacity_, 0);
    }
    return *this;
  }
  ~ByteBuffer() { std::free(data_); }

  uint8_t* data() { return data_; }
  size_t size() const { return size_; }
  size_t capacity() const { return capacity_; }
  void Reserve(size_t n) {
    if (n <= capacity_) return;
    void* grown = std::realloc(data_, n);
    if (grown == nullptr) throw std::bad_alloc();
    data_ = static_cast<uint8_t*>(grown);
    capacity_ = n;
  }
  // Makes room for at least `n` more bytes, growing geometrically.
  void ReserveMore(size_t n) {
    if (capacity_ - size_ >= n) return;
    Reserve(std::max(size_ + n, capacity_ * 2));
  }
  // Growth leaves the new bytes uninitialised.
  void Resize(size_t n) {
    Reserve(n);
    size_ = n;
  }
  void Append(const void* bytes, size_t n) {
    ReserveMore(n);
    std::memcpy(data_ + size_, bytes, n);
    size_ += n;
  }
  uint8_t* end() { return data_ + size_; }
  Buffer Release() && {
    // Give back the slack of geometric growth: the Buffer may live long. Shrinking in place
    // (or by remapping, for a large block) copies nothing.
    if (capacity_ - size_ > capacity_ / 8 && size_ > 0) {
      if (void* shrunk = std::realloc(data_, size_)) {
        data_ = static_cast<uint8_t*>(shrunk);
        capacity_ = size_;
      }
    }
    std::shared_ptr<void> owner(data_, std::free);
    const uint8_t* bytes = data_;
    const size_t size = size_;
    data_ = nullptr;
    size_ = capacity_ = 0;
    return Buffer(std::move(owner), bytes, size);
  }

 private:
  uint8_t* data_ = nullptr;
  size_t size_ = 0;
  size_t capacity_ = 0;
};

// A file opened read-only; closed when destroyed.
class File {
 public:
  // Opens `path` as Python's open() would, refusing a directory (IsADirectoryError).
  static Result<File> Open(const std::string& path);
  File(File&& other) noexcept
      : fd_(std::exchange(other.fd_, -1)), path_(std::move(other.path_)), size_(other.size_) {}
  File& operator=(File&&) = delete;
  ~File();

  // Reads up to `n` bytes at `pos`: fewer only at the end of the file.
  Result<size_t> ReadAt(int64_t pos, uint8_t* out, size_t n) const;
  // The file's size when it was opened (0 for what is not a regular file).
  int64_t size() const { return size_; }
  const std::string& path() const { return path_; }

 private:
  File(int fd, std::string path) : fd_(fd), path_(std::move(path)) {}

  int fd_ = -1;
  std::string path_;
  int64_t size_ = 0;
};

}  // namespace tegu::bag::internal
