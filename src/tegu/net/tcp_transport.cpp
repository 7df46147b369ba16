// Asio implementation of transport.hpp for TCP and Unix stream sockets, and TLS over TCP.
#include <asio.hpp>
#include <asio/ssl.hpp>
#include <openssl/ssl.h>

#include <atomic>
#include <deque>
#include <future>
#include <mutex>
#include <optional>
#include <thread>

#include <unistd.h>

#include "tegu/common/logging.hpp"
#include "tegu/net/transport.hpp"
#include "tegu/protocol/handshake.hpp"
#include "tegu/protocol/header.hpp"
#include "tegu/protocol/wire.hpp"

namespace tegu::net {

using protocol::Message;
using protocol::MessageDecoder;
using protocol::WireLimits;

namespace {
// What the loop closes when it stops: connections (whose handlers may hold references to the
// connection itself) and listeners.
class LoopResource {
 public:
  virtual ~LoopResource() = default;
  virtual void CloseFromLoop() = 0;  // loop thread
};
}  // namespace

struct IoLoop::Impl {
  asio::io_context io;
  asio::executor_work_guard<asio::io_context::executor_type> guard{io.get_executor()};
  std::thread thread;
  std::mutex mu;
  std::vector<std::weak_ptr<LoopResource>> resources;

