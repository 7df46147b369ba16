#include "tegu/net/transport.hpp"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <condition_variable>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <thread>

#include "tegu/protocol/header.hpp"

namespace tegu::net {
namespace {

using protocol::Buffer;
using protocol::HeaderBuilder;
using protocol::HeaderView;
using protocol::Message;

Message Numbered(int64_t i, size_t frame_bytes = 0) {
  HeaderBuilder b("echo", 1);
  b.Add("i", i);
  Message m;
  m.header = b.Finish().ValueOrThrow();
  if (frame_bytes > 0) m.frames.push_back(Buffer::Copy(std::string(frame_bytes, 'x')));
  return m;
}

// Collects messages delivered on the loop thread.
struct Inbox {
  std::mutex mu;
  std::condition_variable cv;
  std::vector<Message> messages;
  void Add(Message m) {
    std::lock_guard<std::mutex> lock(mu);
    messages.push_back(std::move(m));
    cv.notify_all();
  }
  bool WaitFor(size_t n) {
    std::unique_lock<std::mutex> lock(mu);
    return cv.wait_for(lock, std::chrono::seconds(20), [&] { return messages.size() >= n; });
  }
};

// A server that echoes every message back to its sender. `peers`, when given, collects the
// accepted connections' peer addresses (written on the loop thread: read it after an echo).
std::unique_ptr<Listener> EchoServer(IoLoop& loop, const std::string& address,
                                     const std::string& secret,
                                     const TransportOptions& options = {},
                                     std::shared_ptr<std::vector<std::string>> peers = nullptr) {
  auto listener = Listener::Listen(loop, address, secret, [peers](std::shared_ptr<Connection> c) {
    if (peers) peers->push_back(c->peer_address());
    std::weak_ptr<Connection> weak = c;
    c->SetHandlers([weak](Message m) {
      if (auto conn = weak.lock()) conn->Send(std::move(m));
    }, [c](const Status&) {});  // the close handler keeps the connection alive until it closes
  }, options);
  EXPECT_TRUE(listener.ok()) << listener.status().ToString();
  return std::move(listener).ValueOrThrow();
}

void ExpectEcho(IoLoop& loop, const std::string& address, const std::string& secret,
                int count, size_t frame_bytes, const TransportOptions& options = {}) {
  auto conn = Connect(loop, address, secret, "client", std::chrono::seconds(10), options);
  ASSERT_TRUE(conn.ok()) << conn.status().ToString();
  EXPECT_EQ(conn.ValueUnsafe()->peer_address(), address);
  Inbox inbox;
  conn.ValueUnsafe()->SetHandlers([&inbox](Message m) { inbox.Add(std::move(m)); },
                                  [](const Status&) {});
  for (int i = 0; i < count; ++i) conn.ValueUnsafe()->Send(Numbered(i, frame_bytes));
  ASSERT_TRUE(inbox.WaitFor(static_cast<size_t>(count)));
  for (int i = 0; i < count; ++i) {
    auto h = HeaderView::Parse(inbox.messages[static_cast<size_t>(i)].header);
    ASSERT_TRUE(h.ok());
    EXPECT_EQ(h.ValueUnsafe().GetInt("i").ValueUnsafe(), i);  // order is kept
    if (frame_bytes > 0) {
      ASSERT_EQ(inbox.messages[static_cast<size_t>(i)].frames.size(), 1u);
      EXPECT_EQ(inbox.messages[static_cast<size_t>(i)].frames[0].size(), frame_bytes);
    }
  }
  conn.ValueUnsafe()->Close(Status::OK());
}

TEST(TransportTest, TcpEchoOfManySmallAndSomeLargeMessages) {
  IoLoop loop;
  auto server = EchoServer(loop, "tcp://127.0.0.1:0", "secret");
  EXPECT_NE(server->address().find("tcp://127.0.0.1:"), std::string::npos);
  ExpectEcho(loop, server->address(), "secret", 10000, 0);
  ExpectEcho(loop, server->address(), "secret", 20, 3 << 20);
  EXPECT_EQ(server->stats().accepted, 2u);
}

TEST(TransportTest, UnixSocketEcho) {
  IoLoop loop;
  std::string path = (std::filesystem::temp_directory_path() /
                      ("tegu-test-" + std::to_string(::getpid()) + ".sock")).string();
  auto server = EchoServer(loop, "unix://" + path, "s");
  ExpectEcho(loop, "unix://" + path, "s", 100, 1000);
  server.reset();
  std::filesystem::remove(path);
}

TEST(TransportTest, WrongSecretIsRefusedAndTheServerStaysUp) {
  IoLoop loop;
  auto server = EchoServer(loop, "tcp://127.0.0.1:0", "right");
  auto bad = Connect(loop, server->address(), "wrong", "client");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().ToString().find("secret"), std::string::npos) << bad.status().ToString();
  ExpectEcho(loop, server->address(), "right", 10, 0);
  EXPECT_EQ(server->stats().refused, 1u);
}

uint16_t PortOf(const std::string& address) {
  return static_cast<uint16_t>(std::stoi(address.substr(address.rfind(':') + 1)));
}

// Connects a raw socket to 127.0.0.1:`port`, writes an HTTP request and reads until the server
// closes the connection.
void SendGarbage(uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  ::inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
  ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  const char garbage[] = "GET / HTTP/1.1\r\nHost: tegu\r\n\r\n";
  ASSERT_GT(::write(fd, garbage, sizeof(garbage)), 0);
  char buf[4096];
  while (::read(fd, buf, sizeof(buf)) > 0) {
  }
  ::close(fd);
}

TEST(TransportTest, GarbageBytesCloseOnlyThatConnection) {
  IoLoop loop;
  auto server = EchoServer(loop, "tcp://127.0.0.1:0", "s");
  // The server answers with its hello and then closes.
  SendGarbage(PortOf(server->address()));
  ExpectEcho(loop, server->address(), "s", 10, 0);
  EXPECT_EQ(server->stats().refused, 1u);
  EXPECT_EQ(server->stats().accepted, 1u);
}

TEST(TransportTest, UnreachableAndBadAddressesAreErrorsNamingThem) {
  IoLoop loop;
  auto refused = Connect(loop, "tcp://127.0.0.1:1", "s", "client");
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("tcp://127.0.0.1:1"), std::string::npos);
  auto bad = Connect(loop, "tcp://127.0.0.1", "s", "client");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("no port"), std::string::npos);
}

