// The distributed C++ API, after dask.distributed: a Client connected to a scheduler submits
// calls of registered native functions (TEGU_REGISTER, or the built-ins "tegu.inc", "tegu.add",
// "tegu.sum", ...) and gets Futures back; a LocalCluster runs a scheduler and workers inside
// this process.
//
//   tegu::LocalCluster cluster({.n_workers = 2});
//   tegu::Client client(cluster);
//   tegu::Future<int64_t> a = client.submit<int64_t>("tegu.inc", 1);
//   tegu::Future<int64_t> b = client.submit<int64_t>("tegu.add", a, 10);   // a is a dependency
//   std::vector<tegu::Future<int64_t>> xs = client.map<int64_t>("tegu.square", inputs);
//   std::vector<int64_t> values = client.gather(xs);
//   int64_t y = b.result();                                                 // 12
//
// Arguments are native literals (integers, double, bool, strings, std::vector of these, or a
// tegu::Value holding such), Futures of this client, or std::vectors of Futures (a list of
// their values). Keys are as in Dask: "<function>-<token of the arguments>" for pure calls (the
// same call gives the same key, computed once), a fresh token for impure ones, or the key given
// in SubmitOptions.
//
// Futures are reference counted per key: every Future of a key shares one handle, and when the
// last one is destroyed (or release()d) the client tells the scheduler it no longer wants the
// key, so its result is freed on the workers once nothing else needs it.
//
// A program becomes a worker with RunWorker(argc, argv) (the options of `tegu worker`), so that
// every function it registered with TEGU_REGISTER can be called by a cluster's tasks.
//
// Naming: the calls a Dask user knows keep Dask's lower-case names (submit, map, gather, result,
// done, wait, release); the rest follows the house style.
//
// Thread-safety: Client, Future and LocalCluster methods may be called from any thread; a Future
// may be copied and destroyed on any thread. A Client or LocalCluster object itself must not be
// moved or destroyed while another thread uses it.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "tegu/key.hpp"
#include "tegu/result.hpp"
#include "tegu/value.hpp"

namespace tegu {

namespace distributed {
class ClientCore;
}  // namespace distributed

/// A task of a cluster failed. what() is the remote error text (the task's exception, or why
/// the scheduler gave up on it); kind() is the scheduler's reason: "task-raised",
/// "killed-worker", "missing-dependency", "lost-data" or "cycle".
class TaskFailed : public StatusError {
 public:
  TaskFailed(Status status, Key key, std::string kind)
      : StatusError(std::move(status)), key_(std::move(key)), kind_(std::move(kind)) {}
  /// The key whose result was asked for (the failing task may be one of its dependencies).
  const Key& key() const { return key_; }
  const std::string& kind() const { return kind_; }

 private:
  Key key_;
  std::string kind_;
};

/// The task was running on too many workers that died (Dask's KilledWorker).
class KilledWorker final : public TaskFailed {
 public:
  using TaskFailed::TaskFailed;
};

// ---- LocalCluster --------------------------------------------------------------------------

struct LocalClusterOptions {
  int n_workers = 2;
  int threads_per_worker = 1;
  /// The interface the scheduler and the workers listen on.
  std::string host = "127.0.0.1";
  /// Bytes per worker; 0 = no limit.
  uint64_t memory_limit = 0;
};

/// A scheduler and `n_workers` workers in this process, on loopback TCP, with a fresh secret.
class LocalCluster {
 public:
  /// Starts the cluster; fails when a listener cannot be opened.
  static Result<LocalCluster> Start(LocalClusterOptions options = {});
  /// As Start, throwing StatusError on failure.
  explicit LocalCluster(LocalClusterOptions options = {});
  ~LocalCluster();  // Close()
  LocalCluster(LocalCluster&&) noexcept;
  LocalCluster& operator=(LocalCluster&&) noexcept;

  /// "tcp://HOST:PORT" of the scheduler.
  const std::string& scheduler_address() const;
  /// The secret every peer of this cluster must prove it holds.
  const std::string& secret() const;
  /// The workers' own addresses.
  std::vector<std::string> worker_addresses() const;
  /// Stops the workers, then the scheduler. Clients connected to it are disconnected.
  void Close();

  /// Keys held in each worker's data store now (test inspection).
  std::vector<size_t> TEST_WorkerDataCounts() const;