  void Register(std::weak_ptr<LoopResource> resource) {
    std::lock_guard<std::mutex> lock(mu);
    std::erase_if(resources, [](const auto& r) { return r.expired(); });
    resources.push_back(std::move(resource));
  }
};

IoLoop::IoLoop() : impl_(std::make_unique<Impl>()) {
  impl_->thread = std::thread([this] { impl_->io.run(); });
}

IoLoop::~IoLoop() {
  // Close everything on the loop so pending operations finish and handler cycles are broken,
  // then let run() return once no work is left.
  asio::post(impl_->io, [impl = impl_.get()] {
    std::vector<std::weak_ptr<LoopResource>> resources;
    {
      std::lock_guard<std::mutex> lock(impl->mu);
      resources.swap(impl->resources);
    }
    for (auto& weak : resources) {
      if (auto r = weak.lock()) r->CloseFromLoop();
    }
  });
  impl_->guard.reset();
  impl_->thread.join();
}

void IoLoop::Post(std::function<void()> fn) { asio::post(impl_->io, std::move(fn)); }

bool IoLoop::InLoopThread() const { return std::this_thread::get_id() == impl_->thread.get_id(); }

namespace {
// A repeating timer. The loop holds it through its pending wait; the caller's handle sets
// `cancelled`, and the next expiry drops it.
struct RepeatingTimer : LoopResource, std::enable_shared_from_this<RepeatingTimer> {
  void CloseFromLoop() override {
    cancelled.store(true);
    timer.cancel();
  }
  RepeatingTimer(asio::io_context& io, std::chrono::milliseconds period, std::function<void()> fn)
      : timer(io), period(period), fn(std::move(fn)) {}
  void Arm() {
    timer.expires_after(period);
    timer.async_wait([self = shared_from_this()](const asio::error_code& ec) {
      if (ec || self->cancelled.load()) return;
      self->fn();
      if (!self->cancelled.load()) self->Arm();
    });
  }
  asio::steady_timer timer;
  std::chrono::milliseconds period;
  std::function<void()> fn;
  std::atomic<bool> cancelled{false};
};
}  // namespace

std::shared_ptr<void> IoLoop::Every(std::chrono::milliseconds period, std::function<void()> fn) {
  auto timer = std::make_shared<RepeatingTimer>(impl_->io, period, std::move(fn));
  impl_->Register(timer);  // a loop being destroyed stops it
  asio::post(impl_->io, [timer] { timer->Arm(); });
  // The handle only flags the timer; the loop thread owns (and cancels) the asio timer itself.
  return std::shared_ptr<void>(nullptr, [timer](void*) {
    timer->cancelled.store(true);
  });
}

namespace {

constexpr auto kHandshakeTimeout = std::chrono::seconds(10);
// Coalescing: messages queued while a write is in flight go out together, up to this size.
constexpr size_t kMaxBatchBytes = 4 << 20;

using TlsStream = asio::ssl::stream<asio::ip::tcp::socket>;
template <class Socket>
constexpr bool kIsTls = std::is_same_v<Socket, TlsStream>;

struct ParsedAddress {
  bool is_unix = false;
  bool is_tls = false;
  std::string host;
  uint16_t port = 0;
  std::string path;
};

Result<ParsedAddress> ParseAddress(const std::string& address) {
  ParsedAddress out;
  if (address.rfind("unix://", 0) == 0) {
    out.is_unix = true;
    out.path = address.substr(7);
    if (out.path.empty()) return Status::Invalid("address '" + address + "' has no socket path");
    return out;
  }
  std::string rest = address;
  if (address.rfind("tcp://", 0) == 0) {
    rest = address.substr(6);
  } else if (address.rfind("tls://", 0) == 0) {
    out.is_tls = true;
    rest = address.substr(6);
  }
  size_t colon = rest.rfind(':');
  if (colon == std::string::npos) {
    return Status::Invalid("address '" + address + "' has no port (expected " +
                           (out.is_tls ? "tls" : "tcp") + "://HOST:PORT)");
  }
  out.host = rest.substr(0, colon);
  if (out.host.size() >= 2 && out.host.front() == '[' && out.host.back() == ']') {
    out.host = out.host.substr(1, out.host.size() - 2);
  }
  try {
    int port = std::stoi(rest.substr(colon + 1));
    if (port < 0 || port > 65535) throw std::out_of_range("port");
    out.port = static_cast<uint16_t>(port);
  } catch (const std::exception&) {
    return Status::Invalid("address '" + address + "' has an invalid port");
  }
  return out;
}

// A TLS 1.2+ context for one side, from `options` (see TlsOptions).
Result<std::shared_ptr<asio::ssl::context>> MakeTlsContext(const TlsOptions& options,
                                                           bool server) {
  auto ctx = std::make_shared<asio::ssl::context>(server ? asio::ssl::context::tls_server
                                                         : asio::ssl::context::tls_client);
  asio::error_code ec;
  ctx->set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                       asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 |
                       asio::ssl::context::no_tlsv1_1,
                   ec);
  if (ec) return Status::Invalid("TLS: cannot set context options: " + ec.message());
  if (SSL_CTX_set_min_proto_version(ctx->native_handle(), TLS1_2_VERSION) != 1) {
    return Status::Invalid("TLS: cannot require TLS 1.2 or newer");
  }
  if (server && (options.cert_file.empty() || options.key_file.empty())) {
    return Status::Invalid("TLS: a listener needs cert_file and key_file");
  }
  if (options.cert_file.empty() != options.key_file.empty()) {
    return Status::Invalid("TLS: cert_file and key_file go together");
  }
  if (!options.cert_file.empty()) {
    ctx->use_certificate_chain_file(options.cert_file, ec);
    if (ec) {
      return Status::Invalid("TLS: cannot load certificate '" + options.cert_file +
                             "': " + ec.message());
    }
    ctx->use_private_key_file(options.key_file, asio::ssl::context::pem, ec);
    if (ec) {
      return Status::Invalid("TLS: cannot load private key '" + options.key_file +
                             "': " + ec.message());
    }
    if (SSL_CTX_check_private_key(ctx->native_handle()) != 1) {
      return Status::Invalid("TLS: private key '" + options.key_file +
                             "' does not match certificate '" + options.cert_file + "'");
    }
  }
  if (!options.ca_file.empty()) {
    ctx->load_verify_file(options.ca_file, ec);
    if (ec) {
      return Status::Invalid("TLS: cannot load CA file '" + options.ca_file + "': " + ec.message());
    }
  }
  asio::ssl::verify_mode mode = asio::ssl::verify_none;
  if (options.verify_peer) {
    if (server) {
      // Mutual TLS when the listener has a CA to check clients against.
      if (!options.ca_file.empty()) {
        mode = asio::ssl::verify_peer | asio::ssl::verify_fail_if_no_peer_cert;
      }
    } else {
      mode = asio::ssl::verify_peer;
      if (options.ca_file.empty()) {
        ctx->set_default_verify_paths(ec);
        if (ec) return Status::Invalid("TLS: cannot load the system CA store: " + ec.message());
      }
    }
  }
  ctx->set_verify_mode(mode, ec);
  if (ec) return Status::Invalid("TLS: cannot set the verify mode: " + ec.message());
  return ctx;
}

// Which scheme may use which options: TLS options only with (and always with) tls://.
Status CheckOptions(const std::string& address, const ParsedAddress& parsed,
                    const TransportOptions& options) {
  if (parsed.is_tls && !options.tls) {
    return Status::Invalid("address '" + address + "' needs TLS options (cert, key, CA files)");
  }
  if (!parsed.is_tls && options.tls) {
    return Status::Invalid("TLS options were given for '" + address +
                           "', which is not a tls:// address");
  }
  return Status::OK();
}

template <class Socket>
class AsioConnection final : public Connection,
                             public LoopResource,
                             public std::enable_shared_from_this<AsioConnection<Socket>> {
 public:
  using HandshakeStep = std::function<void(Message)>;

  // `tls_context` (TLS only) is the context `socket` was made with, kept alive with it.
  AsioConnection(asio::io_context& io, Socket socket, std::string peer,
                 std::shared_ptr<asio::ssl::context> tls_context = nullptr)
      : io_(io), socket_(std::move(socket)), peer_(std::move(peer)),
        tls_context_(std::move(tls_context)), decoder_(WireLimits::Unauthenticated()),
        handshake_timer_(io), transport_ready_(!kIsTls<Socket>) {}

  // Loop thread: begins reading (after the TLS handshake, for TLS, as `server` or client side),
  // with `step` receiving messages until Established(). The handshake timeout covers both.
  void Start(IoLoop::Impl& loop, bool server, HandshakeStep step,
             std::function<void(const Status&)> on_handshake_failure) {
    loop.Register(this->shared_from_this());
    handshake_step_ = std::move(step);
    on_handshake_failure_ = std::move(on_handshake_failure);
    handshake_timer_.expires_after(kHandshakeTimeout);
    handshake_timer_.async_wait([self = this->shared_from_this()](const asio::error_code& ec) {
      if (!ec && !self->established_) {
        self->CloseNow(Status::Invalid("handshake timed out"));
      }
    });
    if constexpr (kIsTls<Socket>) {
      socket_.async_handshake(
          server ? asio::ssl::stream_base::server : asio::ssl::stream_base::client,
          [self = this->shared_from_this()](const asio::error_code& ec) {
            if (self->closed_) return;
            if (ec) {
              self->CloseNow(Status::Invalid("TLS handshake failed: " + ec.message()));
              return;
            }
            // Messages queued meanwhile (the server's hello) may go out now.
            self->transport_ready_ = true;
            if (!self->outbox_.empty() && !self->writing_) self->Flush();
            self->ReadSome();
          });
    } else {
      ReadSome();
    }
  }

  // Loop thread: the peer is authenticated.
  void Established(std::string role) {
    role_ = std::move(role);
    established_ = true;
    open_ = true;
    handshake_timer_.cancel();
    decoder_.set_limits(WireLimits());
    handshake_step_ = nullptr;
  }

  void Send(Message message) override {
    asio::post(io_, [self = this->shared_from_this(), m = std::move(message)]() mutable {
      if (self->closed_) return;
      self->outbox_.push_back(std::move(m));
      if (!self->writing_ && self->transport_ready_) self->Flush();
    });
  }

  void Close(const Status& why) override {
    asio::post(io_, [self = this->shared_from_this(), why] { self->CloseNow(why); });
  }

  void SetHandlers(MessageHandler on_message, CloseHandler on_close) override {
    asio::post(io_, [self = this->shared_from_this(), m = std::move(on_message),
                     c = std::move(on_close)]() mutable {
      self->on_message_ = std::move(m);
      self->on_close_ = std::move(c);
      while (!self->pending_.empty() && self->on_message_) {
        Message msg = std::move(self->pending_.front());
        self->pending_.pop_front();
        self->on_message_(std::move(msg));
      }
      if (self->closed_ && self->on_close_) {
        auto handler = std::move(self->on_close_);
        self->on_close_ = nullptr;
        handler(self->close_reason_);
      }
    });
  }

  const std::string& peer_address() const override { return peer_; }
  const std::string& peer_role() const override { return role_; }
  bool is_open() const override { return open_.load(); }

  // Loop thread: tells the peer why it is refused (best effort, a tiny blocking write), then
  // closes. The reason helps an operator whose worker has the wrong secret.
  void RefuseNow(const Status& why) {
    protocol::HeaderBuilder b("refused", 1);
    b.Add("reason", why.message());
    Message refusal;
    refusal.header = b.Finish().ValueOrThrow();
    std::string bytes = protocol::EncodeMessage(refusal);
    asio::error_code ignored;
    asio::write(socket_, asio::buffer(bytes), ignored);
    CloseNow(why);
  }

  void CloseFromLoop() override { CloseNow(Status::Cancelled("the I/O loop stopped")); }

  // Loop thread.
  void CloseNow(const Status& why) {
    if (closed_) return;
    closed_ = true;
    open_ = false;
    close_reason_ = why;
    // The raw socket (under TLS, without a close_notify: the peer sees a truncated stream).
    asio::error_code ignored;
    socket_.lowest_layer().shutdown(asio::socket_base::shutdown_both, ignored);
    socket_.lowest_layer().close(ignored);
    handshake_timer_.cancel();
    if (!established_ && on_handshake_failure_) {
      auto fail = std::move(on_handshake_failure_);
      on_handshake_failure_ = nullptr;
      fail(why);
    }
    handshake_step_ = nullptr;
    on_message_ = nullptr;
    pending_.clear();
    outbox_.clear();
    if (on_close_) {
      auto handler = std::move(on_close_);
      on_close_ = nullptr;
      handler(why);
    }
  }

 private:
  void ReadSome() {
    socket_.async_read_some(
        asio::buffer(read_buffer_),
        [self = this->shared_from_this()](const asio::error_code& ec, size_t n) {
          if (ec) {
            // A TLS peer that closes its socket without a close_notify truncates the stream.
            bool closed_by_peer = ec == asio::error::eof ||
                                  ec == asio::ssl::error::stream_truncated;
            self->CloseNow(closed_by_peer
                               ? Status::Cancelled("connection closed by peer " + self->peer_)
                               : Status::IOError("reading from " + self->peer_ + ": " +
                                                 ec.message()));
            return;
          }
          Status st = self->decoder_.Feed(self->read_buffer_.data(), n);
          while (auto m = self->decoder_.Next()) {
            if (self->closed_) return;
            self->Dispatch(std::move(*m));
          }
          if (!st.ok()) {
            internal::Log(internal::LogLevel::kWarn, "net",
                          "closing connection from " + self->peer_ + ": " + st.message());
            self->CloseNow(st);
            return;
          }
          if (!self->closed_) self->ReadSome();
        });
  }

  void Dispatch(Message m) {
    if (!established_) {
      // A copy: the step may end the handshake, which drops handshake_step_ while it runs.
      if (HandshakeStep step = handshake_step_) step(std::move(m));
      return;
    }
    if (on_message_) {
      on_message_(std::move(m));
    } else {
      pending_.push_back(std::move(m));
    }
  }

  void Flush() {
    writing_ = true;
    batch_.clear();
    prefixes_.clear();
    size_t bytes = 0;
    while (!outbox_.empty() && (batch_.empty() || bytes < kMaxBatchBytes)) {
      batch_.push_back(std::move(outbox_.front()));
      outbox_.pop_front();
      prefixes_.push_back(protocol::EncodePrefix(batch_.back()));
      bytes += prefixes_.back().size();
      for (const auto& f : batch_.back().frames) bytes += f.size();
    }
    buffers_.clear();
    for (size_t i = 0; i < batch_.size(); ++i) {
      buffers_.push_back(asio::buffer(prefixes_[i]));
      for (const auto& f : batch_[i].frames) buffers_.push_back(asio::buffer(f.data(), f.size()));
    }
    asio::async_write(socket_, buffers_,
                      [self = this->shared_from_this()](const asio::error_code& ec, size_t) {
                        self->writing_ = false;
                        if (ec) {
                          self->CloseNow(Status::IOError("writing to " + self->peer_ + ": " +
                                                         ec.message()));
                          return;
                        }
                        if (!self->outbox_.empty() && !self->closed_) self->Flush();
                      });
  }

  asio::io_context& io_;
  Socket socket_;
  std::string peer_;
  std::shared_ptr<asio::ssl::context> tls_context_;
  std::string role_;
  MessageDecoder decoder_;
  asio::steady_timer handshake_timer_;
  std::array<uint8_t, 64 * 1024> read_buffer_{};
  HandshakeStep handshake_step_;
  std::function<void(const Status&)> on_handshake_failure_;
  MessageHandler on_message_;
  CloseHandler on_close_;
  std::deque<Message> pending_;
  std::deque<Message> outbox_;
  std::vector<Message> batch_;
  std::vector<std::string> prefixes_;
  std::vector<asio::const_buffer> buffers_;
  bool writing_ = false;
  bool transport_ready_;  // false until the TLS handshake is done (true without TLS)
  bool closed_ = false;
  bool established_ = false;
  std::atomic<bool> open_{false};
  Status close_reason_;
};

template <class Protocol>
class AsioListener final : public Listener,
                           public LoopResource,
                           public std::enable_shared_from_this<AsioListener<Protocol>> {
 public:
  using Socket = typename Protocol::socket;
  // With `tls_context` (TCP only), each accepted socket is wrapped in TLS.
  AsioListener(IoLoop::Impl& loop, typename Protocol::acceptor acceptor, std::string address,
               std::string secret, AcceptHandler on_accept,
               std::shared_ptr<asio::ssl::context> tls_context = nullptr)
      : loop_(loop), io_(loop.io), acceptor_(std::move(acceptor)), address_(std::move(address)),
        secret_(std::move(secret)), on_accept_(std::move(on_accept)),
        tls_context_(std::move(tls_context)) {}

  void CloseFromLoop() override {
    asio::error_code ignored;
    acceptor_.close(ignored);
  }

  void AcceptNext() {
    acceptor_.async_accept([self = this->shared_from_this()](const asio::error_code& ec,
                                                             Socket socket) {
      if (ec) {
        if (ec != asio::error::operation_aborted) {
          internal::Log(internal::LogLevel::kWarn, "net", "accept failed: " + ec.message());
          self->AcceptNext();
        }
        return;
      }
      if constexpr (std::is_same_v<Socket, asio::ip::tcp::socket>) {
        // Small messages (task reports, compute requests) must not wait for Nagle's timer.
        asio::error_code ignored;
        socket.set_option(asio::ip::tcp::no_delay(true), ignored);
      }
      std::string peer = self->PeerName(socket);
      if constexpr (std::is_same_v<Protocol, asio::ip::tcp>) {
        if (self->tls_context_) {
          self->Handshake(TlsStream(std::move(socket), *self->tls_context_), std::move(peer));
          self->AcceptNext();
          return;
        }
      }
      self->Handshake(std::move(socket), std::move(peer));
      self->AcceptNext();
    });
  }

  const std::string& address() const override { return address_; }
  ConnectionStats stats() const override { return {accepted_.load(), refused_.load()}; }
  void Close() override {
    if (io_.get_executor().running_in_this_thread()) {
      asio::error_code ignored;
      acceptor_.close(ignored);
      return;
    }
    std::promise<void> done;
    asio::post(io_, [self = this->shared_from_this(), &done] {
      asio::error_code ignored;
      self->acceptor_.close(ignored);
      done.set_value();
    });
    done.get_future().wait();
  }

 private:
  template <class Stream>
  void Handshake(Stream stream, std::string peer) {
    auto conn = std::make_shared<AsioConnection<Stream>>(io_, std::move(stream), peer,
                                                         tls_context_);
    auto server = std::make_shared<protocol::ServerHandshake>(secret_);
    std::weak_ptr<AsioConnection<Stream>> weak = conn;
    auto self = this->shared_from_this();
    conn->Start(
        loop_, /*server=*/true,
        [self, weak, server](Message m) {
          auto c = weak.lock();
          if (!c) return;
          Result<Message> welcome = server->OnAuth(m);
          if (!welcome.ok()) {
            c->RefuseNow(welcome.status());
            return;
          }
          c->Send(std::move(welcome.ValueUnsafe()));
          c->Established(server->peer_role());
          self->accepted_++;
          if (self->on_accept_) self->on_accept_(c);
        },
        [self, peer](const Status& why) {
          self->refused_++;
          internal::Log(internal::LogLevel::kWarn, "net",
                        "refused connection from " + peer + ": " + why.message());
        });
    conn->Send(server->Hello());
  }

  std::string PeerName(const Socket& socket) const {
    asio::error_code ec;
    auto ep = socket.remote_endpoint(ec);
    if (ec) return "unknown peer";
    if constexpr (std::is_same_v<Protocol, asio::ip::tcp>) {
      std::string host = ep.address().is_v6() ? "[" + ep.address().to_string() + "]"
                                              : ep.address().to_string();
      return (tls_context_ ? "tls://" : "tcp://") + host + ":" + std::to_string(ep.port());
    } else {
      return "unix://" + std::string(ep.path());
    }
  }

  IoLoop::Impl& loop_;
  asio::io_context& io_;
  typename Protocol::acceptor acceptor_;
  std::string address_;
  std::string secret_;
  AcceptHandler on_accept_;
  std::shared_ptr<asio::ssl::context> tls_context_;
  std::atomic<uint64_t> accepted_{0};
  std::atomic<uint64_t> refused_{0};
};

// Keeps the listener alive while its loop may still call it; Close() stops accepting.
class ListenerHandle final : public Listener {
 public:
  explicit ListenerHandle(std::shared_ptr<Listener> inner) : inner_(std::move(inner)) {}
  ~ListenerHandle() override { inner_->Close(); }
  const std::string& address() const override { return inner_->address(); }
  ConnectionStats stats() const override { return inner_->stats(); }
  void Close() override { inner_->Close(); }

