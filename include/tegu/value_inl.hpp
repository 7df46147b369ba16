// Implementation of tegu::ValueAs (kept out of value.hpp for readability).
// Thread-safety: see value.hpp.
#pragma once

#include <cstdint>

namespace tegu {
namespace internal {
// Numeric conversions a typed native function accepts: any number for a floating-point
// parameter, integers and bools only for an integral one (1.5 is not silently truncated).
template <class T>
bool ArithmeticFrom(const Value& value, T* out) {
  if constexpr (std::is_arithmetic_v<T>) {
    if (auto* p = value.TryGet<int64_t>()) { *out = static_cast<T>(*p); return true; }
    if (auto* p = value.TryGet<int>()) { *out = static_cast<T>(*p); return true; }
    if (auto* p = value.TryGet<bool>()) { *out = static_cast<T>(*p); return true; }
    if constexpr (std::is_floating_point_v<T>) {
      if (auto* p = value.TryGet<double>()) { *out = static_cast<T>(*p); return true; }
      if (auto* p = value.TryGet<float>()) { *out = static_cast<T>(*p); return true; }
    }
  }
  return false;
}
Status TypeMismatch(const Value& value, const std::type_info& target);

template <class T>
struct IsVector : std::false_type {};
template <class U, class A>
struct IsVector<std::vector<U, A>> : std::true_type {};
}  // namespace internal

template <class T>
Result<T> ValueAs(const Value& value) {
  if constexpr (std::is_same_v<T, Value>) {
    return value;
  } else {
    if (const T* p = value.TryGet<T>()) return *p;
    if constexpr (internal::IsVector<T>::value) {
      // A list argument arrives as a ValueList; convert it item by item.
      if (const ValueList* items = value.TryGet<ValueList>()) {
        T out;
        out.reserve(items->size());
        for (const Value& item : *items) {
          auto r = ValueAs<typename T::value_type>(item);
          if (!r.ok()) return r.status();
          out.push_back(r.MoveValueUnsafe());
        }
        return out;
      }
    }
    T converted{};
    if (internal::ArithmeticFrom<T>(value, &converted)) return converted;
    if (value.is_foreign()) {
      if (auto coerce = internal::GetForeignCoercer()) {
        Result<Value> native = coerce(value, typeid(T));
        if (!native.ok()) return native.status();
        if (const T* p = native.ValueUnsafe().template TryGet<T>()) return *p;
        if (internal::ArithmeticFrom<T>(native.ValueUnsafe(), &converted)) return converted;
      }
    }
    return internal::TypeMismatch(value, typeid(T));
  }
}

}  // namespace tegu
