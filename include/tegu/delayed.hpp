// The typed C++ front end, after dask.delayed:
//
//   auto inc = tegu::delayed([](int64_t x) { return x + 1; }, "inc");
//   tegu::Delayed<int64_t> a = inc(1), b = inc(a);
//   auto [x, y] = tegu::compute(a, b);   // threaded scheduler; tegu::compute_with for options
//
// Arguments may be plain values, Delayed<U> values, or std::vector<Delayed<U>> (passed to the
// function as std::vector<U>). Building Delayed values only records tasks; compute() culls,
// optimises and runs them with the local executors.
//
// Thread-safety: Delayed values are immutable handles and may be shared between threads.
#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "tegu/dot.hpp"
#include "tegu/graph.hpp"
#include "tegu/local.hpp"
#include "tegu/native.hpp"
#include "tegu/task_error.hpp"

namespace tegu {

namespace internal {

struct DelayedNode;

/// An argument as recorded before a graph exists: a literal, a node, or a list of arguments.
struct DelayedArg {
  Value literal;
  std::shared_ptr<const DelayedNode> node;
  std::vector<DelayedArg> items;
  bool is_list = false;
};

struct DelayedNode {
  Key key;
  std::shared_ptr<const TaskFunction> fn;
  std::vector<DelayedArg> args;
  ~DelayedNode();  // releases long chains iteratively, not recursively
};

/// A fresh key "name-<counter>" unique in this process.
Key UniqueKey(const std::string& name);

/// Builds the graph of `roots` and their ancestors; returns the root keys' ids.
std::vector<KeyId> BuildGraph(std::span<const std::shared_ptr<const DelayedNode>> roots,
                              Graph* graph);
}  // namespace internal

template <class T>
class Delayed {
 public:
  using value_type = T;
  explicit Delayed(std::shared_ptr<const internal::DelayedNode> node) : node_(std::move(node)) {}
  const Key& key() const { return node_->key; }
  const std::shared_ptr<const internal::DelayedNode>& node() const { return node_; }
  /// Computes this value with the threaded scheduler.
  T Compute(const ComputeOptions& options = {}) const;

 private:
  std::shared_ptr<const internal::DelayedNode> node_;
};

namespace internal {
template <class T>
struct Unwrap {
  using type = T;
};
template <class T>
struct Unwrap<Delayed<T>> {
  using type = T;
};
template <class T>
struct Unwrap<std::vector<Delayed<T>>> {
  using type = std::vector<T>;
};

template <class A>
DelayedArg ToDelayedArg(A&& arg) {
  using D = std::decay_t<A>;
  DelayedArg out;
  if constexpr (requires { typename D::value_type; std::declval<D>().node(); }) {
    out.node = arg.node();
  } else if constexpr (IsVector<D>::value &&
                       requires { std::declval<typename D::value_type>().node(); }) {
    out.is_list = true;
    for (const auto& item : arg) out.items.push_back(ToDelayedArg(item));
  } else {
    out.literal = Value::From(D(std::forward<A>(arg)));
  }
  return out;
}
}  // namespace internal

/// A callable that records a task each time it is called.
template <class F>
class DelayedFunction {
 public:
  DelayedFunction(F fn, std::string name)
      : name_(std::move(name)), fn_(MakeNativeFunction(name_, std::move(fn))) {}

  template <class... A>
  auto operator()(A&&... args) const {
    using R = std::invoke_result_t<const F&, typename internal::Unwrap<std::decay_t<A>>::type...>;
    auto node = std::make_shared<internal::DelayedNode>();
    node->key = internal::UniqueKey(name_);
    node->fn = fn_;
    (node->args.push_back(internal::ToDelayedArg(std::forward<A>(args))), ...);
    return Delayed<R>(std::move(node));
  }

 private:
  std::string name_;
  std::shared_ptr<const TaskFunction> fn_;
};

/// Wraps a function or lambda (with deducible parameter types) so calls record tasks.
template <class F>
DelayedFunction<std::decay_t<F>> delayed(F&& fn, std::string name = "task") {
  return DelayedFunction<std::decay_t<F>>(std::forward<F>(fn), std::move(name));
}

/// Computes several Delayed values together with `options`; returns a tuple of their values.
/// A task's C++ exception is rethrown as itself; other failures throw StatusError.
template <class... D>
std::tuple<typename D::value_type...> compute_with(const ComputeOptions& options,
                                                   const D&... values) {
  std::vector<std::shared_ptr<const internal::DelayedNode>> roots{values.node()...};
  Graph graph;
  std::vector<KeyId> outputs = internal::BuildGraph(roots, &graph);
  Result<std::vector<Value>> result = tegu::Compute(std::move(graph), outputs, options);
  if (!result.ok()) ThrowStatus(result.status());
  std::vector<Value>& out = result.ValueUnsafe();
  size_t i = 0;
  auto take = [&]<class T>(std::type_identity<T>) -> T {
    Result<T> r = ValueAs<T>(out[i++]);
    if (!r.ok()) throw StatusError(r.status());
    return r.MoveValueUnsafe();
  };
  return std::tuple<typename D::value_type...>{
      take(std::type_identity<typename D::value_type>{})...};
}

/// compute(a) returns a's value; compute(a, b, ...) returns a tuple (structured bindings).
/// The scheduler and its settings come from tegu::config (threads by default).
template <class... D>
auto compute(const D&... values) {
  auto result = compute_with(ComputeOptions::FromConfig().ValueOrThrow(), values...);
  if constexpr (sizeof...(D) == 1) {
    return std::get<0>(std::move(result));
  } else {
    return result;
  }
}

template <class T>
T Delayed<T>::Compute(const ComputeOptions& options) const {
  return std::get<0>(compute_with(options, *this));
}

/// Renders the graph of `values` to `filename` (.dot, .svg, .png, ...). See dot.hpp.
template <class... D>
Status visualize(const std::string& filename, const D&... values) {
  std::vector<std::shared_ptr<const internal::DelayedNode>> roots{values.node()...};
  Graph graph;
  internal::BuildGraph(roots, &graph);
  return RenderGraph(graph, filename);
}

}  // namespace tegu