 private:
  std::shared_ptr<Listener> inner_;
};

// The server's reason, when `m` is its refusal of our handshake.
std::optional<std::string> RefusalReason(const Message& m) {
  Result<protocol::HeaderView> view = protocol::HeaderView::Parse(m.header);
  if (!view.ok() || view.ValueUnsafe().op() != "refused") return std::nullopt;
  Result<std::string> reason = view.ValueUnsafe().GetString("reason");
  return "refused by the server: " + (reason.ok() ? reason.ValueUnsafe() : "no reason given");
}

template <class Socket>
Result<std::shared_ptr<Connection>> Authenticate(IoLoop::Impl& loop, Socket socket,
                                                 std::string peer, std::string secret,
                                                 std::string role,
                                                 std::chrono::milliseconds timeout,
                                                 std::shared_ptr<asio::ssl::context> tls_context =
                                                     nullptr) {
  asio::io_context& io = loop.io;
  auto conn = std::make_shared<AsioConnection<Socket>>(io, std::move(socket), peer,
                                                       std::move(tls_context));
  auto client = std::make_shared<protocol::ClientHandshake>(std::move(secret), std::move(role));
  auto result = std::make_shared<std::promise<Status>>();
  std::weak_ptr<AsioConnection<Socket>> weak = conn;
  asio::post(io, [&loop, conn, client, result, weak] {
    conn->Start(
        loop, /*server=*/false,
        [client, result, weak, step = std::make_shared<int>(0)](Message m) {
          auto c = weak.lock();
          if (!c) return;
          if (auto refused = RefusalReason(m)) return c->CloseNow(Status::Invalid(*refused));
          if ((*step)++ == 0) {
            Result<Message> auth = client->OnHello(m);
            if (!auth.ok()) return c->CloseNow(auth.status());
            c->Send(std::move(auth.ValueUnsafe()));
            return;
          }
          Status st = client->OnWelcome(m);
          if (!st.ok()) return c->CloseNow(st);
          c->Established("server");
          result->set_value(Status::OK());
        },
        [result](const Status& why) { result->set_value(why); });
  });
  auto future = result->get_future();
  if (future.wait_for(timeout) != std::future_status::ready) {
    conn->Close(Status::IOError("handshake timed out"));
    return Status::IOError("connecting to " + peer + ": handshake timed out");
  }
  Status st = future.get();
  if (!st.ok()) return st.WithContext("connecting to " + peer);
  return std::shared_ptr<Connection>(conn);
}

}  // namespace

