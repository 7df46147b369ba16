#include "tegu/protocol/handshake.hpp"

#include <gtest/gtest.h>

#include "tegu/protocol/header.hpp"

namespace tegu::protocol {
namespace {

TEST(HandshakeTest, BothSidesWithTheSameSecretAgree) {
  std::string secret = GenerateSecret();
  EXPECT_EQ(secret.size(), 64u);
  ServerHandshake server(secret);
  ClientHandshake client(secret, "worker");
  auto auth = client.OnHello(server.Hello());
  ASSERT_TRUE(auth.ok()) << auth.status().ToString();
  auto welcome = server.OnAuth(auth.ValueUnsafe());
  ASSERT_TRUE(welcome.ok()) << welcome.status().ToString();
  EXPECT_EQ(server.peer_role(), "worker");
  EXPECT_TRUE(client.OnWelcome(welcome.ValueUnsafe()).ok());
}

TEST(HandshakeTest, WrongSecretIsRefusedWithAReason) {
  ServerHandshake server("right");
  ClientHandshake client("wrong", "client");
  auto auth = client.OnHello(server.Hello());
  ASSERT_TRUE(auth.ok());
  auto welcome = server.OnAuth(auth.ValueUnsafe());
  ASSERT_FALSE(welcome.ok());
  EXPECT_NE(welcome.status().message().find("does not hold this cluster's secret"),
            std::string::npos);
}

TEST(HandshakeTest, AServerWithoutTheSecretIsDetectedByTheClient) {
  ServerHandshake impostor("other");
  ServerHandshake real("s");
  ClientHandshake client("s", "client");
  auto auth = client.OnHello(real.Hello());
  ASSERT_TRUE(auth.ok());
  // Replay the genuine server's welcome to a fresh client: its nonce differs, so it fails.
  auto welcome = real.OnAuth(auth.ValueUnsafe());
  ASSERT_TRUE(welcome.ok());
  ClientHandshake other_client("s", "client");
  ASSERT_TRUE(other_client.OnHello(impostor.Hello()).ok());
  EXPECT_FALSE(other_client.OnWelcome(welcome.ValueUnsafe()).ok());
}

TEST(HandshakeTest, ReplayedAuthFailsAgainstAFreshServer) {
  ServerHandshake first("s");
  ClientHandshake client("s", "client");
  auto auth = client.OnHello(first.Hello());
  ASSERT_TRUE(auth.ok());
  ServerHandshake second("s");
  (void)second.Hello();
  EXPECT_FALSE(second.OnAuth(auth.ValueUnsafe()).ok());
}

TEST(HandshakeTest, VersionMismatchAndMalformedMessagesAreRefused) {
  ServerHandshake server("s");
  Message bad_version;
  HeaderBuilder b("hello", 2);
  b.Add("version", int64_t{99}).AddBinary("nonce", std::string(32, 'n'));
  bad_version.header = b.Finish().ValueOrThrow();
  ClientHandshake client("s", "client");
  auto r = client.OnHello(bad_version);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("protocol version mismatch"), std::string::npos);

  Message garbage;
  garbage.header = "\xff\xfe garbage";
  EXPECT_FALSE(server.OnAuth(garbage).ok());
  Message wrong_op = server.Hello();
  EXPECT_NE(server.OnAuth(wrong_op).status().message().find("expected handshake message 'auth'"),
            std::string::npos);
}

}  // namespace
}  // namespace tegu::protocol
