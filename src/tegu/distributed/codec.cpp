#include "tegu/distributed/codec.hpp"

#include "tegu/distributed/msgpack_key_internal.hpp"

#include <msgpack.hpp>

namespace tegu::distributed {

using protocol::Buffer;
using protocol::Message;

// ---- OpWriter ----------------------------------------------------------------------------

struct OpWriter::Impl {
  msgpack::sbuffer ops;  // the ops, each a msgpack array, concatenated
  msgpack::packer<msgpack::sbuffer> packer{ops};
  size_t op_count = 0;
  std::vector<Buffer> frames;
  size_t frame_bytes = 0;
};

OpWriter::OpWriter() : impl_(std::make_unique<Impl>()) {}
OpWriter::~OpWriter() = default;
OpWriter::OpWriter(OpWriter&&) noexcept = default;
OpWriter& OpWriter::operator=(OpWriter&&) noexcept = default;

OpWriter& OpWriter::Op(std::string_view name, uint32_t field_count) {
  impl_->packer.pack_array(field_count + 1);
  ++impl_->op_count;
  return Str(name);
}
OpWriter& OpWriter::Int(int64_t value) {
  impl_->packer.pack_int64(value);
  return *this;
}
OpWriter& OpWriter::UInt(uint64_t value) {
  impl_->packer.pack_uint64(value);
  return *this;
}
OpWriter& OpWriter::Double(double value) {
  impl_->packer.pack_double(value);
  return *this;
}
OpWriter& OpWriter::Bool(bool value) {
  if (value) {
    impl_->packer.pack_true();
  } else {
    impl_->packer.pack_false();
  }
  return *this;
}
OpWriter& OpWriter::Nil() {
  impl_->packer.pack_nil();
  return *this;
}
OpWriter& OpWriter::Str(std::string_view value) {
  impl_->packer.pack_str(static_cast<uint32_t>(value.size()));
  impl_->packer.pack_str_body(value.data(), static_cast<uint32_t>(value.size()));
  return *this;
}
OpWriter& OpWriter::Bin(std::string_view value) {
  impl_->packer.pack_bin(static_cast<uint32_t>(value.size()));
  impl_->packer.pack_bin_body(value.data(), static_cast<uint32_t>(value.size()));
  return *this;
}
OpWriter& OpWriter::WriteKey(const Key& key) {
  if (!key.is_tuple()) return Str(key.name());
  Array(static_cast<uint32_t>(key.parts().size()));
  for (const KeyPart& part : key.parts()) {
    if (const auto* i = std::get_if<int64_t>(&part)) {
      Int(*i);
    } else {
      Str(std::get<std::string>(part));
    }
  }
  return *this;
}
OpWriter& OpWriter::Keys(const std::vector<Key>& keys) {
  Array(static_cast<uint32_t>(keys.size()));
  for (const Key& k : keys) WriteKey(k);
  return *this;
}
OpWriter& OpWriter::Strs(const std::vector<std::string>& values) {
  Array(static_cast<uint32_t>(values.size()));
  for (const std::string& v : values) Str(v);
  return *this;
}
OpWriter& OpWriter::Array(uint32_t size) {
  impl_->packer.pack_array(size);
  return *this;
}
OpWriter& OpWriter::Raw(std::string_view msgpack_bytes) {
  impl_->ops.write(msgpack_bytes.data(), msgpack_bytes.size());
  return *this;
}
OpWriter& OpWriter::Frame(Buffer frame) {
  impl_->frame_bytes += frame.size();
  impl_->frames.push_back(std::move(frame));
  return *this;
}
size_t OpWriter::op_count() const { return impl_->op_count; }
size_t OpWriter::frame_count() const { return impl_->frames.size(); }
size_t OpWriter::byte_size() const { return impl_->ops.size() + impl_->frame_bytes; }

Message OpWriter::Finish() {
  msgpack::sbuffer head;
  msgpack::packer<msgpack::sbuffer> packer(head);
  packer.pack_map(2);
  packer.pack("op");
  packer.pack("batch");
  packer.pack("ops");
  packer.pack_array(static_cast<uint32_t>(impl_->op_count));
  Message message;
  message.header.reserve(head.size() + impl_->ops.size());
  message.header.append(head.data(), head.size());
  message.header.append(impl_->ops.data(), impl_->ops.size());
  message.frames = std::move(impl_->frames);
  impl_ = std::make_unique<Impl>();
  return message;
}

// ---- BatchReader -------------------------------------------------------------------------

struct BatchReader::Impl {
  msgpack::object_handle handle;
  const msgpack::object* ops = nullptr;  // the "ops" array
};

BatchReader::~BatchReader() = default;

Result<std::unique_ptr<BatchReader>> BatchReader::Parse(Message message) {
  std::unique_ptr<BatchReader> reader(new BatchReader());
  reader->impl_ = std::make_unique<Impl>();
  try {
    // Limits bound what a hostile header can make us allocate (msgpack "bombs").
    msgpack::unpack_limit limits(/*array=*/1 << 24, /*map=*/1 << 10, /*str=*/64 << 20,
                                 /*bin=*/64 << 20, /*ext=*/1 << 10, /*depth=*/32);
    size_t offset = 0;
    reader->impl_->handle = msgpack::unpack(message.header.data(), message.header.size(), offset,
                                            nullptr, nullptr, limits);
    if (offset != message.header.size()) {
      return Status::Invalid("malformed batch: trailing bytes after the header");
    }
  } catch (const std::exception& e) {
    return Status::Invalid(std::string("malformed batch header: ") + e.what());
  }
  const msgpack::object& root = reader->impl_->handle.get();
  if (root.type != msgpack::type::MAP) return Status::Invalid("malformed batch: not a map");
  bool is_batch = false;
  for (uint32_t i = 0; i < root.via.map.size; ++i) {
    const msgpack::object_kv& kv = root.via.map.ptr[i];
    if (kv.key.type != msgpack::type::STR) continue;
    std::string_view name(kv.key.via.str.ptr, kv.key.via.str.size);
    if (name == "op" && kv.val.type == msgpack::type::STR &&
        std::string_view(kv.val.via.str.ptr, kv.val.via.str.size) == "batch") {
      is_batch = true;
    } else if (name == "ops" && kv.val.type == msgpack::type::ARRAY) {
      reader->impl_->ops = &kv.val;
    }
  }
  if (!is_batch || reader->impl_->ops == nullptr) {
    return Status::Invalid("malformed message: expected {op: batch, ops: [...]}");
  }
  for (uint32_t i = 0; i < reader->impl_->ops->via.array.size; ++i) {
    const msgpack::object& op = reader->impl_->ops->via.array.ptr[i];
    if (op.type != msgpack::type::ARRAY || op.via.array.size == 0 ||
        op.via.array.ptr[0].type != msgpack::type::STR) {
      return Status::Invalid("malformed batch: op " + std::to_string(i) +
                             " is not an array starting with its name");
    }
  }
  reader->frames_ = std::move(message.frames);
  return reader;
}

size_t BatchReader::op_count() const { return impl_->ops->via.array.size; }

std::string_view BatchReader::OpName(size_t i) const {
  const msgpack::object& name = impl_->ops->via.array.ptr[i].via.array.ptr[0];
  return {name.via.str.ptr, name.via.str.size};
}

FieldReader BatchReader::Fields(size_t i) {
  FieldReader reader(this, &impl_->ops->via.array.ptr[i], "op " + std::string(OpName(i)));
  reader.index_ = 1;  // past the name
  return reader;
}

// ---- FieldReader -------------------------------------------------------------------------

FieldReader::FieldReader(BatchReader* batch, const void* array, std::string context)
    : batch_(batch), array_(array), context_(std::move(context)) {
  const auto* obj = static_cast<const msgpack::object*>(array);
  size_ = obj ? obj->via.array.size : 0;
}

const Status& FieldReader::status() const {
  static const Status kOk;
  return batch_ ? batch_->error_ : kOk;
}

void FieldReader::Fail(const std::string& what) {
  if (batch_ && batch_->error_.ok()) {
    batch_->error_ = Status::Invalid("malformed message: " + context_ + ": " + what);
  }
}

const void* FieldReader::Next(const char* expected) {
  if (!ok() || array_ == nullptr) return nullptr;
  if (index_ >= size_) {
    Fail("missing field " + std::to_string(index_) + " (" + expected + ")");
    return nullptr;
  }
  return &static_cast<const msgpack::object*>(array_)->via.array.ptr[index_++];
}

namespace {
const msgpack::object* Obj(const void* p) { return static_cast<const msgpack::object*>(p); }
}  // namespace

int64_t FieldReader::Int() {
  const msgpack::object* o = Obj(Next("int"));
  if (!o) return 0;
  if (o->type == msgpack::type::POSITIVE_INTEGER) {
    if (o->via.u64 > static_cast<uint64_t>(INT64_MAX)) Fail("integer out of range");
    return static_cast<int64_t>(o->via.u64);
  }
  if (o->type == msgpack::type::NEGATIVE_INTEGER) return o->via.i64;
  Fail("field " + std::to_string(index_ - 1) + " is not an integer");
  return 0;
}

uint64_t FieldReader::UInt() {
  const msgpack::object* o = Obj(Next("unsigned int"));
  if (!o) return 0;
  if (o->type == msgpack::type::POSITIVE_INTEGER) return o->via.u64;
  Fail("field " + std::to_string(index_ - 1) + " is not an unsigned integer");
  return 0;
}

double FieldReader::Double() {
  const msgpack::object* o = Obj(Next("float"));
  if (!o) return 0;
  switch (o->type) {
    case msgpack::type::FLOAT32:
    case msgpack::type::FLOAT64:
      return o->via.f64;
    case msgpack::type::POSITIVE_INTEGER:
      return static_cast<double>(o->via.u64);
    case msgpack::type::NEGATIVE_INTEGER:
      return static_cast<double>(o->via.i64);
    default:
      Fail("field " + std::to_string(index_ - 1) + " is not a number");
      return 0;
  }
}

bool FieldReader::Bool() {
  const msgpack::object* o = Obj(Next("bool"));
  if (!o) return false;
  if (o->type == msgpack::type::BOOLEAN) return o->via.boolean;
  Fail("field " + std::to_string(index_ - 1) + " is not a bool");
  return false;
}

std::string FieldReader::Str() {
  const msgpack::object* o = Obj(Next("str"));
  if (!o) return {};
  if (o->type == msgpack::type::STR) return {o->via.str.ptr, o->via.str.size};
  if (o->type == msgpack::type::BIN) return {o->via.bin.ptr, o->via.bin.size};
  Fail("field " + std::to_string(index_ - 1) + " is not a string");
  return {};
}

namespace internal {
bool KeyFromObject(const msgpack::object& o, Key* key) {
  if (o.type == msgpack::type::STR) {
    *key = Key(std::string(o.via.str.ptr, o.via.str.size));
    return true;
  }
  if (o.type != msgpack::type::ARRAY) return false;
  std::vector<KeyPart> parts;
  parts.reserve(o.via.array.size);
  for (uint32_t i = 0; i < o.via.array.size; ++i) {
    const msgpack::object& p = o.via.array.ptr[i];
    if (p.type == msgpack::type::STR) {
      parts.emplace_back(std::string(p.via.str.ptr, p.via.str.size));
    } else if (p.type == msgpack::type::POSITIVE_INTEGER && p.via.u64 <= INT64_MAX) {
      parts.emplace_back(static_cast<int64_t>(p.via.u64));
    } else if (p.type == msgpack::type::NEGATIVE_INTEGER) {
      parts.emplace_back(p.via.i64);
    } else {
      return false;
    }
  }
  *key = Key::Tuple(std::move(parts));
  return true;
}

void PackKey(msgpack::packer<msgpack::sbuffer>& pk, const Key& key) {
  if (!key.is_tuple()) {
    pk.pack(key.name());
    return;
  }
  pk.pack_array(static_cast<uint32_t>(key.parts().size()));
  for (const KeyPart& part : key.parts()) {
    if (const auto* i = std::get_if<int64_t>(&part)) {
      pk.pack_int64(*i);
    } else {
      pk.pack(std::get<std::string>(part));
    }
  }
}
}  // namespace internal
using internal::KeyFromObject;

Key FieldReader::ReadKey() {
  const msgpack::object* o = Obj(Next("key"));
  Key key;
  if (o && !KeyFromObject(*o, &key)) {
    Fail("field " + std::to_string(index_ - 1) +
         " is not a key (a string or a tuple of strings and integers)");
  }
  return key;
}

std::vector<Key> FieldReader::Keys() {
  FieldReader items = Array();
  std::vector<Key> keys;
  keys.reserve(items.size());
  while (ok() && items.remaining() > 0) keys.push_back(items.ReadKey());
  return keys;
}

std::vector<std::string> FieldReader::Strs() {
  FieldReader items = Array();
  std::vector<std::string> out;
  out.reserve(items.size());
  while (ok() && items.remaining() > 0) out.push_back(items.Str());
  return out;
}

bool FieldReader::NextIsNil() {
  if (!ok() || index_ >= size_) return false;
  const msgpack::object& o = Obj(array_)->via.array.ptr[index_];
  if (o.type != msgpack::type::NIL) return false;
  ++index_;
  return true;
}

FieldReader FieldReader::Array() {
  size_t field = index_;
  const msgpack::object* o = Obj(Next("array"));
  if (o && o->type != msgpack::type::ARRAY) {
    Fail("field " + std::to_string(field) + " is not an array");
    o = nullptr;
  }
  return FieldReader(batch_, o, context_ + " field " + std::to_string(field));
}

std::vector<Buffer> FieldReader::Frames(uint64_t count) {
  std::vector<Buffer> out;
  if (!ok() || batch_ == nullptr) return out;
  if (count > batch_->frames_left()) {
    Fail("names " + std::to_string(count) + " frames but the message has only " +
         std::to_string(batch_->frames_left()) + " left");
    return out;
  }
  out.reserve(count);
  for (uint64_t i = 0; i < count; ++i) out.push_back(batch_->frames_[batch_->next_frame_++]);
  return out;
}

}  // namespace tegu::distributed
