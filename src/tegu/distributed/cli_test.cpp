// Tests of the `tegu` command line: option parsing in process, and clusters of real processes —
// a `tegu scheduler`, `tegu worker`s, and this test binary itself started as a worker
// (tegu::RunWorker) so that the functions it registers run on the cluster. Workers are killed
// with SIGKILL in the middle of a graph and the client must still get the exact answer.
//
// Every child process is owned by a Child object that kills and reaps it when destroyed, so a
// failing test leaves no process behind.
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "tegu/distributed.hpp"
#include "tegu/distributed/cli.hpp"
#include "tegu/native.hpp"

extern char** environ;

namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

constexpr const char* kWorkerFlag = "--run-as-tegu-worker";

// A leaf that takes a while, so that a worker killed mid-graph has tasks running.
int64_t cli_test_slow_inc(int64_t x) {
  std::this_thread::sleep_for(2ms);
  return x + 1;
}
TEGU_REGISTER(cli_test_slow_inc);
// A task that kills the worker running it.
int64_t cli_test_die(int64_t x) {
  ::kill(::getpid(), SIGKILL);
  return x;
}
TEGU_REGISTER(cli_test_die);

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string SelfPath() { return fs::read_symlink("/proc/self/exe").string(); }

class TempDir {
 public:
  TempDir() {
    std::string templ = (fs::temp_directory_path() / "tegu-cli-test-XXXXXX").string();
    path_ = ::mkdtemp(templ.data()) ? templ : std::string();
  }
  ~TempDir() {
    std::error_code ec;
    if (!path_.empty()) fs::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }
  std::string File(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// A child process with stdout and stderr in files. Destroying it kills (SIGKILL) and reaps it.
class Child {
 public:
  Child(std::vector<std::string> argv, const TempDir& dir, const std::string& tag,
        std::vector<std::string> env_overrides = {})
      : out_path_(dir.File(tag + ".out")), err_path_(dir.File(tag + ".err")) {
    std::vector<std::string> env;
    for (char** e = environ; *e; ++e) {
      std::string entry = *e;
      if (entry.rfind("TEGU_SECRET=", 0) == 0) continue;  // only what a test passes
      env.push_back(entry);
    }
    for (auto& e : env_overrides) env.push_back(e);
    std::vector<char*> cargv, cenv;
    for (auto& a : argv) cargv.push_back(a.data());
    cargv.push_back(nullptr);
    for (auto& e : env) cenv.push_back(e.data());
    cenv.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&actions, 1, out_path_.c_str(),
                                     O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_addopen(&actions, 2, err_path_.c_str(),
                                     O_WRONLY | O_CREAT | O_TRUNC, 0644);
    // The child starts with default signal handling whatever the test process installed.
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    sigset_t defaults;
    sigemptyset(&defaults);
    sigaddset(&defaults, SIGINT);
    sigaddset(&defaults, SIGTERM);
    sigaddset(&defaults, SIGPIPE);
    posix_spawnattr_setsigdefault(&attr, &defaults);
    sigset_t none;
    sigemptyset(&none);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);
    int rc = posix_spawn(&pid_, cargv[0], &actions, &attr, cargv.data(), cenv.data());
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attr);
    if (rc != 0) {
      pid_ = -1;
      ADD_FAILURE() << "cannot start " << argv[0] << ": " << std::strerror(rc);
    }
  }
  ~Child() { Kill(); }
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;

  pid_t pid() const { return pid_; }
  bool started() const { return pid_ > 0; }
  std::string out() const { return ReadFile(out_path_); }
  std::string err() const { return ReadFile(err_path_); }

  /// Whether the process is still running (reaps it if it exited).
  bool Running() {
    if (pid_ <= 0 || exit_code_) return false;
    int status = 0;
    pid_t r = ::waitpid(pid_, &status, WNOHANG);
    if (r == pid_) {
      Record(status);
      return false;
    }
    return r == 0;
  }