// --- TLS ---------------------------------------------------------------------------------------

// Throwaway PKI made with the openssl command line: a CA, a server and a client certificate it
// signed, and a second, unrelated CA with its own client certificate.
class TlsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (std::system("openssl version > /dev/null 2>&1") != 0) {
      skip_reason_ = "the openssl command line is not installed";
      return;
    }
    dir_ = std::filesystem::temp_directory_path() /
           ("tegu-tls-test-" + std::to_string(::getpid()));
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    {
      std::ofstream ext(dir_ / "leaf.ext");
      ext << "basicConstraints=CA:FALSE\n"
             "keyUsage=digitalSignature,keyEncipherment\n"
             "extendedKeyUsage=serverAuth,clientAuth\n"
             "subjectAltName=DNS:localhost,IP:127.0.0.1\n";
    }
    const std::string key = " -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes";
    auto ca = [&](const std::string& name) {
      return "openssl req -x509" + key + " -keyout " + name + ".key -out " + name +
             ".pem -days 2 -subj /CN=" + name +
             " -addext basicConstraints=critical,CA:TRUE"
             " -addext keyUsage=critical,keyCertSign,cRLSign";
    };
    auto leaf = [&](const std::string& name, const std::string& ca_name) {
      return "openssl req" + key + " -keyout " + name + ".key -out " + name +
             ".csr -subj /CN=" + name + " && openssl x509 -req -in " + name + ".csr -CA " +
             ca_name + ".pem -CAkey " + ca_name + ".key -CAcreateserial -days 2 -extfile leaf.ext" +
             " -out " + name + ".pem";
    };
    std::string script = "cd '" + dir_.string() + "' && (" + ca("ca") + " && " + ca("other-ca") +
                         " && " + leaf("server", "ca") + " && " + leaf("client", "ca") + " && " +
                         leaf("stranger", "other-ca") + ") > openssl.log 2>&1";
    if (std::system(script.c_str()) != 0) {
      generation_failed_ = "generating certificates with openssl failed: see " +
                           (dir_ / "openssl.log").string();
    }
  }
  static void TearDownTestSuite() {
    if (!dir_.empty() && generation_failed_.empty()) std::filesystem::remove_all(dir_);
  }
  void SetUp() override {
    if (!skip_reason_.empty()) GTEST_SKIP() << skip_reason_;
    ASSERT_TRUE(generation_failed_.empty()) << generation_failed_;
  }

  static std::string File(const std::string& name) { return (dir_ / name).string(); }
  // Options for a peer holding `name`.pem/.key and trusting `ca`.pem.
  static TransportOptions Tls(const std::string& name, const std::string& ca = "ca") {
    TlsOptions tls;
    if (!name.empty()) {
      tls.cert_file = File(name + ".pem");
      tls.key_file = File(name + ".key");
    }
    if (!ca.empty()) tls.ca_file = File(ca + ".pem");
    return TransportOptions{tls};
  }
  // Waits (boundedly) for the server to count `n` refusals: a refused peer's side may see its
  // connection fail before the server has finished with it.
  static bool WaitForRefused(const Listener& server, uint64_t n) {
    for (int i = 0; i < 2000 && server.stats().refused < n; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return server.stats().refused == n;
  }

  static inline std::filesystem::path dir_;
  static inline std::string skip_reason_;
  static inline std::string generation_failed_;
};

