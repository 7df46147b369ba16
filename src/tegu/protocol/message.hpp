// Message: the unit of Tegu's wire protocol — a msgpack-encoded header (the operation and its
// small fields) plus zero or more raw frames (large buffers: array chunks, pickle-5 out-of-band
// buffers), which travel beside the header and are never copied into it. See docs/protocol.md.
//
// Thread-safety: a Message is a value; Buffers share immutable memory and may be passed between
// threads.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace tegu::protocol {

/// An immutable byte range kept alive by `owner` (a vector, a Python buffer, an mmap...).
class Buffer {
 public:
  Buffer() = default;
  Buffer(std::shared_ptr<const void> owner, const uint8_t* data, size_t size)
      : owner_(std::move(owner)), data_(data), size_(size) {}
  /// A buffer owning a copy of `bytes`.
  static Buffer Copy(std::string_view bytes);
  /// A buffer owning `bytes` (moved, not copied).
  static Buffer Own(std::vector<uint8_t> bytes);

  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  std::string_view view() const { return {reinterpret_cast<const char*>(data_), size_}; }

 private:
  std::shared_ptr<const void> owner_;
  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
};

struct Message {
  std::string header;          ///< msgpack bytes: a map with at least "op"
  std::vector<Buffer> frames;  ///< raw payload frames, in order
};

}  // namespace tegu::protocol