  /// Waits for the exit and returns the exit code (128 + signal when killed). A process still
  /// running after a minute is killed: the test then fails on its exit code, not by hanging.
  int Wait() {
    for (int i = 0; i < 6000 && Running(); ++i) std::this_thread::sleep_for(10ms);
    if (Running()) {
      ADD_FAILURE() << "process " << pid_ << " did not exit; killing it";
      Kill();
    }
    return exit_code_.value_or(-1);
  }

  void Signal(int sig) {
    if (Running()) ::kill(pid_, sig);
  }

  void Kill() {
    if (pid_ <= 0 || exit_code_) return;
    ::kill(pid_, SIGKILL);
    int status = 0;
    while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
    Record(status);
  }

  /// The rest of the first stdout line starting with `prefix`; nullopt when the process exits
  /// without printing it (or does not within a minute).
  std::optional<std::string> WaitForLine(const std::string& prefix) {
    for (int i = 0; i < 6000; ++i) {
      std::istringstream lines(out());
      std::string line;
      while (std::getline(lines, line)) {
        if (line.rfind(prefix, 0) == 0 && lines.good()) return line.substr(prefix.size());
      }
      if (!Running()) return std::nullopt;
      std::this_thread::sleep_for(10ms);
    }
    return std::nullopt;
  }

 private:
  void Record(int status) {
    exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }

  pid_t pid_ = -1;
  std::optional<int> exit_code_;
  std::string out_path_, err_path_;
};

// A cluster of processes: one `tegu scheduler` and workers of either kind.
class ProcessCluster {
 public:
  const std::string secret = "a-test-secret-0123456789";

  ~ProcessCluster() {
    // Workers first, then the scheduler (the destructors kill and reap each).
    workers.clear();
    scheduler.reset();
  }

  void StartScheduler() {
    scheduler = std::make_unique<Child>(
        std::vector<std::string>{TEGU_CLI_PATH, "scheduler", "--port", "0", "--secret", secret},
        dir, "scheduler");
    std::optional<std::string> at = scheduler->WaitForLine("Scheduler at: ");
    ASSERT_TRUE(at.has_value()) << scheduler->err();
    address = *at;
  }

  /// `tegu worker` (self = false) or this test binary running tegu::RunWorker (self = true).
  Child* StartWorker(bool self, std::vector<std::string> extra = {}) {
    std::vector<std::string> argv;
    if (self) {
      argv = {SelfPath(), kWorkerFlag};
    } else {
      argv = {TEGU_CLI_PATH, "worker"};
    }
    argv.push_back(address);
    argv.push_back("--secret");
    argv.push_back(secret);
    argv.push_back("--name");
    argv.push_back("worker-" + std::to_string(workers.size()));
    for (auto& e : extra) argv.push_back(e);
    workers.push_back(std::make_unique<Child>(
        argv, dir, "worker-" + std::to_string(workers.size())));
    return workers.back().get();
  }

  tegu::Client Connect() {
    return tegu::Client::Connect(address, secret).ValueOrThrow();
  }

  /// Waits until the scheduler knows `n` workers.
  bool WaitForWorkers(tegu::Client& client, size_t n) {
    for (int i = 0; i < 6000; ++i) {
      if (client.WorkerCount() == n) return true;
      for (auto& w : workers) {
        if (!w->Running()) {
          ADD_FAILURE() << "a worker exited: " << w->err();
          return false;
        }
      }
      std::this_thread::sleep_for(10ms);
    }
    return false;
  }

  int Port() const { return std::stoi(address.substr(address.rfind(':') + 1)); }

  TempDir dir;
  std::unique_ptr<Child> scheduler;
  std::vector<std::unique_ptr<Child>> workers;
  std::string address;
};

