#include "tegu/net/transport.hpp"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <condition_variable>
#include <filesystem>
#include <mutex>

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

// A server that echoes every message back to its sender.
std::unique_ptr<Listener> EchoServer(IoLoop& loop, const std::string& address,
                                     const std::string& secret) {
  auto listener = Listener::Listen(loop, address, secret, [](std::shared_ptr<Connection> c) {
    std::weak_ptr<Connection> weak = c;
    c->SetHandlers([weak](Message m) {
      if (auto conn = weak.lock()) conn->Send(std::move(m));
    }, [c](const Status&) {});  // the close handler keeps the connection alive until it closes
  });
  EXPECT_TRUE(listener.ok()) << listener.status().ToString();
  return std::move(listener).ValueOrThrow();
}

void ExpectEcho(IoLoop& loop, const std::string& address, const std::string& secret,
                int count, size_t frame_bytes) {
  auto conn = Connect(loop, address, secret, "client");
  ASSERT_TRUE(conn.ok()) << conn.status().ToString();
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

TEST(TransportTest, GarbageBytesCloseOnlyThatConnection) {
  IoLoop loop;
  auto server = EchoServer(loop, "tcp://127.0.0.1:0", "s");
  uint16_t port = static_cast<uint16_t>(std::stoi(server->address().substr(server->address().rfind(':') + 1)));
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  ::inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
  ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  const char garbage[] = "GET / HTTP/1.1\r\nHost: tegu\r\n\r\n";
  ASSERT_GT(::write(fd, garbage, sizeof(garbage)), 0);
  // The server answers with its hello and then closes: read until EOF.
  char buf[4096];
  while (::read(fd, buf, sizeof(buf)) > 0) {
  }
  ::close(fd);
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

}  // namespace
}  // namespace tegu::net
