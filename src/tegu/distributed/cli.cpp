#include "tegu/distributed/cli.hpp"

#include <CLI/CLI.hpp>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <iostream>
#include <mutex>
#include <sstream>
#include <thread>

#include "tegu/distributed/scheduler_service.hpp"
#include "tegu/distributed/worker_service.hpp"
#include "tegu/protocol/handshake.hpp"

namespace tegu::distributed {

namespace {

// ---- stop signals ----------------------------------------------------------------------------
//
// While a service runs, SIGINT and SIGTERM write a byte into the pipe of every running command
// (a self-pipe: the only thing a handler may safely do); the command's watcher thread reads it
// and closes the service. The handlers are installed by the first running command and the
// previous ones restored by the last.

constexpr int kMaxStopPipes = 64;
// Write ends of the running commands' pipes, plus one (0: a free slot). Constant-initialized
// and lock-free, so the handler may read them.
std::atomic<int> g_stop_pipes[kMaxStopPipes];

extern "C" void OnStopSignal(int) {
  const int saved_errno = errno;
  for (auto& slot : g_stop_pipes) {
    int fd = slot.load(std::memory_order_relaxed) - 1;
    if (fd >= 0) {
      char c = 's';
      [[maybe_unused]] ssize_t n = ::write(fd, &c, 1);
    }
  }
  errno = saved_errno;
}

struct SignalHandlers {
  std::mutex mu;
  int users = 0;
  struct sigaction old_int {};
  struct sigaction old_term {};
};
SignalHandlers& Handlers() {
  static auto* h = new SignalHandlers();  // leaked: may be used during static destruction
  return *h;
}

class StopSignals {
 public:
  StopSignals() {
    if (::pipe2(fds_, O_CLOEXEC | O_NONBLOCK) != 0) {
      fds_[0] = fds_[1] = -1;
      return;
    }
    SignalHandlers& h = Handlers();
    std::lock_guard<std::mutex> lock(h.mu);
    for (int i = 0; i < kMaxStopPipes; ++i) {
      int expected = 0;
      if (g_stop_pipes[i].compare_exchange_strong(expected, fds_[1] + 1)) {
        slot_ = i;
        break;
      }
    }
    if (h.users++ == 0) {
      struct sigaction sa {};
      sa.sa_handler = OnStopSignal;
      sigemptyset(&sa.sa_mask);
      sa.sa_flags = SA_RESTART;
      sigaction(SIGINT, &sa, &h.old_int);
      sigaction(SIGTERM, &sa, &h.old_term);
    }
  }
  ~StopSignals() {
    if (fds_[0] < 0) return;
    {
      SignalHandlers& h = Handlers();
      std::lock_guard<std::mutex> lock(h.mu);
      if (slot_ >= 0) g_stop_pipes[slot_].store(0);
      if (--h.users == 0) {
        sigaction(SIGINT, &h.old_int, nullptr);
        sigaction(SIGTERM, &h.old_term, nullptr);
      }
    }
    ::close(fds_[0]);
    ::close(fds_[1]);
  }
  StopSignals(const StopSignals&) = delete;
  StopSignals& operator=(const StopSignals&) = delete;

  /// Blocks until a stop signal (true) or Wake() (false).
  bool Wait() {
    if (fds_[0] < 0) return false;
    for (;;) {
      pollfd p{fds_[0], POLLIN, 0};
      int r = ::poll(&p, 1, -1);
      if (r < 0 && errno == EINTR) continue;
      if (r < 0) return false;
      char c = 0;
      ssize_t n = ::read(fds_[0], &c, 1);
      if (n == 1) return c == 's';
      if (n < 0 && (errno == EAGAIN || errno == EINTR)) continue;
      return false;
    }
  }
  void Wake() {
    if (fds_[1] < 0) return;
    char c = 'w';
    [[maybe_unused]] ssize_t n = ::write(fds_[1], &c, 1);
  }

 private:
  int fds_[2] = {-1, -1};
  int slot_ = -1;
};

// Runs `close` on a watcher thread when a stop signal arrives, until the object is destroyed.
class CloseOnSignal {
 public:
  CloseOnSignal(StopSignals* signals, std::function<void()> close)
      : signals_(signals), thread_([this, close = std::move(close)] {
          if (signals_->Wait()) {
            signaled_ = true;
            close();
          }
        }) {}
  ~CloseOnSignal() {
    signals_->Wake();
    thread_.join();
  }
  bool signaled() const { return signaled_; }