// Runs a reduction over `n` leaves calling `leaf` (x -> x + 1), killing worker 1 with SIGKILL
// once about a fifth of the leaves are done; checks every leaf and the total exactly.
void KillAWorkerMidGraph(ProcessCluster& cluster, const std::string& leaf, int64_t n,
                         int64_t group) {
  tegu::Client client = cluster.Connect();
  ASSERT_TRUE(cluster.WaitForWorkers(client, 2));
  std::vector<int64_t> xs;
  for (int64_t i = 0; i < n; ++i) xs.push_back(i);
  std::vector<tegu::Future<int64_t>> leaves = client.map<int64_t>(leaf, xs);
  std::vector<std::vector<tegu::Future<int64_t>>> groups;
  for (int64_t start = 0; start < n; start += group) {
    groups.emplace_back(leaves.begin() + start, leaves.begin() + std::min(n, start + group));
  }
  std::vector<tegu::Future<int64_t>> partials = client.map<int64_t>("tegu.sum", groups);
  tegu::Future<int64_t> total = client.submit<int64_t>("tegu.sum", partials);

  size_t done = 0;
  for (int i = 0; i < 60000 && !total.done(); ++i) {
    done = 0;
    for (const auto& f : leaves) done += f.done() ? 1 : 0;
    if (done * 5 >= static_cast<size_t>(n)) break;
    std::this_thread::sleep_for(1ms);
  }
  const bool total_done_before_kill = total.done();
  cluster.workers[1]->Kill();
  std::cout << "[          ] killed worker 1 (SIGKILL) with " << done << " of " << n
            << " leaves done" << (total_done_before_kill ? " (the total was already done)" : "")
            << "\n";

  int64_t expected = n * (n + 1) / 2;
  EXPECT_EQ(total.result(), expected);
  std::vector<int64_t> values = client.gather(leaves);
  ASSERT_EQ(values.size(), static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) ASSERT_EQ(values[i], i + 1) << "leaf " << i;
  EXPECT_EQ(client.WorkerCount(), 1u);
  EXPECT_TRUE(cluster.workers[0]->Running()) << cluster.workers[0]->err();
  EXPECT_TRUE(cluster.scheduler->Running()) << cluster.scheduler->err();
}

// ---- parsing, in process ---------------------------------------------------------------------

int RunCli(std::vector<std::string> args, std::string* err_text = nullptr,
        std::string* out_text = nullptr) {
  std::ostringstream out, err;
  int rc = tegu::distributed::RunCommandLine(std::move(args), out, err);
  if (err_text) *err_text = err.str();
  if (out_text) *out_text = out.str();
  return rc;
}

TEST(CommandLine, BadOptionsExitWithCode2AndNameTheOption) {
  struct Case {
    std::vector<std::string> args;
    std::string names;
  };
  const std::vector<Case> cases = {
      {{}, "subcommand"},
      {{"frobnicate"}, "frobnicate"},
      {{"scheduler", "--port", "99999"}, "--port"},
      {{"scheduler", "--port", "http"}, "--port"},
      {{"scheduler", "--address", "localhost:80"}, "--address"},
      {{"scheduler", "--address", "tcp://a:1", "--port", "5"}, "--port"},
      {{"scheduler", "--bogus"}, "--bogus"},
      {{"worker"}, "address"},
      {{"worker", "no-scheme"}, "address"},
      {{"worker", "tcp://127.0.0.1:1", "--nthreads", "0"}, "--nthreads"},
      {{"worker", "tcp://127.0.0.1:1", "--nthreads", "many"}, "--nthreads"},
      {{"worker", "tcp://127.0.0.1:1", "--memory-limit", "12XB"}, "--memory-limit"},
      {{"worker", "tcp://127.0.0.1:1", "--memory-limit", "-5GB"}, "--memory-limit"},
      {{"worker", "tcp://127.0.0.1:1", "--listen-address", "nowhere"}, "--listen-address"},
      {{"worker", "tcp://127.0.0.1:1", "--secret", "a", "--secret-file", "f"}, "--secret"},
      {{"worker", "tcp://127.0.0.1:1", "--secret-file", "/nonexistent/secret"}, "--secret-file"},
  };
  for (const Case& c : cases) {
    std::string err;
    std::string joined;
    for (const auto& a : c.args) joined += a + " ";
    EXPECT_EQ(RunCli(c.args, &err), 2) << joined << "\n" << err;
    EXPECT_NE(err.find(c.names), std::string::npos) << joined << "\n" << err;
  }
}

