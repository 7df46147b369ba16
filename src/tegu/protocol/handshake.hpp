// The connection handshake: both ends prove they hold the cluster's secret before anything else
// is decoded (a payload may be a pickle, and unpickling is code execution), and agree on the
// protocol version. Sans-IO: the caller moves the Messages; nothing here touches a socket.
//
//   server -> client  hello   {version, nonce_s}
//   client -> server  auth    {version, role, nonce_c, proof_c = HMAC-SHA256(secret, "client" | nonce_s | nonce_c)}
//   server -> client  welcome {proof_s = HMAC-SHA256(secret, "server" | nonce_c | nonce_s)}
//
// Each side checks the other's proof with a constant-time comparison; the secret never crosses
// the wire, and fresh nonces on both sides defeat replays. Until the handshake succeeds a
// connection decodes with WireLimits::Unauthenticated().
//
// Thread-safety: a handshake object belongs to one connection and one thread.
#pragma once

#include <cstdint>
#include <string>

#include "tegu/protocol/message.hpp"
#include "tegu/result.hpp"

namespace tegu::protocol {

inline constexpr int64_t kProtocolVersion = 1;

/// A fresh random secret for a new cluster (hex, 256 bits).
std::string GenerateSecret();

class ServerHandshake {
 public:
  explicit ServerHandshake(std::string secret);
  /// The first message to send.
  Message Hello();
  /// Checks the client's answer: the welcome message to send, or why the peer is refused
  /// (wrong secret, version mismatch, malformed message) — then close the connection.
  Result<Message> OnAuth(const Message& auth);
  /// The role the client declared ("worker", "client", ...), once authenticated.
  const std::string& peer_role() const { return peer_role_; }

 private:
  std::string secret_;
  std::string nonce_;
  std::string peer_nonce_;
  std::string peer_role_;
};

class ClientHandshake {
 public:
  ClientHandshake(std::string secret, std::string role);
  /// Answers the server's hello.
  Result<Message> OnHello(const Message& hello);
  /// Checks that the server holds the secret too.
  Status OnWelcome(const Message& welcome);

 private:
  std::string secret_;
  std::string role_;
  std::string nonce_;
  std::string server_nonce_;
};

}  // namespace tegu::protocol