Result<std::unique_ptr<Listener>> Listener::Listen(IoLoop& loop, const std::string& address,
                                                   std::string secret, AcceptHandler on_accept,
                                                   const TransportOptions& options) {
  TEGU_ASSIGN_OR_RAISE(ParsedAddress parsed, ParseAddress(address));
  TEGU_RETURN_NOT_OK(CheckOptions(address, parsed, options));
  std::shared_ptr<asio::ssl::context> tls_context;
  if (parsed.is_tls) {
    TEGU_ASSIGN_OR_RAISE(tls_context, MakeTlsContext(*options.tls, /*server=*/true));
  }
  asio::io_context& io = loop.impl().io;
  asio::error_code ec;
  std::shared_ptr<Listener> inner;
  if (parsed.is_unix) {
    using P = asio::local::stream_protocol;
    ::unlink(parsed.path.c_str());
    P::acceptor acceptor(io);
    acceptor.open(P(), ec);
    if (!ec) acceptor.bind(P::endpoint(parsed.path), ec);
    if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) return Status::IOError("cannot listen on " + address + ": " + ec.message());
    auto l = std::make_shared<AsioListener<P>>(loop.impl(), std::move(acceptor), address, std::move(secret),
                                               std::move(on_accept));
    loop.impl().Register(l);
    asio::post(io, [l] { l->AcceptNext(); });
    inner = l;
  } else {
    using P = asio::ip::tcp;
    auto ip = asio::ip::make_address(parsed.host.empty() ? "0.0.0.0" : parsed.host, ec);
    if (ec) return Status::Invalid("address '" + address + "': bad host: " + ec.message());
    P::acceptor acceptor(io);
    P::endpoint endpoint(ip, parsed.port);
    acceptor.open(endpoint.protocol(), ec);
    if (!ec) acceptor.set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec) acceptor.bind(endpoint, ec);
    if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) return Status::IOError("cannot listen on " + address + ": " + ec.message());
    uint16_t port = acceptor.local_endpoint().port();
    std::string host = ip.is_v6() ? "[" + ip.to_string() + "]" : ip.to_string();
    std::string scheme = parsed.is_tls ? "tls://" : "tcp://";
    auto l = std::make_shared<AsioListener<P>>(loop.impl(), std::move(acceptor),
                                               scheme + host + ":" + std::to_string(port),
                                               std::move(secret), std::move(on_accept),
                                               std::move(tls_context));
    loop.impl().Register(l);
    asio::post(io, [l] { l->AcceptNext(); });
    inner = l;
  }
  return std::unique_ptr<Listener>(new ListenerHandle(std::move(inner)));
}