TEST(CommandLine, HelpExitsWithCode0) {
  std::string out;
  EXPECT_EQ(RunCli({"--help"}, nullptr, &out), 0);
  EXPECT_NE(out.find("scheduler"), std::string::npos) << out;
  EXPECT_EQ(RunCli({"worker", "--help"}, nullptr, &out), 0);
  EXPECT_NE(out.find("--nthreads"), std::string::npos) << out;
  EXPECT_NE(out.find("tegu worker"), std::string::npos) << out;
}

TEST(CommandLine, ParseBytesLikeDask) {
  using tegu::distributed::ParseBytes;
  EXPECT_EQ(ParseBytes("100").ValueOrThrow(), 100u);
  EXPECT_EQ(ParseBytes("4GB").ValueOrThrow(), 4'000'000'000u);
  EXPECT_EQ(ParseBytes("4 gb").ValueOrThrow(), 4'000'000'000u);
  EXPECT_EQ(ParseBytes("512MiB").ValueOrThrow(), 512u << 20);
  EXPECT_EQ(ParseBytes("1.5kB").ValueOrThrow(), 1500u);
  EXPECT_EQ(ParseBytes("2KiB").ValueOrThrow(), 2048u);
  EXPECT_EQ(ParseBytes("MB").ValueOrThrow(), 1'000'000u);
  EXPECT_EQ(ParseBytes("1e3").ValueOrThrow(), 1000u);
  EXPECT_FALSE(ParseBytes("").ok());
  EXPECT_FALSE(ParseBytes("12XB").ok());
  EXPECT_FALSE(ParseBytes("-1GB").ok());
  EXPECT_FALSE(ParseBytes("1.2.3GB").ok());
  EXPECT_FALSE(ParseBytes("1e400").ok());
}

TEST(CommandLine, ParseMemoryLimitLikeDask) {
  using tegu::distributed::ParseMemoryLimit;
  const uint64_t total = 16ull << 30;
  EXPECT_EQ(ParseMemoryLimit("0", 1, total, 8).ValueOrThrow(), 0u);
  EXPECT_EQ(ParseMemoryLimit("none", 1, total, 8).ValueOrThrow(), 0u);
  EXPECT_EQ(ParseMemoryLimit("auto", 2, total, 8).ValueOrThrow(), total / 4);
  EXPECT_EQ(ParseMemoryLimit("auto", 16, total, 8).ValueOrThrow(), total);
  EXPECT_EQ(ParseMemoryLimit("0.5", 1, total, 8).ValueOrThrow(), total / 2);
  EXPECT_EQ(ParseMemoryLimit("4GiB", 1, total, 8).ValueOrThrow(), 4ull << 30);
  EXPECT_EQ(ParseMemoryLimit("64GiB", 1, total, 8).ValueOrThrow(), total);  // capped
  EXPECT_EQ(ParseMemoryLimit("1000000", 1, total, 8).ValueOrThrow(), 1'000'000u);
  EXPECT_FALSE(ParseMemoryLimit("lots", 1, total, 8).ok());
}

// ---- processes -------------------------------------------------------------------------------

TEST(Processes, KilledTeguWorkerMidGraphGivesTheRightAnswer) {
  ProcessCluster cluster;
  ASSERT_NO_FATAL_FAILURE(cluster.StartScheduler());
  cluster.StartWorker(false);
  cluster.StartWorker(false, {"--memory-limit", "0"});
  KillAWorkerMidGraph(cluster, "tegu.inc", 20000, 100);
}

TEST(Processes, AProgramRunsAsAWorkerWithItsRegisteredFunctions) {
  ProcessCluster cluster;
  ASSERT_NO_FATAL_FAILURE(cluster.StartScheduler());
  cluster.StartWorker(true, {"--nthreads", "2"});
  cluster.StartWorker(true, {"--nthreads", "2"});
  // cli_test_slow_inc exists only in this binary: the `tegu` executable does not have it.
  KillAWorkerMidGraph(cluster, "cli_test_slow_inc", 2000, 50);
}

TEST(Processes, ATaskThatKillsEveryWorkerItRunsOnFailsWithKilledWorker) {
  ProcessCluster cluster;
  ASSERT_NO_FATAL_FAILURE(cluster.StartScheduler());
  for (int i = 0; i < 3; ++i) cluster.StartWorker(true);
  tegu::Client client = cluster.Connect();
  ASSERT_TRUE(cluster.WaitForWorkers(client, 3));
  auto doomed = client.submit<int64_t>("cli_test_die", 1);
  try {
    doomed.result();
    FAIL() << "expected KilledWorker";
  } catch (const tegu::KilledWorker& e) {
    EXPECT_EQ(e.kind(), "killed-worker");
    EXPECT_NE(std::string(e.what()).find("KilledWorker"), std::string::npos) << e.what();
  }
  for (auto& w : cluster.workers) EXPECT_EQ(w->Wait(), 128 + SIGKILL);
  EXPECT_TRUE(cluster.scheduler->Running()) << cluster.scheduler->err();
}

TEST(Processes, WrongSecretAndUnreachableSchedulerAreClearErrors) {
  ProcessCluster cluster;
  ASSERT_NO_FATAL_FAILURE(cluster.StartScheduler());
  Child wrong({TEGU_CLI_PATH, "worker", cluster.address, "--secret", "not-the-secret"},
              cluster.dir, "wrong");
  EXPECT_EQ(wrong.Wait(), 1);
  EXPECT_NE(wrong.err().find("refused"), std::string::npos) << wrong.err();

  // A port nobody listens on: the scheduler's own port once it is gone.
  cluster.scheduler->Signal(SIGTERM);
  EXPECT_EQ(cluster.scheduler->Wait(), 0) << cluster.scheduler->err();
  Child unreachable({TEGU_CLI_PATH, "worker", cluster.address, "--secret", cluster.secret},
                    cluster.dir, "unreachable");
  EXPECT_EQ(unreachable.Wait(), 1);
  EXPECT_NE(unreachable.err().find("cannot join the scheduler"), std::string::npos)
      << unreachable.err();

  Child bad_option({TEGU_CLI_PATH, "worker", cluster.address, "--nthreads", "-3"}, cluster.dir,
                   "bad-option");
  EXPECT_EQ(bad_option.Wait(), 2);
  EXPECT_NE(bad_option.err().find("--nthreads"), std::string::npos) << bad_option.err();
}

// Sends `bytes` on a plain TCP connection to 127.0.0.1:port; keeps it open if `keep`.
int SendRaw(int port, const std::string& bytes, bool keep) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return -1;
  }
  size_t sent = 0;
  while (sent < bytes.size()) {
    ssize_t n = ::send(fd, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) break;
    sent += static_cast<size_t>(n);
  }
  if (!keep) {
    ::close(fd);
    return 0;
  }
  return fd;
}

