// The public C++ distributed API (include/tegu/distributed.hpp) over ClientCore and the
// scheduler and worker services.
//
// Futures: the client keeps, per key, a weak reference to the one FutureRef its Futures share.
// Submitting a key that has a live FutureRef reuses it (the task is already wanted); the last
// FutureRef of a key to be destroyed sends release-keys. Both happen under the client's mutex,
// and so do the update-graph and release-keys sends, so the scheduler sees them in the order of
// the table's changes: a key destroyed and resubmitted at once is never released after it was
// wanted again.
#include <openssl/evp.h>

#include <cstdlib>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <unordered_set>

#include "tegu/distributed.hpp"
#include "tegu/distributed/cli.hpp"
#include "tegu/distributed/client_core.hpp"
#include "tegu/distributed/payload.hpp"
#include "tegu/distributed/scheduler_service.hpp"
#include "tegu/distributed/worker_service.hpp"
#include "tegu/protocol/handshake.hpp"

namespace tegu {

using distributed::ClientCore;
using distributed::KeyStatus;

namespace {

std::string Hex(const unsigned char* data, size_t n) {
  static const char* kHex = "0123456789abcdef";
  std::string out;
  out.reserve(2 * n);
  for (size_t i = 0; i < n; ++i) {
    out.push_back(kHex[data[i] >> 4]);
    out.push_back(kHex[data[i] & 15]);
  }
  return out;
}

// A token of a pure call: the first 128 bits of SHA-256 over its encoded run spec (function
// name and literal arguments) and its dependencies' keys, as 32 hex digits (the length of
// Dask's tokens).
std::string Token(const distributed::Payload& spec, const std::vector<Key>& dependencies) {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  EVP_DigestInit_ex(ctx, EVP_sha256(), nullptr);
  for (const auto& frame : spec.frames) {
    uint64_t size = frame.size();
    EVP_DigestUpdate(ctx, &size, sizeof size);
    EVP_DigestUpdate(ctx, frame.data(), frame.size());
  }
  for (const Key& k : dependencies) {
    std::string s = k.ToString();
    uint64_t size = s.size();
    EVP_DigestUpdate(ctx, &size, sizeof size);
    EVP_DigestUpdate(ctx, s.data(), s.size());
  }
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  EVP_DigestFinal_ex(ctx, digest, &length);
  EVP_MD_CTX_free(ctx);
  return Hex(digest, 16);
}

std::string SecretFromEnvironment() {
  const char* env = std::getenv("TEGU_SECRET");
  return env ? std::string(env) : std::string();
}

}  // namespace

// ---- LocalCluster --------------------------------------------------------------------------

struct LocalCluster::Impl {
  std::string secret = protocol::GenerateSecret();
  std::unique_ptr<distributed::SchedulerService> scheduler;
  std::string scheduler_address;
  std::vector<std::unique_ptr<distributed::WorkerService>> workers;
};

LocalCluster::LocalCluster(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
LocalCluster::LocalCluster(LocalClusterOptions options)
    : LocalCluster(Start(std::move(options)).ValueOrThrow()) {}
LocalCluster::~LocalCluster() { Close(); }
LocalCluster::LocalCluster(LocalCluster&&) noexcept = default;
LocalCluster& LocalCluster::operator=(LocalCluster&& other) noexcept {
  if (this != &other) {
    Close();
    impl_ = std::move(other.impl_);
  }
  return *this;
}

Result<LocalCluster> LocalCluster::Start(LocalClusterOptions options) {
  if (options.n_workers < 0) return Status::Invalid("LocalCluster: n_workers must be >= 0");
  if (options.threads_per_worker < 1) {
    return Status::Invalid("LocalCluster: threads_per_worker must be >= 1");
  }
  auto impl = std::make_unique<Impl>();
  distributed::SchedulerServiceOptions so;
  so.address = "tcp://" + options.host + ":0";
  so.secret = impl->secret;
  TEGU_ASSIGN_OR_RAISE(impl->scheduler, distributed::SchedulerService::Start(std::move(so)));
  impl->scheduler_address = impl->scheduler->address();
  for (int i = 0; i < options.n_workers; ++i) {
    distributed::WorkerServiceOptions wo;
    wo.scheduler_address = impl->scheduler_address;
    wo.secret = impl->secret;
    wo.listen_address = "tcp://" + options.host + ":0";
    wo.nthreads = options.threads_per_worker;
    wo.memory_limit = options.memory_limit;
    wo.name = "local-" + std::to_string(i);
    TEGU_ASSIGN_OR_RAISE(auto worker, distributed::WorkerService::Start(std::move(wo)));
    impl->workers.push_back(std::move(worker));
  }
  return LocalCluster(std::move(impl));
}

const std::string& LocalCluster::scheduler_address() const { return impl_->scheduler_address; }
const std::string& LocalCluster::secret() const { return impl_->secret; }

std::vector<std::string> LocalCluster::worker_addresses() const {
  std::vector<std::string> out;
  if (!impl_) return out;
  for (const auto& w : impl_->workers) out.push_back(w->address());
  return out;
}

void LocalCluster::Close() {
  if (!impl_) return;
  for (auto& w : impl_->workers) w->Close();
  impl_->workers.clear();
  if (impl_->scheduler) impl_->scheduler->Close();
  impl_->scheduler.reset();
}

std::vector<size_t> LocalCluster::TEST_WorkerDataCounts() const {
  std::vector<size_t> out;
  if (!impl_) return out;
  for (const auto& w : impl_->workers) out.push_back(w->data_count());
  return out;
}

// ---- client state --------------------------------------------------------------------------

namespace internal {

struct ClientState : std::enable_shared_from_this<ClientState> {
  std::shared_ptr<ClientCore> core;
  std::mutex mu;
  std::unordered_map<Key, std::weak_ptr<FutureRef>> refs;  // guarded by mu

  std::vector<std::shared_ptr<FutureRef>> Submit(std::vector<Call> calls,
                                                 const SubmitOptions& options);
  void Release(const Key& key);
  std::vector<Value> Gather(const std::vector<Key>& keys);
  [[noreturn]] void ThrowError(const Key& key);
  [[noreturn]] void ThrowNotConnected(const Key& key);
};

namespace {

Arg Encode(const CallArg& arg, ClientState* client, std::vector<Key>* deps,
           std::unordered_map<Key, KeyId>* index) {
  if (arg.ref) {
    if (arg.ref->client().get() != client) {
      throw StatusError(Status::Invalid("a Future of another client (key " +
                                        arg.ref->key().ToString() +
                                        ") cannot be an argument of this client's tasks"));
    }
    auto [it, inserted] = index->try_emplace(arg.ref->key(), static_cast<KeyId>(deps->size()));
    if (inserted) deps->push_back(arg.ref->key());
    return Arg::Ref(it->second);
  }
  if (arg.is_list) {
    std::vector<Arg> items;
    items.reserve(arg.items.size());
    for (const CallArg& item : arg.items) items.push_back(Encode(item, client, deps, index));
    return Arg::List(std::move(items));
  }
  return Arg::Literal(arg.literal);
}

}  // namespace

std::vector<std::shared_ptr<FutureRef>> ClientState::Submit(std::vector<Call> calls,
                                                            const SubmitOptions& options) {
  if (!options.key.empty() && calls.size() != 1) {
    throw StatusError(Status::Invalid("an explicit key names one task"));
  }
  std::vector<distributed::TaskToSubmit> tasks;
  tasks.reserve(calls.size());
  for (const Call& call : calls) {
    if (call.function.empty()) throw StatusError(Status::Invalid("submit: no function name"));
    distributed::TaskToSubmit t;
    std::unordered_map<Key, KeyId> index;
    std::vector<Arg> args;
    args.reserve(call.args.size());
    for (const CallArg& a : call.args) args.push_back(Encode(a, this, &t.dependencies, &index));
    Result<distributed::Payload> spec = distributed::EncodeNativeCall(call.function, args,
                                                                      t.dependencies);
    if (!spec.ok()) {
      throw StatusError(spec.status().WithContext("submit " + call.function));
    }
    t.spec = spec.MoveValueUnsafe();
    if (!options.key.empty()) {
      t.key = Key(options.key);
    } else if (options.pure) {
      t.key = Key(call.function + "-" + Token(t.spec, t.dependencies));
    } else {
      t.key = Key(call.function + "-" + protocol::GenerateSecret().substr(0, 32));
    }
    t.priority = options.priority;
    t.retries = options.retries;
    t.workers = options.workers;
    t.allow_other_workers = options.allow_other_workers;
    tasks.push_back(std::move(t));
  }

  std::vector<std::shared_ptr<FutureRef>> out;
  out.reserve(tasks.size());
  std::vector<distributed::TaskToSubmit> to_send;
  std::vector<Key> wanted;
  std::lock_guard<std::mutex> lock(mu);
  for (distributed::TaskToSubmit& t : tasks) {
    auto it = refs.find(t.key);
    if (it != refs.end()) {
      if (auto live = it->second.lock()) {  // already wanted by this client: computed once
        out.push_back(std::move(live));
        continue;
      }
    }
    auto ref = std::make_shared<FutureRef>(shared_from_this(), t.key);
    refs[t.key] = ref;
    wanted.push_back(t.key);
    out.push_back(std::move(ref));
    to_send.push_back(std::move(t));
  }
  if (!to_send.empty()) {
    Status st = core->UpdateGraph(std::move(to_send), std::move(wanted));
    if (!st.ok()) throw StatusError(st.WithContext("submit"));
  }
  return out;
}

void ClientState::Release(const Key& key) {
  std::lock_guard<std::mutex> lock(mu);
  auto it = refs.find(key);
  // A new FutureRef of the key may have been made between this one's expiry and now.
  if (it == refs.end() || !it->second.expired()) return;
  refs.erase(it);
  (void)core->ReleaseKeys({key});  // OK or closed: nothing is held for a closed client
}

void ClientState::ThrowError(const Key& key) {
  std::optional<distributed::KeyEvent> event = core->ErrorOf(key);
  if (!event) {
    throw TaskFailed(Status(StatusCode::kTaskError, "task " + key.ToString() + " failed"), key,
                     "unknown");
  }
  Status status(StatusCode::kTaskError, distributed::ErrorText(event->error));
  if (event->error_kind == "killed-worker") {
    throw KilledWorker(std::move(status), key, event->error_kind);
  }
  throw TaskFailed(std::move(status), key, event->error_kind);
}

void ClientState::ThrowNotConnected(const Key& key) {
  throw StatusError(Status::IOError("cannot get " + key.ToString() + ": the client " +
                                    (core->is_closed() ? "is not connected to the scheduler"
                                                       : "does not want this key")));
}

std::vector<Value> ClientState::Gather(const std::vector<Key>& keys) {
  std::unordered_map<Key, Value> values;
  std::vector<Key> todo;
  {
    std::unordered_set<Key> seen;
    for (const Key& k : keys) {
      if (seen.insert(k).second) todo.push_back(k);
    }
  }
  // A key can be lost between the scheduler's "in memory" and the gather (its worker died):
  // the scheduler recomputes it and the client hears "lost-data" before the answer to a later
  // request, so after asking for the task states the key's status is pending again and the
  // next round waits for it. A key the scheduler still has in memory that cannot be gathered
  // (its worker cannot send it) fails after a few tries.
  constexpr int kMaxUngatherable = 20;
  std::unordered_map<Key, int> ungatherable;
  while (!todo.empty()) {
    for (const Key& k : todo) {
      switch (core->WaitKey(k, std::nullopt)) {
        case KeyStatus::kMemory:
          break;
        case KeyStatus::kErred:
          ThrowError(k);
        case KeyStatus::kPending:
        case KeyStatus::kUnknown:
          ThrowNotConnected(k);
      }
    }
    Result<distributed::GatherResult> gathered = core->Gather(todo);
    if (!gathered.ok()) throw StatusError(gathered.status().WithContext("gather"));
    for (auto& [key, payload] : gathered.ValueUnsafe().values) {
      Result<Value> v = distributed::Deserialize(payload);
      if (!v.ok()) throw StatusError(v.status().WithContext("the value of " + key.ToString()));
      values[key] = v.MoveValueUnsafe();
    }
    todo = std::move(gathered.ValueUnsafe().missing);
    if (todo.empty()) break;
    Result<std::vector<std::string>> states = core->TaskStates(todo);
    if (!states.ok()) throw StatusError(states.status().WithContext("gather"));
    bool retry_later = false;
    for (size_t i = 0; i < todo.size() && i < states.ValueUnsafe().size(); ++i) {
      if (states.ValueUnsafe()[i] != "memory") continue;  // being recomputed
      if (++ungatherable[todo[i]] >= kMaxUngatherable) {
        throw StatusError(Status::IOError(
            "cannot gather " + todo[i].ToString() +
            ": the scheduler has it in memory but no worker sent it (see the workers' logs: "
            "a result with no wire form, or an unreachable worker)"));
      }
      retry_later = true;
    }
    if (retry_later) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  std::vector<Value> out;
  out.reserve(keys.size());
  for (const Key& k : keys) out.push_back(values[k]);
  return out;
}

FutureRef::FutureRef(std::shared_ptr<ClientState> client, Key key)
    : client_(std::move(client)), key_(std::move(key)) {}

FutureRef::~FutureRef() { client_->Release(key_); }

void ThrowReleased() {
  throw StatusError(Status::Invalid("the Future was released (or never held a key)"));
}

void ThrowConversion(const Key& key, const Status& status) {
  throw StatusError(Status::TypeError("the result of " + key.ToString() + ": " + status.message()));
}

Value FutureValue(const FutureRef* ref) {
  if (!ref) ThrowReleased();
  return ref->client()->Gather({ref->key()}).front();
}

bool FutureDone(const FutureRef* ref) {
  if (!ref) ThrowReleased();
  KeyStatus s = ref->client()->core->StatusOf(ref->key());
  return s == KeyStatus::kMemory || s == KeyStatus::kErred;
}

bool FutureWait(const FutureRef* ref, std::optional<std::chrono::milliseconds> timeout) {
  if (!ref) ThrowReleased();
  KeyStatus s = ref->client()->core->WaitKey(ref->key(), timeout);
  return s == KeyStatus::kMemory || s == KeyStatus::kErred;
}

std::vector<Value> GatherValues(const std::vector<const FutureRef*>& refs) {
  if (refs.empty()) return {};
  ClientState* client = refs[0]->client().get();
  std::vector<Key> keys;
  keys.reserve(refs.size());
  for (const FutureRef* r : refs) {
    if (r->client().get() != client) {
      throw StatusError(Status::Invalid("gather: the Futures belong to different clients"));
    }
    keys.push_back(r->key());
  }
  return client->Gather(keys);
}

}  // namespace internal

// ---- Client --------------------------------------------------------------------------------

Client::Client(std::shared_ptr<internal::ClientState> state) : state_(std::move(state)) {}

Result<Client> Client::Connect(const std::string& address, const std::string& secret,
                               std::chrono::milliseconds timeout) {
  std::string s = secret.empty() ? SecretFromEnvironment() : secret;
  if (s.empty()) {
    return Status::Invalid("Client::Connect: no secret given and TEGU_SECRET is not set");
  }
  auto state = std::make_shared<internal::ClientState>();
  TEGU_ASSIGN_OR_RAISE(state->core, ClientCore::Connect(address, s, timeout));
  return Client(std::move(state));
}

Client::Client(LocalCluster& cluster)
    : Client(Connect(cluster.scheduler_address(), cluster.secret()).ValueOrThrow()) {}

Client::~Client() { Close(); }
Client::Client(Client&&) noexcept = default;
Client& Client::operator=(Client&& other) noexcept {
  if (this != &other) {
    Close();
    state_ = std::move(other.state_);
  }
  return *this;
}

const std::string& Client::scheduler_address() const { return state_->core->scheduler_address(); }

std::vector<std::shared_ptr<internal::FutureRef>> Client::SubmitCalls(
    std::vector<internal::Call> calls, const SubmitOptions& options) {
  if (!state_) throw StatusError(Status::Invalid("the Client was moved from"));
  return state_->Submit(std::move(calls), options);
}

size_t Client::WorkerCount() {
  auto info = state_->core->Info(false);
  if (!info.ok()) throw StatusError(info.status());
  return info.ValueUnsafe().workers.size();
}

void Client::Close() {
  if (state_) state_->core->Close();
}

void Client::Shutdown() {
  if (!state_) return;
  (void)state_->core->ShutdownScheduler();
  state_->core->Close();
}

const std::shared_ptr<distributed::ClientCore>& Client::core() const { return state_->core; }

int RunWorker(int argc, char** argv) {
  std::vector<std::string> args{"worker"};
  for (int i = 1; i < argc; ++i) args.emplace_back(argv[i]);
  return distributed::RunCommandLine(std::move(args));
}

}  // namespace tegu