 private:
  StopSignals* signals_;
  std::atomic<bool> signaled_{false};
  std::thread thread_;
};

// ---- options ----------------------------------------------------------------------------------

std::string Trim(std::string s) {
  auto space = [](unsigned char c) { return std::isspace(c) != 0; };
  s.erase(s.begin(), std::find_if_not(s.begin(), s.end(), space));
  s.erase(std::find_if_not(s.rbegin(), s.rend(), space).base(), s.end());
  return s;
}

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

uint64_t TotalMemory() {
  long pages = ::sysconf(_SC_PHYS_PAGES);
  long page = ::sysconf(_SC_PAGESIZE);
  if (pages <= 0 || page <= 0) return 0;
  return static_cast<uint64_t>(pages) * static_cast<uint64_t>(page);
}

unsigned TotalCores() { return std::max(1u, std::thread::hardware_concurrency()); }

std::string CheckAddress(const std::string& s) {
  if (s.rfind("tcp://", 0) == 0 || s.rfind("tls://", 0) == 0) {
    auto colon = s.rfind(':');
    if (colon < 6 || colon + 1 >= s.size()) return "expected tcp://HOST:PORT, got '" + s + "'";
    return {};
  }
  if (s.rfind("unix://", 0) == 0 && s.size() > 7) return {};
  return "expected tcp://HOST:PORT, tls://HOST:PORT or unix:///PATH, got '" + s + "'";
}

// TLS files given on the command line (all three, or none).
struct TlsArgs {
  std::string cert, key, ca;
};

void AddTlsOptions(CLI::App* app, TlsArgs* tls) {
  auto* cert = app->add_option("--tls-cert", tls->cert, "PEM certificate (tls:// addresses)")
                   ->check(CLI::ExistingFile);
  auto* key = app->add_option("--tls-key", tls->key, "PEM private key of --tls-cert")
                  ->check(CLI::ExistingFile);
  auto* ca = app->add_option("--tls-ca", tls->ca,
                             "PEM CA that peers' certificates must be signed by (mutual TLS)")
                 ->check(CLI::ExistingFile);
  cert->needs(key)->needs(ca);
  key->needs(cert);
  ca->needs(cert);
}

net::TransportOptions TransportFrom(const TlsArgs& tls) {
  net::TransportOptions t;
  if (!tls.cert.empty()) t.tls = net::TlsOptions{tls.cert, tls.key, tls.ca, true};
  return t;
}

CLI::Validator AddressValidator() {
  return CLI::Validator([](std::string& s) { return CheckAddress(s); }, "URL", "address");
}

std::string ReadSecretFile(const std::string& path, std::string* error) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    *error = "--secret-file: cannot read '" + path + "': " + std::strerror(errno);
    return {};
  }
  std::stringstream ss;
  ss << in.rdbuf();
  std::string secret = Trim(ss.str());
  if (secret.empty()) *error = "--secret-file: '" + path + "' is empty";
  return secret;
}

Status WriteSecretFile(const std::string& path, const std::string& secret) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return Status::IOError("cannot write '" + path + "': " + std::strerror(errno));
  ::fchmod(fd, 0600);  // an existing file keeps its mode through O_CREAT
  std::string text = secret + "\n";
  const char* p = text.data();
  size_t left = text.size();
  while (left > 0) {
    ssize_t n = ::write(fd, p, left);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      Status st = Status::IOError("cannot write '" + path + "': " + std::strerror(errno));
      ::close(fd);
      return st;
    }
    p += n;
    left -= static_cast<size_t>(n);
  }
  if (::close(fd) != 0) {
    return Status::IOError("cannot write '" + path + "': " + std::strerror(errno));
  }
  return Status::OK();
}

std::string SecretFromEnvironment() {
  const char* env = std::getenv("TEGU_SECRET");
  return env ? Trim(env) : std::string();
}

struct SchedulerArgs {
  std::string host = "127.0.0.1";
  int port = 8786;
  std::string address;
  std::string secret;
  std::string secret_file;
  TlsArgs tls;
};

