// The scheduler and two workers in three network namespaces joined by veth pairs on a bridge,
// and the client in the root namespace: every message and every transfer between workers
// crosses a real (virtual) network interface instead of loopback. Needs CAP_NET_ADMIN (root),
// as `ip netns` does; without it the test fails and says so.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>

#include "tegu/distributed/client_core.hpp"
#include "tegu/distributed/payload.hpp"
#include "tegu/distributed/scheduler_service.hpp"
#include "tegu/distributed/worker_service.hpp"
#include "tegu/protocol/handshake.hpp"

namespace tegu::distributed {
namespace {

using namespace std::chrono_literals;

int Sh(const std::string& cmd) { return std::system((cmd + " >/dev/null 2>&1").c_str()); }

// Three namespaces on a bridge in the root namespace (10.213.N.0/24, N from the pid).
class Netns {
 public:
  Netns() {
    const int id = static_cast<int>(getpid() % 200) + 20;
    prefix_ = "10.213." + std::to_string(id) + ".";
    tag_ = "tg" + std::to_string(getpid() % 100000);
    bridge_ = tag_ + "br";
    ok_ = Sh("ip link add " + bridge_ + " type bridge") == 0 &&
          Sh("ip addr add " + prefix_ + "1/24 dev " + bridge_) == 0 &&
          Sh("ip link set " + bridge_ + " up") == 0;
    for (int i = 0; ok_ && i < 3; ++i) ok_ = AddNamespace(i);
  }
  ~Netns() {
    for (int i = 0; i < 3; ++i) {
      Sh("ip netns del " + Name(i));
      Sh("ip link del " + tag_ + "h" + std::to_string(i));
    }
    Sh("ip link del " + bridge_);
  }
  bool ok() const { return ok_; }
  std::string Name(int i) const { return tag_ + "n" + std::to_string(i); }
  std::string Ip(int i) const { return prefix_ + std::to_string(i + 2); }

