// Transport: authenticated, message-framed connections over TCP or Unix sockets (Asio), the thin
// I/O shell around the sans-IO scheduler and worker. Every connection runs the handshake of
// protocol/handshake.hpp before any payload is decoded; a wrong secret, a version mismatch or a
// malformed frame closes that one connection with a logged reason and nothing else.
//
// Addresses: "tcp://HOST:PORT" (port 0 picks a free one) or "unix:///path/to/socket".
// TLS: "tls://HOST:PORT" with TransportOptions::tls (PEM files) wraps TCP in TLS 1.2+ (mutual when
// the server has a CA); the secret handshake still runs inside the TLS stream.
//
// Lifetime: listeners and connections must not outlive their IoLoop; destroying the loop closes
// every connection and listener still open.
//
// Thread-safety: an IoLoop runs all connection callbacks on its own thread. Connection::Send,
// Connection::Close, Listener::Close and Connect may be called from any thread.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "tegu/protocol/message.hpp"
#include "tegu/result.hpp"

namespace tegu::net {

/// An I/O thread and its event loop.
class IoLoop {
 public:
  IoLoop();
  ~IoLoop();  // stops the loop and joins the thread; connections are closed
  IoLoop(const IoLoop&) = delete;
  IoLoop& operator=(const IoLoop&) = delete;

  /// Runs `fn` on the loop thread, after the handlers already queued. Callable from any thread.
  void Post(std::function<void()> fn);
  /// Runs `fn` on the loop thread every `period` until the returned handle is destroyed (the
  /// handle may be dropped on any thread; a run in progress finishes).
  std::shared_ptr<void> Every(std::chrono::milliseconds period, std::function<void()> fn);
  /// Whether the caller is the loop thread (blocking calls such as Connect must not be).
  bool InLoopThread() const;
  struct Impl;
  Impl& impl() { return *impl_; }

 private:
  std::unique_ptr<Impl> impl_;
};

/// TLS for "tls://" addresses; all files are PEM. A listener presents cert/key and, when
/// `ca_file` is set and `verify_peer`, requires a client certificate signed by that CA (mutual
/// TLS, as Dask's tls config). A client verifies the server's certificate chain against
/// `ca_file` (the system store when empty) when `verify_peer`, and presents cert/key when set.
/// As in Dask, the certificate's host name is not checked: the cluster's CA is the trust root.
struct TlsOptions {
  std::string cert_file;
  std::string key_file;
  std::string ca_file;
  bool verify_peer = true;
};

struct TransportOptions {
  /// Required for "tls://" addresses, refused for any other scheme.
  std::optional<TlsOptions> tls;
};

class Connection {
 public:
  using MessageHandler = std::function<void(protocol::Message)>;
  using CloseHandler = std::function<void(const Status& why)>;
  virtual ~Connection() = default;

  /// Queues a message. Small messages queued together are written in one system call.
  virtual void Send(protocol::Message message) = 0;
  /// Closes the connection; the close handler runs once with `why`.
  virtual void Close(const Status& why) = 0;
  /// Handlers run on the loop thread; set them before messages can arrive (right after
  /// Connect returns or inside the listener's accept callback).
  virtual void SetHandlers(MessageHandler on_message, CloseHandler on_close) = 0;
  virtual const std::string& peer_address() const = 0;
  /// The role the peer declared in the handshake ("worker", "client", ...).
  virtual const std::string& peer_role() const = 0;
  virtual bool is_open() const = 0;
};

struct ConnectionStats {
  uint64_t accepted = 0;  ///< connections that completed the handshake
  uint64_t refused = 0;   ///< connections closed before or during the handshake
};

class Listener {
 public:
  using AcceptHandler = std::function<void(std::shared_ptr<Connection>)>;
  /// Listens on `address`; each peer that completes the handshake is passed to `on_accept` (on
  /// the loop thread). Peers that fail it are logged and dropped.
  /// A TLS handshake failure (untrusted certificate, a plain-TCP peer) counts as a refusal.
  static Result<std::unique_ptr<Listener>> Listen(IoLoop& loop, const std::string& address,
                                                  std::string secret, AcceptHandler on_accept,
                                                  const TransportOptions& options = {});
  virtual ~Listener() = default;
  /// The bound address, with the actual port.
  virtual const std::string& address() const = 0;
  virtual ConnectionStats stats() const = 0;
  virtual void Close() = 0;
};

/// Connects and authenticates as `role`. Fails with IOError (unreachable) or Invalid (refused:
/// wrong secret, version mismatch, TLS handshake failure) naming the address, or when `timeout`
/// passes (the TLS handshake included).
Result<std::shared_ptr<Connection>> Connect(IoLoop& loop, const std::string& address,
                                            std::string secret, std::string role,
                                            std::chrono::milliseconds timeout =
                                                std::chrono::seconds(10),
                                            const TransportOptions& options = {});

}  // namespace tegu::net
