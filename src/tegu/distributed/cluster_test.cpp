// End-to-end tests of the scheduler, worker and client services over loopback TCP (and TLS),
// with native tasks, all in one process.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <future>
#include <thread>

#include <unistd.h>

#include "tegu/distributed/client_core.hpp"
#include "tegu/distributed/codec.hpp"
#include "tegu/distributed/payload.hpp"
#include "tegu/distributed/scheduler_service.hpp"
#include "tegu/distributed/worker_service.hpp"
#include "tegu/net/transport.hpp"
#include "tegu/protocol/handshake.hpp"

namespace tegu::distributed {
namespace {

using namespace std::chrono_literals;

struct Cluster {
  std::string secret = protocol::GenerateSecret();
  std::unique_ptr<SchedulerService> scheduler;
  std::vector<std::unique_ptr<WorkerService>> workers;

  explicit Cluster(int n_workers, int nthreads = 1) {
    SchedulerServiceOptions so;
    so.secret = secret;
    scheduler = SchedulerService::Start(so).ValueOrThrow();
    for (int i = 0; i < n_workers; ++i) AddWorker(nthreads);
  }
  WorkerService* AddWorker(int nthreads = 1) {
    WorkerServiceOptions wo;
    wo.scheduler_address = scheduler->address();
    wo.secret = secret;
    wo.nthreads = nthreads;
    workers.push_back(WorkerService::Start(wo).ValueOrThrow());
    return workers.back().get();
  }
  std::shared_ptr<ClientCore> Client() {
    return ClientCore::Connect(scheduler->address(), secret).ValueOrThrow();
  }
};

TaskToSubmit Call(const std::string& key, const std::string& fn, std::vector<Key> deps,
                  std::vector<Arg> args) {
  TaskToSubmit t;
  t.key = key;
  t.spec = EncodeNativeCall(fn, args, deps).ValueOrThrow();
  t.dependencies = std::move(deps);
  return t;
}

int64_t GatherInt(ClientCore& client, const Key& key) {
  EXPECT_EQ(client.WaitKey(key, 30s), KeyStatus::kMemory) << key.ToString();
  auto g = client.Gather({key}).ValueOrThrow();
  EXPECT_EQ(g.values.size(), 1u);
  if (g.values.empty()) return -1;
  auto v = Deserialize(g.values[0].second).ValueOrThrow();
  return *v.TryGet<int64_t>();
}

TEST(Cluster, ComputesANativeGraphAcrossTwoWorkers) {
  Cluster cluster(2);
  auto client = cluster.Client();
  std::vector<TaskToSubmit> tasks;
  std::vector<Arg> parts;
  std::vector<Key> deps;
  for (int i = 0; i < 200; ++i) {
    std::string k = "inc-" + std::to_string(i);
    tasks.push_back(Call(k, "tegu.inc", {}, {Arg::Literal(Value::From(int64_t{i}))}));
    parts.push_back(Arg::Ref(static_cast<KeyId>(i)));
    deps.push_back(Key(k));
  }
  tasks.push_back(Call("total", "tegu.sum", deps, {Arg::List(parts)}));
  ASSERT_TRUE(client->UpdateGraph(std::move(tasks), {Key("total")}).ok());
  EXPECT_EQ(GatherInt(*client, Key("total")), 200 * 201 / 2);
  // Both workers took part: the leaves are spread by root-task queuing.
  auto info = client->Info(true).ValueOrThrow();
  EXPECT_EQ(info.workers.size(), 2u);
}

TEST(Cluster, TaskErrorReachesTheClientAndDependentsErrToo) {
  Cluster cluster(1);
  auto client = cluster.Client();
  std::vector<TaskToSubmit> tasks;
  tasks.push_back(Call("bad", "tegu.fail", {}, {Arg::Literal(Value::From(std::string("boom")))}));
  tasks.push_back(Call("after", "tegu.inc", {Key("bad")}, {Arg::Ref(0)}));
  ASSERT_TRUE(client->UpdateGraph(std::move(tasks), {Key("after")}).ok());
  EXPECT_EQ(client->WaitKey(Key("after"), 30s), KeyStatus::kErred);
  auto error = client->ErrorOf(Key("after"));
  ASSERT_TRUE(error.has_value());
  EXPECT_NE(ErrorText(error->error).find("boom"), std::string::npos) << ErrorText(error->error);
}

TEST(Cluster, ScatterThenComputeOnScatteredData) {
  Cluster cluster(2);
  auto client = cluster.Client();
  auto placed = client->Scatter({{Key("x"), SerializeNative(Value::From(int64_t{41})).ValueOrThrow()}},
                                false, {});
  ASSERT_TRUE(placed.ok()) << placed.status().ToString();
  EXPECT_EQ(placed.ValueUnsafe(), std::vector<Key>{Key("x")});
  ASSERT_TRUE(client->UpdateGraph({Call("y", "tegu.inc", {Key("x")}, {Arg::Ref(0)})}, {Key("y")}).ok());
  EXPECT_EQ(GatherInt(*client, Key("y")), 42);
  auto who = client->WhoHas({Key("x")}).ValueOrThrow();
  ASSERT_EQ(who.size(), 1u);
  EXPECT_EQ(who[0].second.size(), 1u);
}

TEST(Cluster, DependenciesMoveBetweenWorkers) {
  Cluster cluster(2);
  auto client = cluster.Client();
  // Pin a and b to different workers; c needs both, so one moves peer to peer.
  TaskToSubmit a = Call("a", "tegu.inc", {}, {Arg::Literal(Value::From(int64_t{1}))});
  a.workers = {cluster.workers[0]->address()};
  TaskToSubmit b = Call("b", "tegu.inc", {}, {Arg::Literal(Value::From(int64_t{2}))});
  b.workers = {cluster.workers[1]->address()};
  TaskToSubmit c = Call("c", "tegu.add", {Key("a"), Key("b")}, {Arg::Ref(0), Arg::Ref(1)});
  ASSERT_TRUE(client->UpdateGraph({a, b, c}, {Key("c")}).ok());
  EXPECT_EQ(GatherInt(*client, Key("c")), 5);
}

TEST(Cluster, AWorkerLostMidGraphIsRecomputedElsewhere) {
  Cluster cluster(2);
  auto client = cluster.Client();
  std::vector<TaskToSubmit> tasks;
  std::vector<Arg> parts;
  std::vector<Key> deps;
  for (int i = 0; i < 100; ++i) {
    std::string k = "leaf-" + std::to_string(i);
    tasks.push_back(Call(k, "tegu.inc", {}, {Arg::Literal(Value::From(int64_t{i}))}));
    parts.push_back(Arg::Ref(static_cast<KeyId>(i)));
    deps.push_back(Key(k));
  }
  ASSERT_TRUE(client->UpdateGraph(tasks, deps).ok());
  for (const Key& k : deps) ASSERT_EQ(client->WaitKey(k, 30s), KeyStatus::kMemory);
  // Results on the worker that goes away are recomputed for the reduction.
  cluster.workers[0]->Close();
  cluster.workers[0].reset();
  ASSERT_TRUE(client->UpdateGraph({Call("total", "tegu.sum", deps, {Arg::List(parts)})},
                                  {Key("total")}).ok());
  EXPECT_EQ(GatherInt(*client, Key("total")), 100 * 101 / 2);
}

TEST(Cluster, WrongSecretIsRefusedAndTheClusterKeepsWorking) {
  Cluster cluster(1);
  auto bad = ClientCore::Connect(cluster.scheduler->address(), "wrong secret", 2s);
  EXPECT_FALSE(bad.ok());
  auto client = cluster.Client();
  ASSERT_TRUE(client->UpdateGraph({Call("z", "tegu.inc", {}, {Arg::Literal(Value::From(int64_t{9}))})},
                                  {Key("z")}).ok());
  EXPECT_EQ(GatherInt(*client, Key("z")), 10);
}

TEST(Cluster, MalformedOpsCloseOnlyThatConnection) {
  Cluster cluster(1);
  net::IoLoop loop;
  auto raw = net::Connect(loop, cluster.scheduler->address(), cluster.secret, "client").ValueOrThrow();
  raw->SetHandlers([](protocol::Message) {}, [](const Status&) {});
  OpWriter w;
  w.Op("update-graph", 1).Str("not a list of tasks");
  raw->Send(w.Finish());
  protocol::Message junk;
  junk.header = "\xc1\xc1\xc1";
  raw->Send(junk);
  std::this_thread::sleep_for(200ms);
  auto client = cluster.Client();
  ASSERT_TRUE(client->UpdateGraph({Call("q", "tegu.inc", {}, {Arg::Literal(Value::From(int64_t{1}))})},
                                  {Key("q")}).ok());
  EXPECT_EQ(GatherInt(*client, Key("q")), 2);
}

TEST(Cluster, ReleasedKeysAreFreedOnTheWorkers) {
  Cluster cluster(1);
  auto client = cluster.Client();
  ASSERT_TRUE(client->UpdateGraph({Call("r", "tegu.inc", {}, {Arg::Literal(Value::From(int64_t{1}))})},
                                  {Key("r")}).ok());
  ASSERT_EQ(client->WaitKey(Key("r"), 30s), KeyStatus::kMemory);
  EXPECT_EQ(cluster.workers[0]->data_count(), 1u);
  ASSERT_TRUE(client->ReleaseKeys({Key("r")}).ok());
  for (int i = 0; i < 200 && cluster.workers[0]->data_count() != 0; ++i) std::this_thread::sleep_for(10ms);
  EXPECT_EQ(cluster.workers[0]->data_count(), 0u);
  EXPECT_EQ(client->TaskStates({Key("r")}).ValueOrThrow(), std::vector<std::string>{"forgotten"});
}

}  // namespace
}  // namespace tegu::distributed