 private:
  bool AddNamespace(int i) {
    const std::string ns = Name(i), host = tag_ + "h" + std::to_string(i),
                      peer = tag_ + "p" + std::to_string(i);
    return Sh("ip netns add " + ns) == 0 &&
           Sh("ip link add " + host + " type veth peer name " + peer) == 0 &&
           Sh("ip link set " + peer + " netns " + ns) == 0 &&
           Sh("ip link set " + host + " master " + bridge_) == 0 &&
           Sh("ip link set " + host + " up") == 0 &&
           Sh("ip netns exec " + ns + " ip addr add " + Ip(i) + "/24 dev " + peer) == 0 &&
           Sh("ip netns exec " + ns + " ip link set " + peer + " up") == 0 &&
           Sh("ip netns exec " + ns + " ip link set lo up") == 0;
  }
  std::string prefix_, tag_, bridge_;
  bool ok_ = false;
};

// Runs `body` in a child process inside namespace `ns`; the child writes one line (an address)
// to the returned pipe and lives until killed.
struct Child {
  pid_t pid = -1;
  std::string line;
};

template <class Body>
Child SpawnIn(const std::string& ns, Body body) {
  int fds[2];
  if (pipe(fds) != 0) return {};
  pid_t pid = fork();
  if (pid == 0) {
    close(fds[0]);
    int nsfd = open(("/var/run/netns/" + ns).c_str(), O_RDONLY);
    if (nsfd < 0 || setns(nsfd, CLONE_NEWNET) != 0) _exit(3);
    std::string line = body() + "\n";
    if (write(fds[1], line.data(), line.size()) < 0) _exit(4);
    while (true) pause();
  }
  close(fds[1]);
  Child child;
  child.pid = pid;
  char buf[256];
  ssize_t n;
  while ((n = read(fds[0], buf, sizeof(buf))) > 0) {
    child.line.append(buf, static_cast<size_t>(n));
    if (child.line.find('\n') != std::string::npos) break;
  }
  close(fds[0]);
  if (!child.line.empty()) child.line.pop_back();
  return child;
}

void Reap(Child& c) {
  if (c.pid > 0) {
    kill(c.pid, SIGKILL);
    waitpid(c.pid, nullptr, 0);
    c.pid = -1;
  }
}

TEST(Netns, SchedulerAndWorkersInSeparateNamespaces) {
  Netns net;
  ASSERT_TRUE(net.ok()) << "could not create network namespaces and veth pairs (this test needs "
                           "root / CAP_NET_ADMIN and the `ip` tool)";
  const std::string secret = protocol::GenerateSecret();
  Child scheduler = SpawnIn(net.Name(0), [&] {
    SchedulerServiceOptions o;
    o.secret = secret;
    o.address = "tcp://" + net.Ip(0) + ":0";
    auto s = SchedulerService::Start(o);
    if (!s.ok()) return std::string("error: ") + s.status().ToString();
    std::string address = s.ValueUnsafe()->address();
    s.ValueUnsafe().release();  // lives until the process is killed
    return address;
  });
  ASSERT_EQ(scheduler.line.rfind("tcp://" + net.Ip(0), 0), 0u) << scheduler.line;
  std::vector<Child> workers;
  for (int i = 1; i <= 2; ++i) {
    workers.push_back(SpawnIn(net.Name(i), [&, i] {
      WorkerServiceOptions o;
      o.scheduler_address = scheduler.line;
      o.secret = secret;
      o.listen_address = "tcp://" + net.Ip(i) + ":0";
      auto w = WorkerService::Start(o);
      if (!w.ok()) return std::string("error: ") + w.status().ToString();
      std::string address = w.ValueUnsafe()->address();
      w.ValueUnsafe().release();
      return address;
    }));
  }
  auto cleanup = [&] {
    for (auto& w : workers) Reap(w);
    Reap(scheduler);
  };
  for (int i = 0; i < 2; ++i) {
    if (workers[i].line.rfind("tcp://" + net.Ip(i + 1), 0) != 0) {
      cleanup();
      FAIL() << "worker " << i << ": " << workers[i].line;
    }
  }

  auto client = ClientCore::Connect(scheduler.line, secret, 10s);
  ASSERT_TRUE(client.ok()) << client.status().ToString();
  auto& c = *client.ValueUnsafe();
  // Leaves pinned to each worker; the sum needs both, so data crosses between namespaces.
  std::vector<TaskToSubmit> tasks;
  std::vector<Key> deps;
  std::vector<Arg> refs;
  for (int i = 0; i < 40; ++i) {
    TaskToSubmit t;
    t.key = Key::Tuple({std::string("leaf"), int64_t{i}});
    t.spec = EncodeNativeCall("tegu.inc", {Arg::Literal(Value::From(int64_t{i}))}, {}).ValueOrThrow();
    t.workers = {workers[i % 2].line};
    refs.push_back(Arg::Ref(static_cast<KeyId>(i)));
    deps.push_back(t.key);
    tasks.push_back(std::move(t));
  }
  TaskToSubmit total;
  total.key = "total";
  total.dependencies = deps;
  total.spec = EncodeNativeCall("tegu.sum", {Arg::List(refs)}, deps).ValueOrThrow();
  tasks.push_back(std::move(total));
  ASSERT_TRUE(c.UpdateGraph(std::move(tasks), {Key("total")}).ok());
  EXPECT_EQ(c.WaitKey(Key("total"), 60s), KeyStatus::kMemory);
  auto g = c.Gather({Key("total")});
  ASSERT_TRUE(g.ok()) << g.status().ToString();
  ASSERT_EQ(g.ValueUnsafe().values.size(), 1u);
  EXPECT_EQ(*Deserialize(g.ValueUnsafe().values[0].second).ValueOrThrow().TryGet<int64_t>(),
            40 * 41 / 2);
  auto info = c.Info(false).ValueOrThrow();
  EXPECT_EQ(info.workers.size(), 2u);
  client.ValueUnsafe().reset();
  cleanup();
}

}  // namespace
}  // namespace tegu::distributed
