// Payloads: values, task specs and errors in their wire form — a kind plus frames. The
// scheduler never looks inside one (it forwards run specs and errors as they came, so it runs
// no user code and needs no Python); workers and clients convert with the functions here.
//
// Kinds: "native" (a msgpack-encoded native value: nil, bool, int, float, str, list), "pickle"
// (a Python object, pickle protocol 5: frame 0 the pickle, the rest its out-of-band buffers;
// converted by the serializer the Python front end installs), "native-task" (a registered C++
// function and its arguments), "python-task" (installed by the front end), "error" (frame 0:
// UTF-8 text; frames after it: a front end's form of the exception, e.g. a pickled one).
//
// A worker keeps a value that arrived from the network as its Payload (a Value holding a
// Payload) and converts it only when a task uses it: transfers between workers never take the
// GIL or copy through a foreign runtime.
//
// Thread-safety: the functions are thread-safe. Install hooks and runners at start-up, before
// any worker or client runs.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string_view>
#include <typeinfo>
#include <string>
#include <vector>

#include "tegu/key.hpp"
#include "tegu/protocol/message.hpp"
#include "tegu/result.hpp"
#include "tegu/task_spec.hpp"
#include "tegu/value.hpp"

namespace tegu::distributed {

class FieldReader;
class OpWriter;

struct Payload {
  std::string kind;
  std::vector<protocol::Buffer> frames;

  uint64_t byte_size() const {
    uint64_t n = 0;
    for (const auto& f : frames) n += f.size();
    return n;
  }
};

/// Writes `payload` into the op being written as two fields, its kind and its frame count, and
/// appends its frames to the message (docs/protocol.md, "payload").
void WritePayload(OpWriter& writer, Payload payload);
/// Reads what WritePayload wrote. A missing field or frame is recorded in `reader`'s status.
Payload ReadPayload(FieldReader& reader);

/// A foreign runtime's serializer (the Python front end installs pickle).
struct ForeignSerializer {
  /// The payload of a foreign value.
  Result<Payload> (*serialize)(const Value& value) = nullptr;
  /// A value from a payload whose kind is not "native".
  Result<Value> (*deserialize)(const Payload& payload) = nullptr;
  /// Estimated memory of a foreign value, in bytes.
  uint64_t (*size_of)(const Value& value) = nullptr;
};
void SetForeignSerializer(ForeignSerializer serializer);

/// A native C++ type with its own wire form — a collection's partition type (bag text
/// partitions, array chunks). Its payload kind must be unique and differ from the built-in ones.
struct NativeTypeCodec {
  std::string kind;
  const std::type_info* type = nullptr;
  Result<Payload> (*serialize)(const Value& value) = nullptr;
  /// Must validate what it reads: payloads come from the network.
  Result<Value> (*deserialize)(const Payload& payload) = nullptr;
  uint64_t (*size_of)(const Value& value) = nullptr;
};
/// Registers `codec` (a second registration of the same kind replaces the first). Thread-safe.
void RegisterNativeType(NativeTypeCodec codec);
/// Whether payloads of `kind` are native values ("native" or a registered type's kind): they
/// deserialize without a foreign runtime.
bool IsNativeKind(std::string_view kind);

/// A Value holding `payload` unconverted.
Value PayloadValue(Payload payload);
/// The payload a Value holds unconverted, or nullptr.
const Payload* AsPayload(const Value& value);

/// The wire form of `value` (a held payload is returned as is).
Result<Payload> Serialize(const Value& value);
/// The value of a payload: native kinds natively, others through the foreign serializer.
Result<Value> Deserialize(const Payload& payload);
/// `value` itself, or the deserialized value of a held payload.
Result<Value> Materialize(const Value& value);
/// Estimated memory of a value in bytes (what a worker reports as nbytes).
uint64_t SizeOf(const Value& value);

/// The payload of a native value (nil, bool, int64, double, string, ValueList of these).
Result<Payload> SerializeNative(const Value& value);

/// An error payload: `text` (type and message, traceback) plus a front end's own frames.
Payload ErrorPayload(std::string_view text, std::vector<protocol::Buffer> extra = {});
/// The text of an error payload.
std::string ErrorText(const Payload& error);

// ---- tasks ---------------------------------------------------------------------------------

/// A dependency's value handed to a task.
struct TaskInput {
  Key key;
  Value value;
};

/// How a task ended on a worker.
struct TaskOutcome {
  enum class Kind : uint8_t { kSuccess, kError, kReschedule };
  Kind kind = Kind::kSuccess;
  Value value;    ///< kSuccess
  Payload error;  ///< kError: an ErrorPayload
  /// kSuccess: SizeOf(value), when the runner measured it itself (a Python runner does while
  /// it still holds the GIL, sparing the worker a second acquisition per task).
  std::optional<uint64_t> nbytes;
};

/// Runs the tasks of one run-spec kind on a worker's executor threads.
class TaskRunner {
 public:
  virtual ~TaskRunner() = default;
  /// Runs `spec` with its dependencies' values (in the order of the task's dependency list).
  virtual TaskOutcome Run(const Key& key, const Payload& spec,
                          const std::vector<TaskInput>& inputs) = 0;
};
/// Installs the runner of `kind` (replacing any). "native-task" is built in.
void RegisterTaskRunner(const std::string& kind, std::shared_ptr<TaskRunner> runner);
std::shared_ptr<TaskRunner> FindTaskRunner(const std::string& kind);

/// The run spec of a native task: `spec`'s function must be a registered native function
/// (TEGU_REGISTER) or the identity; its references are resolved against `dependencies` (KeyId
/// i names dependencies[i]); literals must be native values.
Result<Payload> EncodeNativeTask(const TaskSpec& spec, const std::vector<Key>& dependencies);
/// A native task calling registered function `name` with `args`, which may be literal Values
/// or references to `dependencies` (Arg::Ref(i)).
Result<Payload> EncodeNativeCall(const std::string& name, const std::vector<Arg>& args,
                                 const std::vector<Key>& dependencies);

}  // namespace tegu::distributed
