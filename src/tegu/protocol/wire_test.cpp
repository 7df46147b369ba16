#include "tegu/protocol/wire.hpp"

#include <gtest/gtest.h>

#include <random>

#include "tegu/protocol/header.hpp"

namespace tegu::protocol {
namespace {

Message Sample(size_t frames, size_t frame_size) {
  Message m;
  HeaderBuilder b("compute-task", 1);
  b.Add("key", "inc-1");
  m.header = b.Finish().ValueOrThrow();
  for (size_t i = 0; i < frames; ++i) {
    m.frames.push_back(Buffer::Copy(std::string(frame_size + i, static_cast<char>('a' + i))));
  }
  return m;
}

void ExpectSame(const Message& a, const Message& b) {
  EXPECT_EQ(a.header, b.header);
  ASSERT_EQ(a.frames.size(), b.frames.size());
  for (size_t i = 0; i < a.frames.size(); ++i) EXPECT_EQ(a.frames[i].view(), b.frames[i].view());
}

TEST(WireTest, RoundTripWholeAndByteByByte) {
  std::vector<Message> messages = {Sample(0, 0), Sample(3, 100), Sample(1, 0), Sample(2, 70000)};
  std::string stream;
  for (const Message& m : messages) stream += EncodeMessage(m);

  MessageDecoder whole;
  ASSERT_TRUE(whole.Feed(reinterpret_cast<const uint8_t*>(stream.data()), stream.size()).ok());
  MessageDecoder trickle;
  for (char c : stream) {
    ASSERT_TRUE(trickle.Feed(reinterpret_cast<const uint8_t*>(&c), 1).ok());
  }
  for (const Message& expected : messages) {
    auto a = whole.Next();
    auto b = trickle.Next();
    ASSERT_TRUE(a && b);
    ExpectSame(expected, *a);
    ExpectSame(expected, *b);
  }
  EXPECT_FALSE(whole.Next());
  EXPECT_EQ(whole.offset(), stream.size());
}

TEST(WireTest, PrefixPlusFramesEqualsWholeMessage) {
  Message m = Sample(2, 10);
  std::string joined = EncodePrefix(m);
  for (const Buffer& f : m.frames) joined.append(f.view());
  EXPECT_EQ(joined, EncodeMessage(m));
}

TEST(WireTest, BadMagicIsAnErrorNamingTheOffset) {
  std::string stream = EncodeMessage(Sample(1, 5));
  std::string garbage = stream + "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
  MessageDecoder d;
  Status st = d.Feed(reinterpret_cast<const uint8_t*>(garbage.data()), garbage.size());
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("bad magic"), std::string::npos);
  EXPECT_NE(st.message().find("byte " + std::to_string(stream.size())), std::string::npos);
  ASSERT_TRUE(d.Next());  // the good message before the garbage is kept
  // The decoder stays failed: a corrupt stream is closed, never resynchronised by guessing.
  EXPECT_FALSE(d.Feed(reinterpret_cast<const uint8_t*>(stream.data()), stream.size()).ok());
}

TEST(WireTest, LimitsRejectOversizedMessagesBeforeAllocating) {
  Message m = Sample(2, 100);
  std::string stream = EncodeMessage(m);
  WireLimits small;
  small.max_frame_bytes = 50;
  MessageDecoder d(small);
  Status st = d.Feed(reinterpret_cast<const uint8_t*>(stream.data()), stream.size());
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("exceeds the limit"), std::string::npos);

  // A header claiming 2^60 bytes is refused from its 16-byte prefix alone.
  std::string liar = EncodeMessage(Sample(0, 0)).substr(0, 16);
  for (int i = 8; i < 16; ++i) liar[static_cast<size_t>(i)] = static_cast<char>(i == 15 ? 0x10 : 0);
  MessageDecoder d2;
  EXPECT_FALSE(d2.Feed(reinterpret_cast<const uint8_t*>(liar.data()), liar.size()).ok());

  MessageDecoder unauthenticated(WireLimits::Unauthenticated());
  std::string with_frames = EncodeMessage(Sample(1, 1));
  EXPECT_FALSE(unauthenticated
                   .Feed(reinterpret_cast<const uint8_t*>(with_frames.data()), with_frames.size())
                   .ok());
}

TEST(WireTest, RandomGarbageNeverCrashes) {
  // A small in-test fuzzer: random bytes, and valid streams with random bytes flipped.
  std::mt19937 rng(12345);
  std::string valid = EncodeMessage(Sample(3, 40)) + EncodeMessage(Sample(0, 0));
  for (int round = 0; round < 2000; ++round) {
    std::string input;
    if (round % 2 == 0) {
      input.resize(rng() % 300);
      for (char& c : input) c = static_cast<char>(rng());
    } else {
      input = valid;
      for (int flips = 0; flips < 3; ++flips) input[rng() % input.size()] = static_cast<char>(rng());
    }
    MessageDecoder d;
    size_t pos = 0;
    while (pos < input.size()) {
      size_t n = 1 + rng() % 17;
      n = std::min(n, input.size() - pos);
      if (!d.Feed(reinterpret_cast<const uint8_t*>(input.data() + pos), n).ok()) break;
      pos += n;
    }
    while (auto m = d.Next()) {
      (void)HeaderView::Parse(m->header);  // must not throw or crash either
    }
  }
}

}  // namespace
}  // namespace tegu::protocol