TEST(Processes, GarbageOnTheSchedulerPortDoesNotStopTheCluster) {
  ProcessCluster cluster;
  ASSERT_NO_FATAL_FAILURE(cluster.StartScheduler());
  cluster.StartWorker(false);
  tegu::Client client = cluster.Connect();
  ASSERT_TRUE(cluster.WaitForWorkers(client, 1));
  EXPECT_EQ(client.submit<int64_t>("tegu.inc", 1).result(), 2);

  std::mt19937 rng(42);
  std::string noise(1 << 16, '\0');
  for (char& c : noise) c = static_cast<char>(rng());
  std::vector<int> open_fds;
  EXPECT_EQ(SendRaw(cluster.Port(), noise, false), 0);
  EXPECT_EQ(SendRaw(cluster.Port(), "GET / HTTP/1.1\r\nHost: x\r\n\r\n", false), 0);
  EXPECT_EQ(SendRaw(cluster.Port(), std::string("\xff\xff\xff\xff\xff\xff\xff\x7f", 8), false), 0);
  open_fds.push_back(SendRaw(cluster.Port(), noise.substr(0, 100), true));
  open_fds.push_back(SendRaw(cluster.Port(), "", true));  // connects and says nothing

  // The cluster still computes, for this client and for a new one.
  std::vector<int64_t> xs{1, 2, 3, 4, 5};
  EXPECT_EQ(client.gather(client.map<int64_t>("tegu.square", xs)),
            (std::vector<int64_t>{1, 4, 9, 16, 25}));
  tegu::Client second = cluster.Connect();
  EXPECT_EQ(second.submit<int64_t>("tegu.add", 20, 22).result(), 42);
  for (int fd : open_fds) {
    if (fd >= 0) ::close(fd);
  }
  EXPECT_TRUE(cluster.scheduler->Running()) << cluster.scheduler->err();
}

