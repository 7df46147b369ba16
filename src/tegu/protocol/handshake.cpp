#include "tegu/protocol/handshake.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include "tegu/protocol/header.hpp"

namespace tegu::protocol {

namespace {

constexpr size_t kNonceBytes = 32;

std::string RandomBytes(size_t n) {
  std::string out(n, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(out.data()), static_cast<int>(n)) != 1) {
    // No entropy means no security: refuse to continue rather than use weak nonces.
    throw std::runtime_error("OpenSSL RAND_bytes failed");
  }
  return out;
}

std::string Proof(const std::string& secret, std::string_view label, const std::string& a,
                  const std::string& b) {
  std::string data(label);
  data += a;
  data += b;
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), mac, &len);
  return std::string(reinterpret_cast<const char*>(mac), len);
}

bool SameProof(const std::string& a, const std::string& b) {
  return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

Result<HeaderView> ParseOp(const Message& m, const char* expected) {
  if (!m.frames.empty()) {
    return Status::Invalid(std::string("handshake message '") + expected + "' carries frames");
  }
  TEGU_ASSIGN_OR_RAISE(HeaderView view, HeaderView::Parse(m.header));
  if (view.op() != expected) {
    return Status::Invalid("expected handshake message '" + std::string(expected) + "', got '" +
                           view.op() + "'");
  }
  return view;
}

Status CheckVersion(const HeaderView& view) {
  TEGU_ASSIGN_OR_RAISE(int64_t version, view.GetInt("version"));
  if (version != kProtocolVersion) {
    return Status::Invalid("protocol version mismatch: peer speaks " + std::to_string(version) +
                           ", this process speaks " + std::to_string(kProtocolVersion));
  }
  return Status::OK();
}

Message Build(HeaderBuilder& builder) {
  Message m;
  m.header = builder.Finish().ValueOrThrow();  // field counts are fixed in this file
  return m;
}

}  // namespace

std::string GenerateSecret() {
  static const char* kHex = "0123456789abcdef";
  std::string raw = RandomBytes(32), out;
  for (unsigned char c : raw) {
    out.push_back(kHex[c >> 4]);
    out.push_back(kHex[c & 15]);
  }
  return out;
}

ServerHandshake::ServerHandshake(std::string secret)
    : secret_(std::move(secret)), nonce_(RandomBytes(kNonceBytes)) {}

Message ServerHandshake::Hello() {
  HeaderBuilder b("hello", 2);
  b.Add("version", kProtocolVersion).AddBinary("nonce", nonce_);
  return Build(b);
}

Result<Message> ServerHandshake::OnAuth(const Message& auth) {
  TEGU_ASSIGN_OR_RAISE(HeaderView view, ParseOp(auth, "auth"));
  TEGU_RETURN_NOT_OK(CheckVersion(view));
  TEGU_ASSIGN_OR_RAISE(std::string role, view.GetString("role"));
  TEGU_ASSIGN_OR_RAISE(std::string peer_nonce, view.GetString("nonce"));
  TEGU_ASSIGN_OR_RAISE(std::string proof, view.GetString("proof"));
  if (peer_nonce.size() != kNonceBytes) return Status::Invalid("auth: bad nonce length");
  if (!SameProof(proof, Proof(secret_, "client", nonce_, peer_nonce))) {
    return Status::Invalid("authentication failed: the peer does not hold this cluster's secret");
  }
  peer_nonce_ = peer_nonce;
  peer_role_ = role;
  HeaderBuilder b("welcome", 1);
  b.AddBinary("proof", Proof(secret_, "server", peer_nonce_, nonce_));
  return Build(b);
}

ClientHandshake::ClientHandshake(std::string secret, std::string role)
    : secret_(std::move(secret)), role_(std::move(role)), nonce_(RandomBytes(kNonceBytes)) {}

Result<Message> ClientHandshake::OnHello(const Message& hello) {
  TEGU_ASSIGN_OR_RAISE(HeaderView view, ParseOp(hello, "hello"));
  TEGU_RETURN_NOT_OK(CheckVersion(view));
  TEGU_ASSIGN_OR_RAISE(server_nonce_, view.GetString("nonce"));
  if (server_nonce_.size() != kNonceBytes) return Status::Invalid("hello: bad nonce length");
  HeaderBuilder b("auth", 4);
  b.Add("version", kProtocolVersion)
      .Add("role", role_)
      .AddBinary("nonce", nonce_)
      .AddBinary("proof", Proof(secret_, "client", server_nonce_, nonce_));
  return Build(b);
}

Status ClientHandshake::OnWelcome(const Message& welcome) {
  TEGU_ASSIGN_OR_RAISE(HeaderView view, ParseOp(welcome, "welcome"));
  TEGU_ASSIGN_OR_RAISE(std::string proof, view.GetString("proof"));
  if (!SameProof(proof, Proof(secret_, "server", nonce_, server_nonce_))) {
    return Status::Invalid("authentication failed: the server does not hold this cluster's secret");
  }
  return Status::OK();
}

}  // namespace tegu::protocol
