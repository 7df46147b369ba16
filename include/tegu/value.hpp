// Value: a type-erased, immutable, shared handle to the result of a task or a literal argument.
// Native values (int64_t, double, std::string, ValueList, any copyable C++ type) and foreign
// values (a Python object held by the Python front end) are both Values.
//
// Thread-safety: copying and destroying Values is safe from any thread (the holder is reference
// counted atomically, and a foreign holder's destructor takes whatever lock its runtime needs).
// The held object is never mutated after construction.
#pragma once

#include <memory>
#include <string>
#include <type_traits>
#include <typeinfo>
#include <utility>
#include <vector>

#include "tegu/result.hpp"

namespace tegu {

class Value;

namespace internal {
class ValueHolderBase {
 public:
  virtual ~ValueHolderBase() = default;
  virtual const std::type_info& type() const = 0;
  virtual const void* address() const = 0;
  /// Whether this holds a value owned by a foreign runtime (Python).
  virtual bool is_foreign() const { return false; }
  /// The type's name for error messages ("int", "str", "list", a C++ or Python type name).
  virtual std::string TypeName() const;
};

/// A readable name for a native type: int, float, bool, str and list for the common ones.
std::string FriendlyTypeName(const std::type_info& type);

template <class T>
class ValueHolder final : public ValueHolderBase {
 public:
  explicit ValueHolder(T value) : value_(std::move(value)) {}
  const std::type_info& type() const override { return typeid(T); }
  const void* address() const override { return &value_; }

 private:
  T value_;
};

/// Converts a foreign value (e.g. a Python int) to the native type a typed function expects.
/// Installed by a front end; returns an error Status when no conversion exists.
using ForeignCoercer = Result<Value> (*)(const Value& value, const std::type_info& target);
void SetForeignCoercer(ForeignCoercer coercer);
ForeignCoercer GetForeignCoercer();
}  // namespace internal

class Value {
 public:
  Value() = default;
  explicit Value(std::shared_ptr<const internal::ValueHolderBase> holder)
      : holder_(std::move(holder)) {}

  template <class T>
  static Value From(T value) {
    using U = std::decay_t<T>;
    return Value(std::make_shared<internal::ValueHolder<U>>(std::move(value)));
  }

  bool has_value() const { return holder_ != nullptr; }
  bool is_foreign() const { return holder_ && holder_->is_foreign(); }
  const std::type_info& type() const { return holder_ ? holder_->type() : typeid(void); }
  /// The held object if it has exactly type T, else nullptr.
  template <class T>
  const T* TryGet() const {
    if (holder_ && holder_->type() == typeid(T)) return static_cast<const T*>(holder_->address());
    return nullptr;
  }
  const internal::ValueHolderBase* holder() const { return holder_.get(); }
  /// A short description for errors: the held type's name.
  std::string TypeName() const;

 private:
  std::shared_ptr<const internal::ValueHolderBase> holder_;
};

/// The native form of a list (or tuple) argument whose items were resolved to Values.
using ValueList = std::vector<Value>;

/// The value of type T held by `value`, converting a foreign value when a converter is installed.
/// Arithmetic types convert between each other (int64_t <-> double, int -> int64_t).
template <class T>
Result<T> ValueAs(const Value& value);

}  // namespace tegu

#include "tegu/value_inl.hpp"