namespace tegu::distributed {
namespace {

TEST(Cluster, ASilentWorkerIsRemovedAfterItsTtlAndItsTasksMove) {
  std::string secret = protocol::GenerateSecret();
  SchedulerServiceOptions so;
  so.secret = secret;
  so.state.worker_ttl = std::chrono::milliseconds(300);
  so.tick_interval = std::chrono::milliseconds(20);
  auto scheduler = SchedulerService::Start(so).ValueOrThrow();
  // A "worker" that registers and then never answers (a hung process).
  net::IoLoop loop;
  auto silent = net::Connect(loop, scheduler->address(), secret, "worker").ValueOrThrow();
  std::promise<void> closed;
  silent->SetHandlers([](protocol::Message) {}, [&closed](const Status&) { closed.set_value(); });
  OpWriter w;
  w.Op("register", 4).Str("tcp://127.0.0.1:1").UInt(1).UInt(0).Str("silent");
  silent->Send(w.Finish());
  auto client = ClientCore::Connect(scheduler->address(), secret).ValueOrThrow();
  TaskToSubmit t;
  t.key = "k";
  t.spec = EncodeNativeCall("tegu.inc", {Arg::Literal(Value::From(int64_t{1}))}, {}).ValueOrThrow();
  ASSERT_TRUE(client->UpdateGraph({t}, {Key("k")}).ok());
  // The scheduler closes the silent worker's connection once its ttl passed...
  EXPECT_EQ(closed.get_future().wait_for(10s), std::future_status::ready);
  // ...and a live worker that joins later runs the task that was sent to the silent one.
  WorkerServiceOptions wo;
  wo.scheduler_address = scheduler->address();
  wo.secret = secret;
  auto worker = WorkerService::Start(wo).ValueOrThrow();
  EXPECT_EQ(client->WaitKey(Key("k"), 30s), KeyStatus::kMemory);
}

}  // namespace
}  // namespace tegu::distributed

