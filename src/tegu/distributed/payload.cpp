#include "tegu/distributed/payload.hpp"

#include <msgpack.hpp>

#include <exception>
#include <mutex>
#include <shared_mutex>
#include <unordered_map>

#include "tegu/common/check.hpp"
#include "tegu/common/error_type.hpp"
#include "tegu/distributed/codec.hpp"
#include "tegu/distributed/msgpack_key_internal.hpp"
#include "tegu/native.hpp"

namespace tegu::distributed {

using protocol::Buffer;

namespace {

// A task's run spec or a small value is tens of bytes; msgpack's default 8 KiB buffer, kept
// alive as the frame, would cost 8 KiB per task.
constexpr size_t kSmallBufferBytes = 64;

ForeignSerializer g_foreign;
std::shared_mutex g_runners_mu;
std::unordered_map<std::string, std::shared_ptr<TaskRunner>>& Runners() {
  static auto* runners = new std::unordered_map<std::string, std::shared_ptr<TaskRunner>>();
  return *runners;
}

struct NativeTypes {
  std::shared_mutex mu;
  std::vector<NativeTypeCodec> codecs;
};
NativeTypes& GetNativeTypes() {
  static auto* types = new NativeTypes();  // leaked: used during static destruction
  return *types;
}
const NativeTypeCodec* FindCodecOf(const std::type_info& type) {
  NativeTypes& t = GetNativeTypes();
  std::shared_lock lock(t.mu);
  for (const NativeTypeCodec& c : t.codecs) {
    if (*c.type == type) return &c;
  }
  return nullptr;
}
const NativeTypeCodec* FindCodecOf(std::string_view kind) {
  NativeTypes& t = GetNativeTypes();
  std::shared_lock lock(t.mu);
  for (const NativeTypeCodec& c : t.codecs) {
    if (c.kind == kind) return &c;
  }
  return nullptr;
}

Buffer FromSbuffer(msgpack::sbuffer&& buffer) {
  auto owned = std::make_shared<msgpack::sbuffer>(std::move(buffer));
  const auto* data = reinterpret_cast<const uint8_t*>(owned->data());
  size_t size = owned->size();
  return Buffer(std::move(owned), data, size);
}

Status PackNative(msgpack::packer<msgpack::sbuffer>& pk, const Value& value, int depth) {
  if (depth > 64) return Status::Invalid("cannot serialize a native value nested deeper than 64");
  if (!value.has_value()) {
    pk.pack_nil();
  } else if (const auto* i = value.TryGet<int64_t>()) {
    pk.pack_int64(*i);
  } else if (const auto* d = value.TryGet<double>()) {
    pk.pack_double(*d);
  } else if (const auto* b = value.TryGet<bool>()) {
    if (*b) {
      pk.pack_true();
    } else {
      pk.pack_false();
    }
  } else if (const auto* s = value.TryGet<std::string>()) {
    pk.pack_str(static_cast<uint32_t>(s->size()));
    pk.pack_str_body(s->data(), static_cast<uint32_t>(s->size()));
  } else if (const auto* list = value.TryGet<ValueList>()) {
    pk.pack_array(static_cast<uint32_t>(list->size()));
    for (const Value& item : *list) TEGU_RETURN_NOT_OK(PackNative(pk, item, depth + 1));
  } else if (const auto* i32 = value.TryGet<int>()) {
    pk.pack_int64(*i32);
  } else if (const auto* ints = value.TryGet<std::vector<int64_t>>()) {
    // Typed vectors, as registered functions return them, travel as lists.
    pk.pack_array(static_cast<uint32_t>(ints->size()));
    for (int64_t v : *ints) pk.pack_int64(v);
  } else if (const auto* doubles = value.TryGet<std::vector<double>>()) {
    pk.pack_array(static_cast<uint32_t>(doubles->size()));
    for (double v : *doubles) pk.pack_double(v);
  } else if (const auto* strings = value.TryGet<std::vector<std::string>>()) {
    pk.pack_array(static_cast<uint32_t>(strings->size()));
    for (const std::string& v : *strings) {
      pk.pack_str(static_cast<uint32_t>(v.size()));
      pk.pack_str_body(v.data(), static_cast<uint32_t>(v.size()));
    }
  } else {
    return Status::TypeError("cannot send a value of type " + value.TypeName() +
                             " between processes: only nil, bool, int, float, str and lists of "
                             "them have a native wire form");
  }
  return Status::OK();
}

Result<Value> UnpackNative(const msgpack::object& o, int depth) {
  if (depth > 64) return Status::Invalid("native value nested deeper than 64");
  switch (o.type) {
    case msgpack::type::NIL:
      return Value();
    case msgpack::type::BOOLEAN:
      return Value::From(o.via.boolean);
    case msgpack::type::POSITIVE_INTEGER:
      if (o.via.u64 > static_cast<uint64_t>(INT64_MAX)) {
        return Status::Invalid("native integer out of the int64 range");
      }
      return Value::From(static_cast<int64_t>(o.via.u64));
    case msgpack::type::NEGATIVE_INTEGER:
      return Value::From(static_cast<int64_t>(o.via.i64));
    case msgpack::type::FLOAT32:
    case msgpack::type::FLOAT64:
      return Value::From(o.via.f64);
    case msgpack::type::STR:
      return Value::From(std::string(o.via.str.ptr, o.via.str.size));
    case msgpack::type::BIN:
      return Value::From(std::string(o.via.bin.ptr, o.via.bin.size));
    case msgpack::type::ARRAY: {
      ValueList items;
      items.reserve(o.via.array.size);
      for (uint32_t i = 0; i < o.via.array.size; ++i) {
        TEGU_ASSIGN_OR_RAISE(Value item, UnpackNative(o.via.array.ptr[i], depth + 1));
        items.push_back(std::move(item));
      }
      return Value::From(std::move(items));
    }
    default:
      return Status::Invalid("unsupported msgpack type in a native value");
  }
}

Result<msgpack::object_handle> UnpackFrame(const Buffer& frame, const char* what) {
  try {
    msgpack::unpack_limit limits(1 << 24, 1 << 10, 1u << 31, 1u << 31, 1 << 10, 66);
    size_t offset = 0;
    auto handle = msgpack::unpack(reinterpret_cast<const char*>(frame.data()), frame.size(),
                                  offset, nullptr, nullptr, limits);
    if (offset != frame.size()) return Status::Invalid(std::string("trailing bytes in ") + what);
    return handle;
  } catch (const std::exception& e) {
    return Status::Invalid(std::string("malformed ") + what + ": " + e.what());
  }
}

}  // namespace

void WritePayload(OpWriter& writer, Payload payload) {
  writer.Str(payload.kind).UInt(payload.frames.size());
  for (Buffer& frame : payload.frames) writer.Frame(std::move(frame));
}

Payload ReadPayload(FieldReader& reader) {
  std::string kind = reader.Str();
  const uint64_t nframes = reader.UInt();
  return Payload{std::move(kind), reader.Frames(nframes)};
}

void SetForeignSerializer(ForeignSerializer serializer) { g_foreign = serializer; }

void RegisterNativeType(NativeTypeCodec codec) {
  NativeTypes& t = GetNativeTypes();
  std::unique_lock lock(t.mu);
  for (NativeTypeCodec& c : t.codecs) {
    if (c.kind == codec.kind) {
      c = std::move(codec);
      return;
    }
  }
  // Codecs are never removed, and reserve keeps the pointers FindCodecOf returns stable.
  if (t.codecs.capacity() == 0) t.codecs.reserve(64);
  TEGU_CHECK(t.codecs.size() < t.codecs.capacity());
  t.codecs.push_back(std::move(codec));
}

bool IsNativeKind(std::string_view kind) {
  return kind == "native" || FindCodecOf(kind) != nullptr;
}

Value PayloadValue(Payload payload) { return Value::From(std::move(payload)); }
const Payload* AsPayload(const Value& value) { return value.TryGet<Payload>(); }

Result<Payload> SerializeNative(const Value& value) {
  msgpack::sbuffer buffer(kSmallBufferBytes);
  msgpack::packer<msgpack::sbuffer> pk(buffer);
  TEGU_RETURN_NOT_OK(PackNative(pk, value, 0));
  Payload payload{"native", {}};
  payload.frames.push_back(FromSbuffer(std::move(buffer)));
  return payload;
}

Result<Payload> Serialize(const Value& value) {
  if (const Payload* p = AsPayload(value)) return *p;
  if (value.is_foreign()) {
    if (!g_foreign.serialize) {
      return Status::TypeError("cannot serialize a " + value.TypeName() +
                               " value: its runtime installed no serializer");
    }
    return g_foreign.serialize(value);
  }
  if (value.has_value()) {
    if (const NativeTypeCodec* codec = FindCodecOf(value.type())) return codec->serialize(value);
  }
  return SerializeNative(value);
}

Result<Value> Deserialize(const Payload& payload) {
  if (payload.kind == "native") {
    if (payload.frames.size() != 1) {
      return Status::Invalid("a native value payload has 1 frame, got " +
                             std::to_string(payload.frames.size()));
    }
    TEGU_ASSIGN_OR_RAISE(auto handle, UnpackFrame(payload.frames[0], "native value"));
    return UnpackNative(handle.get(), 0);
  }
  if (const NativeTypeCodec* codec = FindCodecOf(payload.kind)) return codec->deserialize(payload);
  if (!g_foreign.deserialize) {
    return Status::TypeError("cannot deserialize a '" + payload.kind +
                             "' payload in this process (no serializer for it is installed; "
                             "Python values need a Python worker)");
  }
  return g_foreign.deserialize(payload);
}

Result<Value> Materialize(const Value& value) {
  if (const Payload* p = AsPayload(value)) return Deserialize(*p);
  return value;
}

uint64_t SizeOf(const Value& value) {
  if (const Payload* p = AsPayload(value)) return p->byte_size() + 64;
  if (value.is_foreign()) return g_foreign.size_of ? g_foreign.size_of(value) : 64;
  if (const auto* s = value.TryGet<std::string>()) return s->size() + 32;
  if (const auto* list = value.TryGet<ValueList>()) {
    uint64_t n = 24;
    for (const Value& v : *list) n += SizeOf(v) + 16;
    return n;
  }
  // Scalars (most native task results) skip the registry's lock.
  const std::type_info& type = value.type();
  if (!value.has_value() || type == typeid(int64_t) || type == typeid(double) ||
      type == typeid(bool)) {
    return 8;
  }
  if (const NativeTypeCodec* codec = FindCodecOf(type)) return codec->size_of(value);
  return 8;
}

Payload ErrorPayload(std::string_view text, std::vector<Buffer> extra) {
  Payload p{"error", {}};
  p.frames.reserve(extra.size() + 1);
  p.frames.push_back(Buffer::Copy(text));
  for (auto& f : extra) p.frames.push_back(std::move(f));
  return p;
}

std::string ErrorText(const Payload& error) {
  if (error.frames.empty()) return "unknown error";
  return std::string(error.frames[0].view());
}

// ---- runners ---------------------------------------------------------------------------------

void RegisterTaskRunner(const std::string& kind, std::shared_ptr<TaskRunner> runner) {
  std::unique_lock lock(g_runners_mu);
  Runners()[kind] = std::move(runner);
}

std::shared_ptr<TaskRunner> FindTaskRunner(const std::string& kind) {
  std::shared_lock lock(g_runners_mu);
  auto it = Runners().find(kind);
  return it == Runners().end() ? nullptr : it->second;
}

namespace {

// Arg nodes of a native task: [0, value] literal, [1, i] reference to dependency i,
// [2, [nodes]] list, [3, [nodes]] tuple.
Status PackArg(msgpack::packer<msgpack::sbuffer>& pk, const Arg& arg, size_t dependency_count) {
  pk.pack_array(2);
  switch (arg.kind()) {
    case Arg::Kind::kLiteral:
      pk.pack_uint8(0);
      return PackNative(pk, arg.literal(), 0);
    case Arg::Kind::kRef:
      if (arg.ref() >= dependency_count) {
        return Status::Invalid("a native task refers to dependency " + std::to_string(arg.ref()) +
                               " of " + std::to_string(dependency_count));
      }
      pk.pack_uint8(1);
      pk.pack_uint32(arg.ref());
      return Status::OK();
    case Arg::Kind::kList:
    case Arg::Kind::kTuple:
      pk.pack_uint8(arg.kind() == Arg::Kind::kList ? 2 : 3);
      pk.pack_array(static_cast<uint32_t>(arg.items().size()));
      for (const Arg& item : arg.items()) TEGU_RETURN_NOT_OK(PackArg(pk, item, dependency_count));
      return Status::OK();
    case Arg::Kind::kDict:
      return Status::NotImplemented("dict arguments of native tasks sent to a cluster");
  }
  return Status::OK();
}

Result<Arg> UnpackArg(const msgpack::object& o, size_t dependency_count, int depth) {
  if (depth > 64 || o.type != msgpack::type::ARRAY || o.via.array.size != 2 ||
      o.via.array.ptr[0].type != msgpack::type::POSITIVE_INTEGER) {
    return Status::Invalid("malformed argument in a native task");
  }
  const msgpack::object& body = o.via.array.ptr[1];
  switch (o.via.array.ptr[0].via.u64) {
    case 0: {
      TEGU_ASSIGN_OR_RAISE(Value v, UnpackNative(body, 0));
      return Arg::Literal(std::move(v));
    }
    case 1:
      if (body.type != msgpack::type::POSITIVE_INTEGER || body.via.u64 >= dependency_count) {
        return Status::Invalid("a native task refers to a dependency it does not list");
      }
      return Arg::Ref(static_cast<KeyId>(body.via.u64));
    case 2:
    case 3: {
      if (body.type != msgpack::type::ARRAY) return Status::Invalid("malformed list argument");
      std::vector<Arg> items;
      for (uint32_t i = 0; i < body.via.array.size; ++i) {
        TEGU_ASSIGN_OR_RAISE(Arg item, UnpackArg(body.via.array.ptr[i], dependency_count, depth + 1));
        items.push_back(std::move(item));
      }
      return o.via.array.ptr[0].via.u64 == 2 ? Arg::List(std::move(items))
                                             : Arg::Tuple(std::move(items));
    }
    default:
      return Status::Invalid("unknown argument tag in a native task");
  }
}

class InputsByIndex final : public TaskInputs {
 public:
  explicit InputsByIndex(std::vector<Value> values) : values_(std::move(values)) {}
  const Value& Get(KeyId key) const override { return values_[key]; }

