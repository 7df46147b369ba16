#include "tegu/protocol/wire.hpp"

#include <cstring>

namespace tegu::protocol {

Buffer Buffer::Copy(std::string_view bytes) {
  return Own(std::vector<uint8_t>(bytes.begin(), bytes.end()));
}

Buffer Buffer::Own(std::vector<uint8_t> bytes) {
  auto owner = std::make_shared<std::vector<uint8_t>>(std::move(bytes));
  const uint8_t* data = owner->data();
  size_t size = owner->size();
  return Buffer(std::move(owner), data, size);
}

namespace {
void PutU32(std::string* out, uint32_t v) {
  for (int i = 0; i < 4; ++i) out->push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}
void PutU64(std::string* out, uint64_t v) {
  for (int i = 0; i < 8; ++i) out->push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}
uint32_t GetU32(const uint8_t* p) {
  uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}
uint64_t GetU64(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}
constexpr size_t kFixedBytes = 16;
}  // namespace

std::string EncodePrefix(const Message& message) {
  std::string out;
  out.reserve(kFixedBytes + 8 * message.frames.size() + message.header.size());
  PutU32(&out, kMagic);
  PutU32(&out, static_cast<uint32_t>(message.frames.size()));
  PutU64(&out, message.header.size());
  for (const Buffer& f : message.frames) PutU64(&out, f.size());
  out += message.header;
  return out;
}

std::string EncodeMessage(const Message& message) {
  std::string out = EncodePrefix(message);
  for (const Buffer& f : message.frames) out.append(f.view());
  return out;
}

void MessageDecoder::Reset() {
  stage_ = Stage::kFixed;
  scratch_.clear();
  frame_lengths_.clear();
  frame_index_ = 0;
  current_ = Message();
}

Status MessageDecoder::StartMessage() {
  // Called once the fixed part and the frame lengths are in scratch_.
  uint64_t total = header_bytes_;
  for (uint64_t len : frame_lengths_) {
    if (len > limits_.max_frame_bytes) {
      return Status::Invalid("frame of " + std::to_string(len) + " bytes exceeds the limit of " +
                             std::to_string(limits_.max_frame_bytes) +
                             " (message at byte " + std::to_string(message_start_) + ")");
    }
    total += len;
    if (total > limits_.max_message_bytes) {
      return Status::Invalid("message exceeds the limit of " +
                             std::to_string(limits_.max_message_bytes) + " bytes (at byte " +
                             std::to_string(message_start_) + ")");
    }
  }
  return Status::OK();
}

Status MessageDecoder::Feed(const uint8_t* data, size_t size) {
  if (stage_ == Stage::kFailed) return error_;
  auto fail = [this](Status st) {
    stage_ = Stage::kFailed;
    error_ = st;
    return st;
  };
  size_t pos = 0;
  while (pos < size || (stage_ == Stage::kHeader && scratch_.size() == header_bytes_) ||
         (stage_ == Stage::kFrames && frame_index_ < frame_lengths_.size() &&
          frame_.size() == frame_lengths_[frame_index_])) {
    auto take = [&](std::vector<uint8_t>* into, uint64_t want) {
      size_t n = static_cast<size_t>(std::min<uint64_t>(want - into->size(), size - pos));
      into->insert(into->end(), data + pos, data + pos + n);
      pos += n;
      offset_ += n;
      return into->size() == want;
    };
    switch (stage_) {
      case Stage::kFixed: {
        if (scratch_.empty()) message_start_ = offset_;
        if (!take(&scratch_, kFixedBytes)) return Status::OK();
        uint32_t magic = GetU32(scratch_.data());
        if (magic != kMagic) {
          return fail(Status::Invalid("bad magic number at byte " +
                                      std::to_string(message_start_) +
                                      ": not a Tegu message (or a different protocol version)"));
        }
        frame_count_ = GetU32(scratch_.data() + 4);
        header_bytes_ = GetU64(scratch_.data() + 8);
        if (frame_count_ > limits_.max_frames) {
          return fail(Status::Invalid(std::to_string(frame_count_) + " frames exceed the limit of " +
                                      std::to_string(limits_.max_frames) + " (message at byte " +
                                      std::to_string(message_start_) + ")"));
        }
        if (header_bytes_ > limits_.max_header_bytes) {
          return fail(Status::Invalid("header of " + std::to_string(header_bytes_) +
                                      " bytes exceeds the limit of " +
                                      std::to_string(limits_.max_header_bytes) +
                                      " (message at byte " + std::to_string(message_start_) + ")"));
        }
        scratch_.clear();
        stage_ = Stage::kLengths;
        if (frame_count_ == 0) {
          Status st = StartMessage();
          if (!st.ok()) return fail(st);
          stage_ = Stage::kHeader;
        }
        break;
      }
      case Stage::kLengths: {
        if (!take(&scratch_, 8ull * frame_count_)) return Status::OK();
        for (uint32_t i = 0; i < frame_count_; ++i) {
          frame_lengths_.push_back(GetU64(scratch_.data() + 8 * i));
        }
        scratch_.clear();
        Status st = StartMessage();
        if (!st.ok()) return fail(st);
        stage_ = Stage::kHeader;
        break;
      }
      case Stage::kHeader: {
        if (!take(&scratch_, header_bytes_)) return Status::OK();
        current_.header.assign(scratch_.begin(), scratch_.end());
        scratch_.clear();
        stage_ = Stage::kFrames;
        frame_index_ = 0;
        frame_.clear();
        if (frame_lengths_.empty()) {
          ready_.push_back(std::move(current_));
          Reset();
        } else {
          frame_.reserve(static_cast<size_t>(std::min<uint64_t>(frame_lengths_[0], 1 << 20)));
        }
        break;
      }
      case Stage::kFrames: {
        if (!take(&frame_, frame_lengths_[frame_index_])) return Status::OK();
        current_.frames.push_back(Buffer::Own(std::move(frame_)));
        frame_ = {};
        if (++frame_index_ == frame_lengths_.size()) {
          ready_.push_back(std::move(current_));
          Reset();
        }
        break;
      }
      case Stage::kFailed:
        return error_;
    }
  }
  return Status::OK();
}

std::optional<Message> MessageDecoder::Next() {
  if (ready_.empty()) return std::nullopt;
  Message m = std::move(ready_.front());
  ready_.pop_front();
  return m;
}

}  // namespace tegu::protocol
