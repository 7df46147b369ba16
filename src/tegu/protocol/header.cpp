#include "tegu/protocol/header.hpp"

#include <msgpack.hpp>

#include <map>

namespace tegu::protocol {

struct HeaderBuilder::Impl {
  msgpack::sbuffer buffer;
  msgpack::packer<msgpack::sbuffer> packer{buffer};
  uint32_t declared = 0;
  uint32_t added = 0;
  void Key(std::string_view key) {
    packer.pack_str(static_cast<uint32_t>(key.size()));
    packer.pack_str_body(key.data(), static_cast<uint32_t>(key.size()));
    ++added;
  }
  void Str(std::string_view s) {
    packer.pack_str(static_cast<uint32_t>(s.size()));
    packer.pack_str_body(s.data(), static_cast<uint32_t>(s.size()));
  }
};

HeaderBuilder::HeaderBuilder(std::string_view op, uint32_t field_count)
    : impl_(std::make_unique<Impl>()) {
  impl_->declared = field_count;
  impl_->packer.pack_map(field_count + 1);
  impl_->Str("op");
  impl_->Str(op);
}

HeaderBuilder::~HeaderBuilder() = default;

HeaderBuilder& HeaderBuilder::Add(std::string_view key, int64_t value) {
  impl_->Key(key);
  impl_->packer.pack_int64(value);
  return *this;
}
HeaderBuilder& HeaderBuilder::Add(std::string_view key, uint64_t value) {
  impl_->Key(key);
  impl_->packer.pack_uint64(value);
  return *this;
}
HeaderBuilder& HeaderBuilder::Add(std::string_view key, bool value) {
  impl_->Key(key);
  if (value) {
    impl_->packer.pack_true();
  } else {
    impl_->packer.pack_false();
  }
  return *this;
}
HeaderBuilder& HeaderBuilder::Add(std::string_view key, double value) {
  impl_->Key(key);
  impl_->packer.pack_double(value);
  return *this;
}
HeaderBuilder& HeaderBuilder::Add(std::string_view key, std::string_view value) {
  impl_->Key(key);
  impl_->Str(value);
  return *this;
}
HeaderBuilder& HeaderBuilder::AddBinary(std::string_view key, std::string_view bytes) {
  impl_->Key(key);
  impl_->packer.pack_bin(static_cast<uint32_t>(bytes.size()));
  impl_->packer.pack_bin_body(bytes.data(), static_cast<uint32_t>(bytes.size()));
  return *this;
}
HeaderBuilder& HeaderBuilder::Add(std::string_view key, const std::vector<std::string>& values) {
  impl_->Key(key);
  impl_->packer.pack_array(static_cast<uint32_t>(values.size()));
  for (const std::string& v : values) impl_->Str(v);
  return *this;
}

Result<std::string> HeaderBuilder::Finish() {
  if (impl_->added != impl_->declared) {
    return Status::Invalid("header declared " + std::to_string(impl_->declared) +
                           " fields but " + std::to_string(impl_->added) + " were added");
  }
  return std::string(impl_->buffer.data(), impl_->buffer.size());
}

struct HeaderView::Impl {
  msgpack::object_handle handle;
  std::string op;
  std::map<std::string, msgpack::object, std::less<>> fields;
};

HeaderView::HeaderView(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
HeaderView::HeaderView(HeaderView&&) noexcept = default;
HeaderView& HeaderView::operator=(HeaderView&&) noexcept = default;
HeaderView::~HeaderView() = default;

Result<HeaderView> HeaderView::Parse(std::string_view bytes) {
  auto impl = std::make_unique<Impl>();
  try {
    // Limits bound what a hostile header can make us allocate (msgpack "bombs").
    msgpack::unpack_limit limits(/*array=*/1 << 20, /*map=*/1 << 16, /*str=*/64 << 20,
                                 /*bin=*/64 << 20, /*ext=*/1 << 20, /*depth=*/32);
    std::size_t offset = 0;
    impl->handle = msgpack::unpack(bytes.data(), bytes.size(), offset, nullptr, nullptr, limits);
    if (offset != bytes.size()) {
      return Status::Invalid("malformed message header: " + std::to_string(bytes.size() - offset) +
                             " trailing bytes after the map");
    }
  } catch (const std::exception& e) {
    return Status::Invalid(std::string("malformed message header: ") + e.what());
  }
  const msgpack::object& root = impl->handle.get();
  if (root.type != msgpack::type::MAP) {
    return Status::Invalid("malformed message header: expected a map");
  }
  for (uint32_t i = 0; i < root.via.map.size; ++i) {
    const msgpack::object_kv& kv = root.via.map.ptr[i];
    if (kv.key.type != msgpack::type::STR) {
      return Status::Invalid("malformed message header: a field name is not a string");
    }
    impl->fields.emplace(std::string(kv.key.via.str.ptr, kv.key.via.str.size), kv.val);
  }
  auto op = impl->fields.find("op");
  if (op == impl->fields.end() || op->second.type != msgpack::type::STR) {
    return Status::Invalid("malformed message header: no string field 'op'");
  }
  impl->op.assign(op->second.via.str.ptr, op->second.via.str.size);
  return HeaderView(std::move(impl));
}

const std::string& HeaderView::op() const { return impl_->op; }

bool HeaderView::Has(std::string_view key) const { return impl_->fields.count(key) > 0; }

namespace {
Status FieldError(const std::string& op, std::string_view key, const char* what) {
  return Status::Invalid("message '" + op + "': field '" + std::string(key) + "' " + what);
}
}  // namespace

Result<int64_t> HeaderView::GetInt(std::string_view key) const {
  auto it = impl_->fields.find(key);
  if (it == impl_->fields.end()) return FieldError(op(), key, "is missing");
  const msgpack::object& o = it->second;
  if (o.type == msgpack::type::POSITIVE_INTEGER) {
    if (o.via.u64 > static_cast<uint64_t>(INT64_MAX)) return FieldError(op(), key, "is too large");
    return static_cast<int64_t>(o.via.u64);
  }
  if (o.type == msgpack::type::NEGATIVE_INTEGER) return o.via.i64;
  return FieldError(op(), key, "is not an integer");
}

Result<bool> HeaderView::GetBool(std::string_view key) const {
  auto it = impl_->fields.find(key);
  if (it == impl_->fields.end()) return FieldError(op(), key, "is missing");
  if (it->second.type != msgpack::type::BOOLEAN) return FieldError(op(), key, "is not a boolean");
  return it->second.via.boolean;
}

Result<double> HeaderView::GetDouble(std::string_view key) const {
  auto it = impl_->fields.find(key);
  if (it == impl_->fields.end()) return FieldError(op(), key, "is missing");
  const msgpack::object& o = it->second;
  if (o.type == msgpack::type::FLOAT64 || o.type == msgpack::type::FLOAT32) return o.via.f64;
  if (o.type == msgpack::type::POSITIVE_INTEGER) return static_cast<double>(o.via.u64);
  if (o.type == msgpack::type::NEGATIVE_INTEGER) return static_cast<double>(o.via.i64);
  return FieldError(op(), key, "is not a number");
}

Result<std::string> HeaderView::GetString(std::string_view key) const {
  auto it = impl_->fields.find(key);
  if (it == impl_->fields.end()) return FieldError(op(), key, "is missing");
  const msgpack::object& o = it->second;
  if (o.type == msgpack::type::STR) return std::string(o.via.str.ptr, o.via.str.size);
  if (o.type == msgpack::type::BIN) return std::string(o.via.bin.ptr, o.via.bin.size);
  return FieldError(op(), key, "is not a string");
}

Result<std::vector<std::string>> HeaderView::GetStringList(std::string_view key) const {
  auto it = impl_->fields.find(key);
  if (it == impl_->fields.end()) return FieldError(op(), key, "is missing");
  const msgpack::object& o = it->second;
  if (o.type != msgpack::type::ARRAY) return FieldError(op(), key, "is not a list");
  std::vector<std::string> out;
  for (uint32_t i = 0; i < o.via.array.size; ++i) {
    const msgpack::object& item = o.via.array.ptr[i];
    if (item.type != msgpack::type::STR) return FieldError(op(), key, "holds a non-string");
    out.emplace_back(item.via.str.ptr, item.via.str.size);
  }
  return out;
}

}  // namespace tegu::protocol
