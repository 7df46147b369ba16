// The wire format of a Message on a byte stream (TCP, Unix socket), and an incremental decoder
// that survives any input: a malformed or oversized message is a clear error naming what was
// wrong and at which byte, never a crash or an unbounded allocation.
//
//   u32 magic "TGU1" | u32 frame count F | u64 header length H | F x u64 frame length
//   | H header bytes | frame bytes...            (all integers little-endian)
//
// Thread-safety: EncodePrefix is pure. A MessageDecoder belongs to one connection and must not
// be used from two threads at once.
#pragma once

#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <vector>

#include "tegu/protocol/message.hpp"
#include "tegu/status.hpp"

namespace tegu::protocol {

inline constexpr uint32_t kMagic = 0x31554754;  // "TGU1" read as little-endian

struct WireLimits {
  // Generous for authenticated peers: one update-graph of a million tasks carries a million
  // run-spec frames and a header of tens of MB.
  uint32_t max_frames = 1u << 24;
  uint64_t max_header_bytes = 1ull << 30;
  uint64_t max_frame_bytes = 1ull << 34;    ///< one frame (16 GiB)
  uint64_t max_message_bytes = 1ull << 35;  ///< header + frames

  /// The limits before a peer has authenticated: one small header, no frames, so that an
  /// unauthenticated peer can make us neither allocate much nor decode a payload.
  static WireLimits Unauthenticated() { return {0, 4096, 0, 4096}; }
};

/// The bytes that precede the frames of `message` on the wire (fixed part, lengths, header).
/// The caller then writes each frame's bytes as they are (scatter/gather, no copy).
std::string EncodePrefix(const Message& message);
/// The whole message as one contiguous string (tests and small messages).
std::string EncodeMessage(const Message& message);

class MessageDecoder {
 public:
  explicit MessageDecoder(WireLimits limits = {}) : limits_(limits) {}
  void set_limits(const WireLimits& limits) { limits_ = limits; }

  /// Consumes bytes. A non-OK status means the stream is corrupt: close the connection.
  Status Feed(const uint8_t* data, size_t size);
  /// The next complete message, if any.
  std::optional<Message> Next();
  /// Bytes consumed from the stream so far (for error positions).
  uint64_t offset() const { return offset_; }

 private:
  enum class Stage : uint8_t { kFixed, kLengths, kHeader, kFrames, kFailed };
  Status StartMessage();
  void Reset();

  WireLimits limits_;
  Stage stage_ = Stage::kFixed;
  std::vector<uint8_t> scratch_;  // the part being assembled
  uint32_t frame_count_ = 0;
  uint64_t header_bytes_ = 0;
  std::vector<uint64_t> frame_lengths_;
  size_t frame_index_ = 0;
  std::vector<uint8_t> frame_;
  Message current_;
  std::deque<Message> ready_;
  uint64_t offset_ = 0;
  uint64_t message_start_ = 0;
  Status error_;
};

}  // namespace tegu::protocol