 private:
  struct Impl;
  explicit LocalCluster(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// ---- Futures -------------------------------------------------------------------------------

class Client;

namespace internal {

struct ClientState;

/// One key a client wants, shared by all the Futures of that key; the last one to be
/// destroyed releases the key.
class FutureRef {
 public:
  FutureRef(std::shared_ptr<ClientState> client, Key key);
  ~FutureRef();
  FutureRef(const FutureRef&) = delete;
  FutureRef& operator=(const FutureRef&) = delete;
  const Key& key() const { return key_; }
  const std::shared_ptr<ClientState>& client() const { return client_; }

 private:
  std::shared_ptr<ClientState> client_;
  Key key_;
};

/// The value of a future's key: waits, gathers, throws TaskFailed / StatusError.
Value FutureValue(const FutureRef* ref);
bool FutureDone(const FutureRef* ref);
bool FutureWait(const FutureRef* ref, std::optional<std::chrono::milliseconds> timeout);
/// The values of several keys of one client, fetched with one gather request.
std::vector<Value> GatherValues(const std::vector<const FutureRef*>& refs);
[[noreturn]] void ThrowReleased();
[[noreturn]] void ThrowConversion(const Key& key, const Status& status);

template <class T>
struct IsStdVector : std::false_type {};
template <class U, class A>
struct IsStdVector<std::vector<U, A>> : std::true_type {};

/// A literal argument's native Value: integers become int64_t, floats double, strings
/// std::string, vectors lists.
template <class D>
Value NativeLiteral(const D& v) {
  if constexpr (std::is_same_v<D, Value>) {
    return v;
  } else if constexpr (std::is_same_v<D, bool>) {
    return Value::From(v);
  } else if constexpr (std::is_integral_v<D>) {
    return Value::From(static_cast<int64_t>(v));
  } else if constexpr (std::is_floating_point_v<D>) {
    return Value::From(static_cast<double>(v));
  } else if constexpr (std::is_convertible_v<const D&, std::string_view>) {
    return Value::From(std::string(std::string_view(v)));
  } else if constexpr (IsStdVector<D>::value) {
    using Item = typename D::value_type;
    ValueList items;
    items.reserve(v.size());
    for (const auto& item : v) items.push_back(NativeLiteral<Item>(static_cast<Item>(item)));
    return Value::From(std::move(items));
  } else {
    static_assert(sizeof(D) == 0,
                  "a cluster task's literal argument must be an integer, double, bool, string, "
                  "tegu::Value or std::vector of these");
    return Value();
  }
}

/// A submitted call's argument before it is encoded: a literal, a Future's key, or a list.
struct CallArg {
  Value literal;
  std::shared_ptr<FutureRef> ref;
  std::vector<CallArg> items;
  bool is_list = false;
};

struct Call {
  std::string function;
  std::vector<CallArg> args;
};

}  // namespace internal

/// The eventual result of a task on a cluster (Dask's Future). Copies share the key's handle.
template <class T>
class Future {
 public:
  using value_type = T;
  Future() = default;
  explicit Future(std::shared_ptr<internal::FutureRef> ref) : ref_(std::move(ref)) {}

  /// Whether this Future still holds its key (false once released or default-built).
  bool valid() const { return ref_ != nullptr; }
  const Key& key() const {
    if (!ref_) internal::ThrowReleased();
    return ref_->key();
  }
  /// Whether the task finished (in memory or erred); does not block.
  bool done() const { return internal::FutureDone(ref_.get()); }
  /// Waits until done, or until `timeout` passes; returns done().
  bool wait(std::optional<std::chrono::milliseconds> timeout = std::nullopt) const {
    return internal::FutureWait(ref_.get(), timeout);
  }
  /// Waits and fetches the value. A failed task throws TaskFailed (KilledWorker when workers
  /// died running it) with the remote error text; a lost connection throws StatusError.
  T result() const {
    Value value = internal::FutureValue(ref_.get());
    return Convert(value);
  }
  /// Drops this Future's share of the key (the key is released when no Future holds it).
  void release() { ref_.reset(); }

  const std::shared_ptr<internal::FutureRef>& ref() const { return ref_; }

 private:
  friend class Client;
  T Convert(const Value& value) const {
    if constexpr (std::is_same_v<T, Value>) {
      return value;
    } else {
      Result<T> r = ValueAs<T>(value);
      if (!r.ok()) internal::ThrowConversion(key(), r.status());
      return r.MoveValueUnsafe();
    }
  }

  std::shared_ptr<internal::FutureRef> ref_;
};

namespace internal {
template <class T>
struct IsFuture : std::false_type {};
template <class T>
struct IsFuture<Future<T>> : std::true_type {};
template <class T>
struct IsFutureVector : std::false_type {};
template <class T, class A>
struct IsFutureVector<std::vector<Future<T>, A>> : std::true_type {};

template <class A>
CallArg ToCallArg(const A& arg) {
  using D = std::decay_t<const A&>;  // a string literal is a const char*
  CallArg out;
  if constexpr (IsFuture<D>::value) {
    if (!arg.valid()) ThrowReleased();
    out.ref = arg.ref();
  } else if constexpr (IsFutureVector<D>::value) {
    out.is_list = true;
    out.items.reserve(arg.size());
    for (const auto& item : arg) out.items.push_back(ToCallArg(item));
  } else {
    out.literal = NativeLiteral<D>(arg);
  }
  return out;
}
}  // namespace internal

// ---- Client --------------------------------------------------------------------------------

struct SubmitOptions {
  /// The task's key; empty: "<function>-<token>".
  std::string key;
  /// A pure call's key is a token of the function and its arguments, so the same call is
  /// computed once; an impure call gets a fresh key every time.
  bool pure = true;
  /// Higher runs earlier among tasks that are ready together.
  int32_t priority = 0;
  /// How often the task is retried after it raised.
  uint32_t retries = 0;
  /// Restrict the task to these worker addresses.
  std::vector<std::string> workers;
  bool allow_other_workers = false;
};

class Client {
 public:
  /// Connects to the scheduler at `address` ("tcp://HOST:PORT" or "unix:///path"). An empty
  /// secret is read from the environment variable TEGU_SECRET.
  static Result<Client> Connect(const std::string& address, const std::string& secret = "",
                                std::chrono::milliseconds timeout = std::chrono::seconds(10));
  /// Connects to a LocalCluster; throws StatusError on failure.
  explicit Client(LocalCluster& cluster);
  ~Client();  // Close()
  Client(Client&&) noexcept;
  Client& operator=(Client&&) noexcept;

  const std::string& scheduler_address() const;

  /// Calls the registered native function `function` with `args` on the cluster.
  template <class T, class... A>
  Future<T> submit(const std::string& function, const A&... args) {
    return submit_with<T>(SubmitOptions{}, function, args...);
  }
  template <class T, class... A>
  Future<T> submit_with(const SubmitOptions& options, const std::string& function,
                        const A&... args) {
    std::vector<internal::Call> calls(1);
    calls[0].function = function;
    (calls[0].args.push_back(internal::ToCallArg(args)), ...);
    return Future<T>(std::move(SubmitCalls(std::move(calls), options).front()));
  }

  /// Calls `function` once per element (Dask client.map): with several sequences, the i-th
  /// call takes the i-th element of each. All the tasks go to the scheduler in one message.
  template <class T, class... V>
  std::vector<Future<T>> map(const std::string& function, const std::vector<V>&... iterables) {
    static_assert(sizeof...(V) > 0, "map needs at least one sequence");
    const size_t n = std::get<0>(std::forward_as_tuple(iterables...)).size();
    if (((iterables.size() != n) || ...)) {
      throw StatusError(Status::Invalid("map: the sequences have different lengths"));
    }
    std::vector<internal::Call> calls(n);
    for (size_t i = 0; i < n; ++i) {
      calls[i].function = function;
      (calls[i].args.push_back(internal::ToCallArg(static_cast<const V&>(iterables[i]))), ...);
    }
    auto refs = SubmitCalls(std::move(calls), SubmitOptions{});
    std::vector<Future<T>> out;
    out.reserve(refs.size());
    for (auto& r : refs) out.emplace_back(std::move(r));
    return out;
  }

  /// The values of `futures`, in order, fetched with one gather request. The first failed
  /// task throws as Future::result() does.
  template <class T>
  std::vector<T> gather(const std::vector<Future<T>>& futures) {
    std::vector<const internal::FutureRef*> refs;
    refs.reserve(futures.size());
    for (const Future<T>& f : futures) {
      if (!f.valid()) internal::ThrowReleased();
      refs.push_back(f.ref().get());
    }
    std::vector<Value> values = internal::GatherValues(refs);
    std::vector<T> out;
    out.reserve(values.size());
    for (size_t i = 0; i < values.size(); ++i) out.push_back(futures[i].Convert(values[i]));
    return out;
  }

  /// Number of workers the scheduler knows now (asks it).
  size_t WorkerCount();
  /// Disconnects; Futures of this client can no longer be waited on.
  void Close();
  /// Asks the scheduler to shut down (Dask client.shutdown()), then disconnects.
  void Shutdown();

  /// The connection shared with the Python front end (lower-level operations, tests).
  const std::shared_ptr<distributed::ClientCore>& core() const;

 private:
  explicit Client(std::shared_ptr<internal::ClientState> state);
  std::vector<std::shared_ptr<internal::FutureRef>> SubmitCalls(std::vector<internal::Call> calls,
                                                                const SubmitOptions& options);
  std::shared_ptr<internal::ClientState> state_;
};

// ---- processes -----------------------------------------------------------------------------

/// Runs this program as a worker of a cluster until the scheduler goes away or SIGINT/SIGTERM:
/// argv[0] is the program, the rest are the arguments of `tegu worker` (ADDRESS, --nthreads,
/// --memory-limit, --name, --listen-address, --secret, --secret-file). Every function this
/// program registered (TEGU_REGISTER) can be called by the cluster's tasks. Returns the exit
/// code: 0 after a clean shutdown, 1 when the scheduler cannot be reached or refuses the worker,
/// 2 for bad options.
int RunWorker(int argc, char** argv);

}  // namespace tegu