 private:
  std::vector<Value> values_;
};

// Runs registered C++ functions: no GIL, no foreign runtime unless an input is foreign.
class NativeTaskRunner final : public TaskRunner {
 public:
  TaskOutcome Run(const Key& key, const Payload& spec,
                  const std::vector<TaskInput>& inputs) override {
    TaskOutcome out;
    Result<Value> result = RunImpl(spec, inputs);
    if (result.ok()) {
      out.value = result.MoveValueUnsafe();
      return out;
    }
    out.kind = TaskOutcome::Kind::kError;
    // A Python client raises the exception type a kernel named (tegu/_errors.py).
    const Status& status = result.status();
    const std::string type = ErrorTypeOf(status);
    out.error = ErrorPayload("task " + key.ToString() + " failed: " +
                             (type.empty() ? status.ToString() : type + ": " + status.message()));
    return out;
  }

 private:
  static Result<Value> RunImpl(const Payload& spec, const std::vector<TaskInput>& inputs) {
    if (spec.frames.size() != 1) return Status::Invalid("a native task has one frame");
    TEGU_ASSIGN_OR_RAISE(auto handle, UnpackFrame(spec.frames[0], "native task"));
    const msgpack::object& root = handle.get();
    if (root.type != msgpack::type::ARRAY ||
        (root.via.array.size != 2 && root.via.array.size != 3) ||
        root.via.array.ptr[1].type != msgpack::type::ARRAY) {
      return Status::Invalid("malformed native task");
    }
    std::shared_ptr<const TaskFunction> fn;
    const msgpack::object& name = root.via.array.ptr[0];
    if (name.type == msgpack::type::STR) {
      TEGU_ASSIGN_OR_RAISE(fn, FindFunction(std::string(name.via.str.ptr, name.via.str.size)));
    } else if (name.type != msgpack::type::NIL) {
      return Status::Invalid("malformed native task: the function name is not a string");
    }
    // The spec names its dependencies in the order its references number them; the worker
    // hands inputs in the scheduler's order (sorted, deduplicated), so match them by key.
    std::vector<const TaskInput*> ordered;
    if (root.via.array.size == 3) {
      const msgpack::object& keys = root.via.array.ptr[2];
      if (keys.type != msgpack::type::ARRAY) {
        return Status::Invalid("malformed native task: no list of dependency keys");
      }
      std::unordered_map<Key, const TaskInput*> by_key;
      by_key.reserve(inputs.size());
      for (const TaskInput& in : inputs) by_key.emplace(in.key, &in);
      for (uint32_t i = 0; i < keys.via.array.size; ++i) {
        Key k;
        if (!internal::KeyFromObject(keys.via.array.ptr[i], &k)) {
          return Status::Invalid("malformed native task: dependency " + std::to_string(i) +
                                 " is not a key");
        }
        auto it = by_key.find(k);
        if (it == by_key.end()) {
          return Status::Invalid("native task input " + k.ToString() + " was not delivered");
        }
        ordered.push_back(it->second);
      }
    } else {
      // (Specs without keys: a reference numbers the inputs as delivered.)
      for (const TaskInput& in : inputs) ordered.push_back(&in);
    }
    std::vector<Value> values;
    values.reserve(ordered.size());
    for (const TaskInput* in : ordered) {
      TEGU_ASSIGN_OR_RAISE(Value v, Materialize(in->value));
      values.push_back(std::move(v));
    }
    std::vector<Arg> args;
    const msgpack::object& arr = root.via.array.ptr[1];
    for (uint32_t i = 0; i < arr.via.array.size; ++i) {
      TEGU_ASSIGN_OR_RAISE(Arg a, UnpackArg(arr.via.array.ptr[i], values.size(), 0));
      args.push_back(std::move(a));
    }
    InputsByIndex resolved(std::move(values));
    TaskSpec task(std::move(fn), std::move(args));
    try {
      return task.Call(resolved);
    } catch (const StatusError& e) {
      return e.status();  // keeps its detail (the Python type a kernel's error names)
    } catch (const std::exception& e) {
      return Status(StatusCode::kTaskError, std::string("C++ exception: ") + e.what());
    }
  }
};

[[maybe_unused]] const bool kNativeRunnerRegistered = [] {
  RegisterTaskRunner("native-task", std::make_shared<NativeTaskRunner>());
  return true;
}();

}  // namespace

Result<Payload> EncodeNativeCall(const std::string& name, const std::vector<Arg>& args,
                                 const std::vector<Key>& dependencies) {
  msgpack::sbuffer buffer(kSmallBufferBytes);
  msgpack::packer<msgpack::sbuffer> pk(buffer);
  pk.pack_array(dependencies.empty() ? 2 : 3);
  if (name.empty()) {
    pk.pack_nil();
  } else {
    pk.pack_str(static_cast<uint32_t>(name.size()));
    pk.pack_str_body(name.data(), static_cast<uint32_t>(name.size()));
  }
  pk.pack_array(static_cast<uint32_t>(args.size()));
  for (const Arg& a : args) TEGU_RETURN_NOT_OK(PackArg(pk, a, dependencies.size()));
  if (!dependencies.empty()) {
    pk.pack_array(static_cast<uint32_t>(dependencies.size()));
    for (const Key& k : dependencies) internal::PackKey(pk, k);
  }
  Payload p{"native-task", {}};
  p.frames.push_back(FromSbuffer(std::move(buffer)));
  return p;
}

Result<Payload> EncodeNativeTask(const TaskSpec& spec, const std::vector<Key>& dependencies) {
  if (!spec.kwargs().empty()) {
    return Status::NotImplemented("keyword arguments of native tasks sent to a cluster");
  }
  std::string name;
  if (!spec.is_identity()) {
    name = spec.fn()->name();
    auto registered = FindFunction(name);
    if (!registered.ok() || registered.ValueUnsafe() != spec.fn()) {
      return Status::TypeError("function '" + name +
                               "' is not a registered native function (TEGU_REGISTER): a "
                               "cluster's workers find functions by name");
    }
  }
  return EncodeNativeCall(name, spec.args(), dependencies);
}

}  // namespace tegu::distributed