TEST(Processes, SecretFileEnvironmentAndCleanShutdown) {
  TempDir dir;
  const std::string secret_file = dir.File("secret");
  // No secret given: the scheduler generates one and writes it for the others.
  Child scheduler({TEGU_CLI_PATH, "scheduler", "--port", "0", "--secret-file", secret_file}, dir,
                  "scheduler");
  std::optional<std::string> address = scheduler.WaitForLine("Scheduler at: ");
  ASSERT_TRUE(address.has_value()) << scheduler.err();
  struct stat st {};
  ASSERT_EQ(::stat(secret_file.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  std::string secret = ReadFile(secret_file);
  while (!secret.empty() && (secret.back() == '\n' || secret.back() == '\r')) secret.pop_back();
  EXPECT_EQ(secret.size(), 64u);
  EXPECT_NE(scheduler.err().find(secret), std::string::npos);

  Child from_file({TEGU_CLI_PATH, "worker", *address, "--secret-file", secret_file}, dir, "w1");
  Child from_env({TEGU_CLI_PATH, "worker", *address, "--nthreads", "2"}, dir, "w2",
                 {"TEGU_SECRET=" + secret});
  ASSERT_TRUE(from_file.WaitForLine("Worker at: ").has_value()) << from_file.err();
  ASSERT_TRUE(from_env.WaitForLine("Worker at: ").has_value()) << from_env.err();
  {
    tegu::Client client = tegu::Client::Connect(*address, secret).ValueOrThrow();
    for (int i = 0; i < 6000 && client.WorkerCount() < 2; ++i) std::this_thread::sleep_for(10ms);
    EXPECT_EQ(client.WorkerCount(), 2u);
    EXPECT_EQ(client.submit<int64_t>("tegu.mul", 6, 7).result(), 42);
  }
  // SIGINT stops the worker cleanly; the other one exits when the scheduler goes.
  from_env.Signal(SIGINT);
  EXPECT_EQ(from_env.Wait(), 0) << from_env.err();
  scheduler.Signal(SIGTERM);
  EXPECT_EQ(scheduler.Wait(), 0) << scheduler.err();
  EXPECT_EQ(from_file.Wait(), 0) << from_file.err();
}

TEST(Processes, ClientShutdownStopsTheScheduler) {
  ProcessCluster cluster;
  ASSERT_NO_FATAL_FAILURE(cluster.StartScheduler());
  Child* worker = cluster.StartWorker(false);
  tegu::Client client = cluster.Connect();
  ASSERT_TRUE(cluster.WaitForWorkers(client, 1));
  client.Shutdown();
  EXPECT_EQ(cluster.scheduler->Wait(), 0) << cluster.scheduler->err();
  EXPECT_EQ(worker->Wait(), 0) << worker->err();
}

}  // namespace

// This binary doubles as a cluster worker: `distributed_api_test --run-as-tegu-worker ADDRESS
// ...` runs tegu::RunWorker with the rest of the arguments.
int main(int argc, char** argv) {
  if (argc > 1 && std::string(argv[1]) == kWorkerFlag) return tegu::RunWorker(argc - 1, argv + 1);
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