namespace tegu::distributed {
namespace {

// A CA and one certificate it signed, used by every party of a TLS cluster (mutual TLS).
std::filesystem::path MakeClusterCertificates() {
  auto dir = std::filesystem::temp_directory_path() /
             ("tegu-cluster-tls-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  {
    std::ofstream ext(dir / "leaf.ext");
    ext << "basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\n"
           "extendedKeyUsage=serverAuth,clientAuth\n";
  }
  const std::string key = " -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes";
  const std::string script =
      "cd '" + dir.string() + "' && (openssl req -x509" + key +
      " -keyout ca.key -out ca.pem -days 2 -subj /CN=tegu-ca"
      " -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign"
      " && openssl req" + key + " -keyout node.key -out node.csr -subj /CN=node"
      " && openssl x509 -req -in node.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2"
      " -extfile leaf.ext -out node.pem) > openssl.log 2>&1";
  if (std::system(script.c_str()) != 0) return {};
  return dir;
}

TEST(Cluster, RunsOverMutualTls) {
  auto dir = MakeClusterCertificates();
  ASSERT_FALSE(dir.empty()) << "generating certificates with the openssl command failed";
  net::TransportOptions tls;
  tls.tls = net::TlsOptions{(dir / "node.pem").string(), (dir / "node.key").string(),
                            (dir / "ca.pem").string(), true};
  const std::string secret = protocol::GenerateSecret();
  SchedulerServiceOptions so;
  so.secret = secret;
  so.address = "tls://127.0.0.1:0";
  so.transport = tls;
  auto scheduler = SchedulerService::Start(so).ValueOrThrow();
  ASSERT_EQ(scheduler->address().rfind("tls://", 0), 0u) << scheduler->address();
  std::vector<std::unique_ptr<WorkerService>> workers;
  for (int i = 0; i < 2; ++i) {
    WorkerServiceOptions wo;
    wo.scheduler_address = scheduler->address();
    wo.secret = secret;
    wo.listen_address = "tls://127.0.0.1:0";
    wo.transport = tls;
    workers.push_back(WorkerService::Start(wo).ValueOrThrow());
  }
  // A plain-TCP client cannot talk to it; a TLS one can.
  EXPECT_FALSE(ClientCore::Connect(scheduler->address(), secret, 2s).ok());
  auto client = ClientCore::Connect(scheduler->address(), secret, 10s, tls).ValueOrThrow();
  // Pinned leaves on both workers: the reduction moves data between workers over TLS.
  TaskToSubmit a = Call("a", "tegu.inc", {}, {Arg::Literal(Value::From(int64_t{1}))});
  a.workers = {workers[0]->address()};
  TaskToSubmit b = Call("b", "tegu.inc", {}, {Arg::Literal(Value::From(int64_t{2}))});
  b.workers = {workers[1]->address()};
  TaskToSubmit c = Call("c", "tegu.add", {Key("a"), Key("b")}, {Arg::Ref(0), Arg::Ref(1)});
  ASSERT_TRUE(client->UpdateGraph({a, b, c}, {Key("c")}).ok());
  EXPECT_EQ(GatherInt(*client, Key("c")), 5);
  client.reset();
  workers.clear();
  scheduler.reset();
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace tegu::distributed

namespace tegu::distributed {
namespace {

TEST(Cluster, ClosingAWorkerWhileItsTasksFinishIsClean) {
  // A task finishing while its worker closes starts the next one: that must neither start a
  // thread the destructor misses (std::terminate) nor touch a destroyed worker.
  Cluster cluster(0);
  auto client = cluster.Client();
  for (int round = 0; round < 10; ++round) {
    WorkerService* worker = cluster.AddWorker(2);
    std::vector<TaskToSubmit> tasks;
    std::vector<Key> keys;
    for (int i = 0; i < 500; ++i) {
      Key key = Key::Tuple({std::string("r") + std::to_string(round), int64_t{i}});
      tasks.push_back(Call(key.ToString(), "tegu.inc", {}, {Arg::Literal(Value::From(int64_t{i}))}));
      keys.push_back(tasks.back().key);
    }
    ASSERT_TRUE(client->UpdateGraph(std::move(tasks), keys).ok());
    while (worker->data_count() < 10) std::this_thread::yield();
    cluster.workers.pop_back();  // closes while tasks are still running and finishing
    ASSERT_TRUE(client->ReleaseKeys(keys).ok());
  }
}

}  // namespace
}  // namespace tegu::distributed
