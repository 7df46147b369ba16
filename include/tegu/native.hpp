// Native task functions: ordinary C++ functions and lambdas wrapped as TaskFunctions, and the
// process-wide registry of named native functions (TEGU_REGISTER), which is how a task names the
// C++ function it calls — from Python (tegu.native("name")) and, later, across processes.
//
// Thread-safety: NativeFunction::Call is safe concurrently if the wrapped callable is. The
// registry is guarded by a mutex; registration normally happens during static initialisation.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "tegu/result.hpp"
#include "tegu/task_spec.hpp"
#include "tegu/value.hpp"

namespace tegu {

namespace internal {
template <class T>
struct FunctionTraits : FunctionTraits<decltype(&T::operator())> {};
template <class R, class... A>
struct FunctionTraits<R (*)(A...)> {
  using Result = R;
  using Args = std::tuple<std::decay_t<A>...>;
};
template <class R, class... A>
struct FunctionTraits<R (&)(A...)> : FunctionTraits<R (*)(A...)> {};
template <class R, class... A>
struct FunctionTraits<R(A...)> : FunctionTraits<R (*)(A...)> {};
template <class C, class R, class... A>
struct FunctionTraits<R (C::*)(A...) const> : FunctionTraits<R (*)(A...)> {};
template <class C, class R, class... A>
struct FunctionTraits<R (C::*)(A...)> : FunctionTraits<R (*)(A...)> {};

/// The argument types a native callable takes, when they can be deduced (no generic lambdas).
template <class F>
using NativeArgs = typename FunctionTraits<std::decay_t<F>>::Args;
template <class F>
using NativeResult = typename FunctionTraits<std::decay_t<F>>::Result;
}  // namespace internal

/// A typed C++ callable as a TaskFunction: arguments are resolved and converted to the
/// parameter types (a wrong type is a TypeError naming the argument), the result is wrapped.
template <class F>
class NativeFunction final : public TaskFunction {
 public:
  using Args = internal::NativeArgs<F>;
  using R = internal::NativeResult<F>;

  NativeFunction(std::string name, F fn) : name_(std::move(name)), fn_(std::move(fn)) {}
  std::string name() const override { return name_; }

  Result<Value> Call(const TaskSpec& spec, const TaskInputs& inputs) const override {
    constexpr size_t kArity = std::tuple_size_v<Args>;
    if (spec.args().size() != kArity || !spec.kwargs().empty()) {
      return Status::TypeError(name_ + "() takes " + std::to_string(kArity) +
                               (kArity == 1 ? " argument" : " arguments") + ", got " +
                               std::to_string(spec.args().size() + spec.kwargs().size()));
    }
    return CallWith(spec, inputs, std::make_index_sequence<kArity>{});
  }

 private:
  template <size_t... I>
  Result<Value> CallWith(const TaskSpec& spec, const TaskInputs& inputs,
                         std::index_sequence<I...>) const {
    Status failed;
    auto convert = [&]<size_t J>(std::integral_constant<size_t, J>) {
      using T = std::tuple_element_t<J, Args>;
      if (!failed.ok()) return T{};
      Result<T> r = ValueAs<T>(ResolveArgNative(spec.args()[J], inputs));
      if (!r.ok()) {
        failed = Status::TypeError(name_ + "(): argument " + std::to_string(J) + ": " +
                                   r.status().message());
        return T{};
      }
      return r.MoveValueUnsafe();
    };
    Args args{convert(std::integral_constant<size_t, I>{})...};
    if (!failed.ok()) return failed;
    if constexpr (std::is_void_v<R>) {
      std::apply(fn_, std::move(args));
      return Value();
    } else if constexpr (std::is_same_v<std::decay_t<R>, Value>) {
      return std::apply(fn_, std::move(args));
    } else {
      return Value::From(std::apply(fn_, std::move(args)));
    }
  }

  std::string name_;
  F fn_;
};

template <class F>
std::shared_ptr<const TaskFunction> MakeNativeFunction(std::string name, F fn) {
  return std::make_shared<NativeFunction<std::decay_t<F>>>(std::move(name), std::move(fn));
}

/// Registers `fn` under `name`; a later registration of the same name replaces it.
bool RegisterFunction(const std::string& name, std::shared_ptr<const TaskFunction> fn);
template <class F>
bool RegisterNative(const std::string& name, F fn) {
  return RegisterFunction(name, MakeNativeFunction(name, std::move(fn)));
}
/// The function registered as `name`, or a KeyError naming it.
Result<std::shared_ptr<const TaskFunction>> FindFunction(const std::string& name);
std::vector<std::string> RegisteredFunctionNames();

}  // namespace tegu

/// Registers a free function under its own name: TEGU_REGISTER(my_kernel);
#define TEGU_REGISTER(fn)                                              \
  [[maybe_unused]] static const bool TEGU_CONCAT(_tegu_registered_, __LINE__) = \
      ::tegu::RegisterNative(#fn, fn)