struct WorkerArgs {
  std::string scheduler;
  int nthreads = 1;
  std::string memory_limit = "auto";
  std::string name;
  std::string listen_address = "tcp://127.0.0.1:0";
  std::string host;
  std::string secret;
  std::string secret_file;
  TlsArgs tls;
};

// A usage error found after parsing: printed like CLI11's, exit code 2.
int UsageError(std::ostream& err, const std::string& command, const std::string& message) {
  err << "tegu " << command << ": error: " << message << "\n"
      << "Run 'tegu " << command << " --help' for the options.\n";
  return 2;
}

// ---- commands ---------------------------------------------------------------------------------

int RunScheduler(SchedulerArgs a, std::ostream& out, std::ostream& err) {
  SchedulerServiceOptions options;
  options.transport = TransportFrom(a.tls);
  const std::string scheme = options.transport.tls ? "tls://" : "tcp://";
  options.address =
      a.address.empty() ? scheme + a.host + ":" + std::to_string(a.port) : a.address;
  bool generated = false;
  options.secret = a.secret.empty() ? SecretFromEnvironment() : a.secret;
  if (options.secret.empty()) {
    options.secret = protocol::GenerateSecret();
    generated = true;
  }
  if (!a.secret_file.empty()) {
    Status st = WriteSecretFile(a.secret_file, options.secret);
    if (!st.ok()) return UsageError(err, "scheduler", "--secret-file: " + st.message());
  }

  StopSignals signals;
  Result<std::unique_ptr<SchedulerService>> started = SchedulerService::Start(options);
  if (!started.ok()) {
    err << "tegu scheduler: cannot start at " << options.address << ": "
        << started.status().ToString() << std::endl;
    return 1;
  }
  std::unique_ptr<SchedulerService> scheduler = started.MoveValueUnsafe();
  if (generated) {
    err << "tegu scheduler: generated a secret (give it to workers and clients with --secret or "
           "TEGU_SECRET"
        << (a.secret_file.empty() ? "" : "; written to " + a.secret_file)
        << "): " << options.secret << std::endl;
  }
  out << "Scheduler at: " << scheduler->address() << std::endl;
  {
    CloseOnSignal watcher(&signals, [&] { scheduler->Close(); });
    scheduler->Wait();
  }
  scheduler.reset();
  err << "tegu scheduler: closed" << std::endl;
  return 0;
}

int RunWorkerCommand(WorkerArgs a, std::ostream& out, std::ostream& err) {
  WorkerServiceOptions options;
  options.scheduler_address = a.scheduler;
  options.nthreads = a.nthreads;
  options.name = a.name;
  options.transport = TransportFrom(a.tls);
  const std::string scheme = options.transport.tls ? "tls://" : "tcp://";
  options.listen_address = a.host.empty() ? a.listen_address : scheme + a.host + ":0";
  if (options.transport.tls && options.listen_address.rfind("tcp://", 0) == 0) {
    options.listen_address = "tls://" + options.listen_address.substr(6);  // peers use TLS too
  }
  Result<uint64_t> limit =
      ParseMemoryLimit(a.memory_limit, a.nthreads, TotalMemory(), TotalCores());
  if (!limit.ok()) return UsageError(err, "worker", "--memory-limit: " + limit.status().message());
  options.memory_limit = limit.ValueUnsafe();
  if (!a.secret.empty()) {
    options.secret = a.secret;
  } else if (!a.secret_file.empty()) {
    std::string error;
    options.secret = ReadSecretFile(a.secret_file, &error);
    if (!error.empty()) return UsageError(err, "worker", error);
  } else {
    options.secret = SecretFromEnvironment();
  }
  if (options.secret.empty()) {
    return UsageError(err, "worker",
                      "no secret: pass --secret or --secret-file, or set TEGU_SECRET");
  }

  StopSignals signals;
  Result<std::unique_ptr<WorkerService>> started = WorkerService::Start(options);
  if (!started.ok()) {
    const Status& st = started.status();
    if (st.code() == StatusCode::kInvalid &&
        st.message().find("connecting to") != std::string::npos) {
      err << "tegu worker: the scheduler at " << a.scheduler
          << " refused this worker (is the secret right?): " << st.ToString() << std::endl;
    } else {
      err << "tegu worker: cannot join the scheduler at " << a.scheduler << ": " << st.ToString()
          << std::endl;
    }
    return 1;
  }
  std::unique_ptr<WorkerService> worker = started.MoveValueUnsafe();
  out << "Worker at: " << worker->address() << std::endl;
  Status why;
  bool signaled = false;
  {
    CloseOnSignal watcher(&signals, [&] { worker->Close(); });
    why = worker->Wait();
    signaled = watcher.signaled();
  }
  worker.reset();
  if (!why.ok() && !signaled) {
    err << "tegu worker: " << why.ToString() << std::endl;
    return 1;
  }
  err << "tegu worker: closed" << std::endl;
  return 0;
}

}  // namespace