Result<std::shared_ptr<Connection>> Connect(IoLoop& loop, const std::string& address,
                                            std::string secret, std::string role,
                                            std::chrono::milliseconds timeout,
                                            const TransportOptions& options) {
  TEGU_ASSIGN_OR_RAISE(ParsedAddress parsed, ParseAddress(address));
  TEGU_RETURN_NOT_OK(CheckOptions(address, parsed, options));
  std::shared_ptr<asio::ssl::context> tls_context;  // before connecting: bad files fail fast
  if (parsed.is_tls) {
    TEGU_ASSIGN_OR_RAISE(tls_context, MakeTlsContext(*options.tls, /*server=*/false));
  }
  asio::io_context& io = loop.impl().io;
  asio::error_code ec;
  if (parsed.is_unix) {
    asio::local::stream_protocol::socket socket(io);
    socket.connect(asio::local::stream_protocol::endpoint(parsed.path), ec);
    if (ec) return Status::IOError("cannot connect to " + address + ": " + ec.message());
    return Authenticate(loop.impl(), std::move(socket), address, std::move(secret), std::move(role),
                        timeout);
  }
  asio::ip::tcp::resolver resolver(io);
  auto endpoints = resolver.resolve(parsed.host, std::to_string(parsed.port), ec);
  if (ec) return Status::IOError("cannot resolve " + address + ": " + ec.message());
  asio::ip::tcp::socket socket(io);
  asio::connect(socket, endpoints, ec);
  if (ec) return Status::IOError("cannot connect to " + address + ": " + ec.message());
  socket.set_option(asio::ip::tcp::no_delay(true), ec);
  if (tls_context) {
    TlsStream stream(std::move(socket), *tls_context);
    return Authenticate(loop.impl(), std::move(stream), address, std::move(secret),
                        std::move(role), timeout, std::move(tls_context));
  }
  return Authenticate(loop.impl(), std::move(socket), address, std::move(secret), std::move(role),
                      timeout);
}

}  // namespace tegu::net