TEST_F(TlsTest, MutualTlsEchoOfManyMessages) {
  IoLoop loop;
  auto peers = std::make_shared<std::vector<std::string>>();
  auto server = EchoServer(loop, "tls://127.0.0.1:0", "secret", Tls("server"), peers);
  EXPECT_EQ(server->address().rfind("tls://127.0.0.1:", 0), 0u) << server->address();
  ExpectEcho(loop, server->address(), "secret", 10000, 0, Tls("client"));
  ExpectEcho(loop, server->address(), "secret", 20, 1 << 20, Tls("client"));
  EXPECT_EQ(server->stats().accepted, 2u);
  EXPECT_EQ(server->stats().refused, 0u);
  ASSERT_EQ(peers->size(), 2u);
  EXPECT_EQ((*peers)[0].rfind("tls://127.0.0.1:", 0), 0u) << (*peers)[0];
}

TEST_F(TlsTest, UntrustedCertificatesAreRefusedAndTheServerKeepsServing) {
  IoLoop loop;
  auto server = EchoServer(loop, "tls://127.0.0.1:0", "secret", Tls("server"));
  // The client does not trust the server's CA.
  auto wrong_ca = Connect(loop, server->address(), "secret", "client", std::chrono::seconds(10),
                          Tls("client", "other-ca"));
  ASSERT_FALSE(wrong_ca.ok());
  EXPECT_NE(wrong_ca.status().message().find("TLS handshake failed"), std::string::npos)
      << wrong_ca.status().ToString();
  EXPECT_NE(wrong_ca.status().message().find(server->address()), std::string::npos);
  // The server does not trust the client's CA.
  auto stranger = Connect(loop, server->address(), "secret", "client", std::chrono::seconds(10),
                          Tls("stranger"));
  ASSERT_FALSE(stranger.ok());
  // Mutual TLS: a client without a certificate is refused.
  auto anonymous = Connect(loop, server->address(), "secret", "client", std::chrono::seconds(10),
                           Tls(""));
  ASSERT_FALSE(anonymous.ok());
  ExpectEcho(loop, server->address(), "secret", 10, 0, Tls("client"));
  EXPECT_TRUE(WaitForRefused(*server, 3)) << server->stats().refused;
  EXPECT_EQ(server->stats().accepted, 1u);
}