// ---- parsing ------------------------------------------------------------------------------------

Result<uint64_t> ParseBytes(std::string_view text) {
  // As Dask: spaces ignored, the unit is the trailing run of letters, the rest the number.
  std::string s = Lower(text);
  std::erase_if(s, [](char c) { return std::isspace(static_cast<unsigned char>(c)) != 0; });
  if (s.empty()) return Status::Invalid("empty size");
  size_t unit_start = s.size();
  while (unit_start > 0 && std::isalpha(static_cast<unsigned char>(s[unit_start - 1]))) {
    --unit_start;
  }
  std::string number = s.substr(0, unit_start);
  std::string unit = s.substr(unit_start);
  if (number.empty()) number = "1";  // "kB" alone, as Dask
  char* end = nullptr;
  errno = 0;
  double value = std::strtod(number.c_str(), &end);
  if (end != number.c_str() + number.size() || errno != 0 || !std::isfinite(value)) {
    return Status::Invalid("'" + std::string(text) + "' is not a size (e.g. 4GB, 512MiB)");
  }
  static const std::pair<const char*, double> kUnits[] = {
      {"", 1},          {"b", 1},
      {"k", 1e3},       {"kb", 1e3},         {"m", 1e6},          {"mb", 1e6},
      {"g", 1e9},       {"gb", 1e9},         {"t", 1e12},         {"tb", 1e12},
      {"p", 1e15},      {"pb", 1e15},        {"kib", 1024.0},     {"mib", 1048576.0},
      {"gib", 1073741824.0},                 {"tib", 1099511627776.0},
      {"pib", 1125899906842624.0}};
  for (const auto& [name, scale] : kUnits) {
    if (unit == name) {
      double bytes = value * scale;
      if (bytes < 0) return Status::Invalid("'" + std::string(text) + "' is negative");
      if (bytes >= 18446744073709551615.0) {
        return Status::Invalid("'" + std::string(text) + "' is too large");
      }
      return static_cast<uint64_t>(bytes);
    }
  }
  return Status::Invalid("'" + std::string(text) + "' has an unknown unit '" + unit +
                         "' (use B, kB, MB, GB, TB, KiB, MiB, GiB, TiB)");
}

Result<uint64_t> ParseMemoryLimit(std::string_view text, int nthreads, uint64_t total_memory,
                                  unsigned total_cores) {
  std::string s = Lower(Trim(std::string(text)));
  auto cap = [&](uint64_t bytes) {
    return total_memory > 0 ? std::min(bytes, total_memory) : bytes;
  };
  if (s == "0" || s == "none" || s.empty()) return uint64_t{0};
  if (s == "auto") {
    double share =
        std::min(1.0, static_cast<double>(std::max(nthreads, 1)) / std::max(total_cores, 1u));
    return static_cast<uint64_t>(static_cast<double>(total_memory) * share);
  }
  // A bare number of at most 1 is a fraction of the machine's memory (Dask).
  char* end = nullptr;
  errno = 0;
  double bare = std::strtod(s.c_str(), &end);
  if (end == s.c_str() + s.size() && errno == 0 && std::isfinite(bare) && bare > 0 &&
      bare <= 1) {
    if (total_memory == 0) return Status::Invalid("'" + s + "': the machine's memory is unknown");
    return static_cast<uint64_t>(static_cast<double>(total_memory) * bare);
  }
  TEGU_ASSIGN_OR_RAISE(uint64_t bytes, ParseBytes(s));
  return cap(bytes);
}

int RunCommandLine(std::vector<std::string> args) {
  return RunCommandLine(std::move(args), std::cout, std::cerr);
}

