// Task specifications: what a task calls (a TaskFunction) and with what arguments (Args, which
// are literals, references to other keys, or lists/tuples/dicts nesting both — as in Dask).
//
// Thread-safety: Arg, TaskSpec and Task are immutable once built and may be shared between
// threads. TaskFunction implementations must allow concurrent Call()s.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "tegu/key.hpp"
#include "tegu/result.hpp"
#include "tegu/value.hpp"

namespace tegu {

/// One argument of a task.
class Arg {
 public:
  enum class Kind : uint8_t { kLiteral, kRef, kList, kTuple, kDict };

  Arg() = default;
  static Arg Literal(Value value);
  static Arg Ref(KeyId key);
  static Arg List(std::vector<Arg> items);
  static Arg Tuple(std::vector<Arg> items);
  /// A dict whose keys are literal Values and whose values are Args.
  static Arg Dict(std::vector<Value> keys, std::vector<Arg> values);

  Kind kind() const { return kind_; }
  KeyId ref() const { return ref_; }
  const Value& literal() const { return literal_; }
  /// Items of a list or tuple; values of a dict.
  const std::vector<Arg>& items() const;
  /// Keys of a dict.
  const std::vector<Value>& dict_keys() const;
  bool HasRefs() const;

  /// Calls fn(KeyId) for every reference, nested ones included.
  template <class Fn>
  void ForEachRef(Fn&& fn) const {
    if (kind_ == Kind::kRef) {
      fn(ref_);
    } else if (compound_ && compound_->has_refs) {
      for (const Arg& item : compound_->items) item.ForEachRef(fn);
    }
  }
  /// A copy with every reference mapped through fn(KeyId) -> KeyId.
  template <class Fn>
  Arg MapRefs(Fn&& fn) const {
    if (kind_ == Kind::kRef) return Ref(fn(ref_));
    if (!compound_ || !compound_->has_refs) return *this;
    std::vector<Arg> mapped;
    mapped.reserve(compound_->items.size());
    for (const Arg& item : compound_->items) mapped.push_back(item.MapRefs(fn));
    return WithItems(std::move(mapped));
  }

 private:
  struct Compound {
    std::vector<Arg> items;
    std::vector<Value> keys;
    bool has_refs = false;
  };
  Arg WithItems(std::vector<Arg> items) const;

  Kind kind_ = Kind::kLiteral;
  KeyId ref_ = kNoKey;
  Value literal_;
  std::shared_ptr<const Compound> compound_;
};

/// Looks up the values of the keys a task refers to while it runs.
class TaskInputs {
 public:
  virtual ~TaskInputs() = default;
  /// The value of `key`; the executor guarantees every referenced key is available.
  virtual const Value& Get(KeyId key) const = 0;
};

class TaskSpec;

/// What a task calls. Native functions, Python callables and identity are TaskFunctions.
class TaskFunction {
 public:
  virtual ~TaskFunction() = default;
  /// Shown in DOT renderings and used to name keys.
  virtual std::string name() const = 0;
  /// Cheap functions (getitem, literals) may be inlined into their dependents.
  virtual bool is_cheap() const { return false; }
  /// Whether Call() runs code of a foreign runtime that keeps a thread lease (the Python GIL)
  /// between tasks; the executor gives the lease back before running any other function.
  virtual bool uses_thread_lease() const { return false; }
  /// Runs the task. Exceptions from user code are caught and returned as a kTaskError Status.
  virtual Result<Value> Call(const TaskSpec& spec, const TaskInputs& inputs) const = 0;
};

/// A function and its arguments. A null function is the identity of the single argument: the
/// value of a literal task ({'x': 1}) or an alias ({'y': 'x'}).
class TaskSpec {
 public:
  TaskSpec() = default;
  TaskSpec(std::shared_ptr<const TaskFunction> fn, std::vector<Arg> args,
           std::vector<std::pair<std::string, Arg>> kwargs = {})
      : fn_(std::move(fn)), args_(std::move(args)), kwargs_(std::move(kwargs)) {}
  static TaskSpec Literal(Value value) { return TaskSpec(nullptr, {Arg::Literal(std::move(value))}); }
  static TaskSpec Alias(KeyId key) { return TaskSpec(nullptr, {Arg::Ref(key)}); }

  const std::shared_ptr<const TaskFunction>& fn() const { return fn_; }
  const std::vector<Arg>& args() const { return args_; }
  const std::vector<std::pair<std::string, Arg>>& kwargs() const { return kwargs_; }
  bool is_identity() const { return fn_ == nullptr; }
  bool is_cheap() const { return fn_ == nullptr || fn_->is_cheap(); }
  std::string FunctionName() const { return fn_ ? fn_->name() : std::string("identity"); }

  template <class Fn>
  void ForEachRef(Fn&& fn) const {
    for (const Arg& a : args_) a.ForEachRef(fn);
    for (const auto& kv : kwargs_) kv.second.ForEachRef(fn);
  }
  template <class Fn>
  TaskSpec MapRefs(Fn&& fn) const {
    TaskSpec out(fn_, {}, {});
    out.args_.reserve(args_.size());
    for (const Arg& a : args_) out.args_.push_back(a.MapRefs(fn));
    for (const auto& kv : kwargs_) out.kwargs_.emplace_back(kv.first, kv.second.MapRefs(fn));
    return out;
  }
  /// Runs the spec (identity included).
  Result<Value> Call(const TaskInputs& inputs) const;

 private:
  std::shared_ptr<const TaskFunction> fn_;
  std::vector<Arg> args_;
  std::vector<std::pair<std::string, Arg>> kwargs_;
};

/// A step run inside another task before its own spec: the result of fusing a linear chain or
/// inlining a cheap task. Later steps and the task's spec may refer to `key`.
struct TaskStep {
  KeyId key;
  TaskSpec spec;
};

/// A task as stored in a graph: its spec plus the steps fused or inlined into it.
struct Task {
  TaskSpec spec;
  std::vector<TaskStep> prelude;
};

/// Resolves an argument to a native Value: a reference to its value, a list or tuple to a
/// ValueList, a dict to a ValueList of (key, value) pairs, a literal to itself.
Value ResolveArgNative(const Arg& arg, const TaskInputs& inputs);

}  // namespace tegu