TEST_F(TlsTest, PlainClientsOnATlsPortFailAndTheServerKeepsServing) {
  IoLoop loop;
  auto server = EchoServer(loop, "tls://127.0.0.1:0", "secret", Tls("server"));
  uint16_t port = PortOf(server->address());
  // A Tegu client speaking plain TCP waits for a hello that never comes: it fails at its
  // timeout, and the server drops it when it goes.
  auto plain = Connect(loop, "tcp://127.0.0.1:" + std::to_string(port), "secret", "client",
                       std::chrono::seconds(2));
  ASSERT_FALSE(plain.ok());
  // Bytes that are not TLS fail the server's TLS handshake at once.
  SendGarbage(port);
  ExpectEcho(loop, server->address(), "secret", 10, 0, Tls("client"));
  EXPECT_TRUE(WaitForRefused(*server, 2)) << server->stats().refused;
  EXPECT_EQ(server->stats().accepted, 1u);
}

TEST_F(TlsTest, TlsClientOnAPlainPortFails) {
  IoLoop loop;
  auto server = EchoServer(loop, "tcp://127.0.0.1:0", "secret");
  auto tls = Connect(loop, "tls://127.0.0.1:" + std::to_string(PortOf(server->address())),
                     "secret", "client", std::chrono::seconds(10), Tls("client"));
  ASSERT_FALSE(tls.ok());
  EXPECT_NE(tls.status().message().find("TLS handshake failed"), std::string::npos)
      << tls.status().ToString();
  ExpectEcho(loop, server->address(), "secret", 10, 0);
  EXPECT_TRUE(WaitForRefused(*server, 1)) << server->stats().refused;
}

TEST_F(TlsTest, WrongSecretInsideTlsIsStillRefused) {
  IoLoop loop;
  auto server = EchoServer(loop, "tls://127.0.0.1:0", "right", Tls("server"));
  auto bad = Connect(loop, server->address(), "wrong", "client", std::chrono::seconds(10),
                     Tls("client"));
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().ToString().find("secret"), std::string::npos) << bad.status().ToString();
  ExpectEcho(loop, server->address(), "right", 10, 0, Tls("client"));
  EXPECT_TRUE(WaitForRefused(*server, 1)) << server->stats().refused;
  EXPECT_EQ(server->stats().accepted, 1u);
}

TEST_F(TlsTest, ServerOnlyTlsWithoutClientCertificates) {
  IoLoop loop;
  auto server = EchoServer(loop, "tls://127.0.0.1:0", "s", Tls("server", ""));
  ExpectEcho(loop, server->address(), "s", 10, 0, Tls("", "ca"));  // verifies the server
  TransportOptions unverified = Tls("", "");
  unverified.tls->verify_peer = false;
  ExpectEcho(loop, server->address(), "s", 10, 0, unverified);
}

TEST_F(TlsTest, OptionsMustMatchTheScheme) {
  IoLoop loop;
  auto no_options = Listener::Listen(loop, "tls://127.0.0.1:0", "s", nullptr);
  ASSERT_FALSE(no_options.ok());
  EXPECT_NE(no_options.status().message().find("needs TLS options"), std::string::npos);
  auto tcp_with_tls = Connect(loop, "tcp://127.0.0.1:1", "s", "client",
                              std::chrono::seconds(10), Tls("client"));
  ASSERT_FALSE(tcp_with_tls.ok());
  EXPECT_NE(tcp_with_tls.status().message().find("not a tls://"), std::string::npos);
  TransportOptions missing = Tls("server");
  missing.tls->cert_file = File("nonexistent.pem");
  auto bad_file = Listener::Listen(loop, "tls://127.0.0.1:0", "s", nullptr, missing);
  ASSERT_FALSE(bad_file.ok());
  EXPECT_NE(bad_file.status().message().find("nonexistent.pem"), std::string::npos);
}

}  // namespace
}  // namespace tegu::net