int RunCommandLine(std::vector<std::string> args, std::ostream& out, std::ostream& err) {
  CLI::App app{"Tegu: task graphs on a C++ engine. Start a cluster's scheduler and workers.",
               "tegu"};
  app.require_subcommand(1);
  app.fallthrough(false);

  SchedulerArgs sa;
  CLI::App* scheduler = app.add_subcommand(
      "scheduler", "Run a scheduler until SIGINT/SIGTERM or a client's shutdown request");
  auto* host_opt = scheduler->add_option("--host", sa.host, "Interface to listen on")
                       ->capture_default_str();
  auto* port_opt = scheduler->add_option("--port", sa.port, "Port to listen on (0 picks one)")
                       ->check(CLI::Range(0, 65535))
                       ->capture_default_str();
  scheduler
      ->add_option("--address", sa.address,
                   "Full listen address, tcp://HOST:PORT or unix:///PATH (instead of --host and "
                   "--port)")
      ->check(AddressValidator())
      ->excludes(host_opt)
      ->excludes(port_opt);
  scheduler->add_option("--secret", sa.secret,
                        "The cluster's secret (default: $TEGU_SECRET, else a generated one)");
  scheduler->add_option("--secret-file", sa.secret_file,
                        "Write the secret to this file (mode 0600) for workers and clients");
  AddTlsOptions(scheduler, &sa.tls);

  WorkerArgs wa;
  CLI::App* worker = app.add_subcommand(
      "worker", "Run a worker of the scheduler at ADDRESS until it goes away or SIGINT/SIGTERM");
  worker->add_option("address", wa.scheduler, "The scheduler, tcp://HOST:PORT or unix:///PATH")
      ->required()
      ->check(AddressValidator());
  worker->add_option("--nthreads", wa.nthreads, "Threads that run tasks")
      ->check(CLI::Range(1, 4096))
      ->capture_default_str();
  worker
      ->add_option("--memory-limit", wa.memory_limit,
                   "Bytes (4GB, 512MiB), a fraction of the machine's memory (0.5), 'auto' "
                   "(the machine's memory times nthreads/cores) or 0 for no limit")
      ->check(CLI::Validator(
          [](std::string& s) -> std::string {
            Result<uint64_t> r = ParseMemoryLimit(s, 1, TotalMemory(), TotalCores());
            return r.ok() ? std::string() : r.status().message();
          },
          "SIZE", "memory limit"))
      ->capture_default_str();
  worker->add_option("--name", wa.name, "The worker's name (default: its address)");
  auto* listen_opt =
      worker->add_option("--listen-address", wa.listen_address, "Where peers reach this worker")
          ->check(AddressValidator())
          ->capture_default_str();
  worker->add_option("--host", wa.host, "Interface to listen on (tcp://HOST:0)")
      ->excludes(listen_opt);
  auto* secret_opt = worker->add_option("--secret", wa.secret,
                                        "The cluster's secret (default: $TEGU_SECRET)");
  worker->add_option("--secret-file", wa.secret_file, "Read the secret from this file")
      ->excludes(secret_opt);
  AddTlsOptions(worker, &wa.tls);

  if (!args.empty() && !args[0].empty() && args[0][0] != '-' && args[0] != "scheduler" &&
      args[0] != "worker") {
    err << "tegu: error: unknown command '" << args[0] << "' (expected scheduler or worker)\n"
        << "Run 'tegu --help' for the commands.\n";
    return 2;
  }
  std::reverse(args.begin(), args.end());  // CLI11 takes the arguments last first
  try {
    app.parse(args);
  } catch (const CLI::CallForHelp&) {
    out << app.help();  // the selected subcommand's, with the "tegu worker" usage line
    return 0;
  } catch (const CLI::CallForAllHelp&) {
    out << app.help("", CLI::AppFormatMode::All);
    return 0;
  } catch (const CLI::ParseError& e) {
    std::string command = scheduler->parsed() ? " scheduler" : worker->parsed() ? " worker" : "";
    err << "tegu" << command << ": error: " << e.what() << "\n"
        << "Run 'tegu" << command << " --help' for the options.\n";
    return 2;
  }
  if (scheduler->parsed()) return RunScheduler(std::move(sa), out, err);
  return RunWorkerCommand(std::move(wa), out, err);
}

}  // namespace tegu::distributed
