// The body of every stream message between scheduler, workers and clients: a batch of
// operations. A Message's header is the msgpack map {"op": "batch", "ops": [op, op, ...]}, each
// op an array [name, field, field, ...] with positional fields, and the message's frames are
// the ops' payload frames in order (each op says how many it takes). Batching is what coalesces
// the many small messages a busy scheduler sends one peer into one header and one write; see
// docs/protocol.md for the ops and their fields.
//
// OpWriter builds a batch; BatchReader/FieldReader read an untrusted one. Reading is
// sequential with a sticky error (as LevelDB's decoders): a missing or mistyped field makes
// every later read return a default and status() names the op and the field; nothing throws.
//
// Thread-safety: values owned by one thread at a time.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "tegu/key.hpp"
#include "tegu/protocol/message.hpp"
#include "tegu/result.hpp"

namespace tegu::distributed {

class OpWriter {
 public:
  OpWriter();
  ~OpWriter();
  OpWriter(OpWriter&&) noexcept;
  OpWriter& operator=(OpWriter&&) noexcept;

  /// Starts an op with `field_count` fields after its name; then write exactly that many.
  OpWriter& Op(std::string_view name, uint32_t field_count);
  OpWriter& Int(int64_t value);
  OpWriter& UInt(uint64_t value);
  OpWriter& Double(double value);
  OpWriter& Bool(bool value);
  OpWriter& Nil();
  OpWriter& Str(std::string_view value);
  OpWriter& Bin(std::string_view value);
  /// A string key as a msgpack str, a tuple key as an array of str/int.
  OpWriter& WriteKey(const Key& key);
  OpWriter& Keys(const std::vector<Key>& keys);
  OpWriter& Strs(const std::vector<std::string>& values);
  /// Starts a nested array of `size` elements (written next).
  OpWriter& Array(uint32_t size);
  /// Appends raw, already msgpack-encoded bytes as the next element.
  OpWriter& Raw(std::string_view msgpack_bytes);
  /// Appends a payload frame to the message.
  OpWriter& Frame(protocol::Buffer frame);

  size_t op_count() const;
  size_t frame_count() const;
  /// Approximate bytes written so far (header and frames), to bound a batch.
  size_t byte_size() const;
  bool empty() const { return op_count() == 0; }
  /// The batch as one Message; the writer is empty afterwards.
  protocol::Message Finish();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

class BatchReader;

/// Reads the elements of one op (after its name) or of a nested array, in order.
class FieldReader {
 public:
  int64_t Int();
  uint64_t UInt();
  double Double();
  bool Bool();
  /// A str or bin field.
  std::string Str();
  Key ReadKey();
  std::vector<Key> Keys();
  std::vector<std::string> Strs();
  /// Whether the next field is nil (it is consumed if so).
  bool NextIsNil();
  /// Enters the next field, an array.
  FieldReader Array();
  /// The next `count` frames of the message, in order.
  std::vector<protocol::Buffer> Frames(uint64_t count);
  /// Elements left to read.
  size_t remaining() const { return size_ - index_; }
  size_t size() const { return size_; }
  /// The first error of the whole batch, or OK.
  const Status& status() const;
  bool ok() const { return status().ok(); }
  /// Records an error found by the caller (a value out of range...).
  void Fail(const std::string& what);

 private:
  friend class BatchReader;
  FieldReader(BatchReader* batch, const void* array, std::string context);
  const void* Next(const char* expected);

  BatchReader* batch_ = nullptr;
  const void* array_ = nullptr;  // msgpack::object of type ARRAY
  size_t size_ = 0;
  size_t index_ = 0;
  std::string context_;  // "op compute-task" / "op compute-task field 3"
};

class BatchReader {
 public:
  /// Parses a message's header; fails with Invalid when it is not a batch.
  static Result<std::unique_ptr<BatchReader>> Parse(protocol::Message message);
  ~BatchReader();

  size_t op_count() const;
  /// The name of op `i` and a reader over its fields.
  std::string_view OpName(size_t i) const;
  FieldReader Fields(size_t i);
  const Status& status() const { return error_; }
  /// Frames not consumed by any op (a malformed batch).
  size_t frames_left() const { return frames_.size() - next_frame_; }

 private:
  friend class FieldReader;
  BatchReader() = default;
  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::vector<protocol::Buffer> frames_;
  size_t next_frame_ = 0;
  Status error_;
};

}  // namespace tegu::distributed
