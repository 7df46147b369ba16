#include "tegu/bag/strings.hpp"

#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

#include "tegu/bag/kernels.hpp"
#include "tegu/distributed/payload.hpp"

namespace tegu::bag {
namespace {

using distributed::Payload;

std::vector<std::string> Items(const StringList& list) {
  std::vector<std::string> out;
  for (size_t i = 0; i < list.size(); ++i) out.emplace_back(list[i]);
  return out;
}

StringList Make(const std::vector<std::string>& items) {
  StringListBuilder b;
  for (const auto& s : items) b.Append(s);
  return b.Finish();
}

std::shared_ptr<const std::vector<int64_t>> Offsets(std::vector<int64_t> v) {
  return std::make_shared<const std::vector<int64_t>>(std::move(v));
}

Buffer Int64Frame(const std::vector<int64_t>& values) {
  std::string bytes(values.size() * 8, '\0');
  std::memcpy(bytes.data(), values.data(), bytes.size());  // the tests run little-endian
  return Buffer::Copy(bytes);
}

TEST(StringListTest, DefaultIsEmpty) {
  StringList list;
  EXPECT_EQ(list.size(), 0u);
  EXPECT_TRUE(list.empty());
  EXPECT_EQ(list.offsets(), std::vector<int64_t>{0});
  EXPECT_EQ(list.byte_size(), 0);
  EXPECT_TRUE(list.Validate(nullptr));
  EXPECT_EQ(StringLists().size(), 0u);
  EXPECT_TRUE(StringLists().Validate(nullptr));
  EXPECT_EQ(StringCounts().size(), 0u);
  EXPECT_TRUE(StringCounts().Validate(nullptr));
}

TEST(StringListTest, BuilderAppendsAndFinishes) {
  StringListBuilder b;
  b.Reserve(3, 16);
  b.Append("ab");
  b.Append("");
  b.bytes() += "c";
  b.bytes() += "de";
  b.FinishString();
  EXPECT_EQ(b.size(), 3u);
  StringList list = b.Finish();
  EXPECT_EQ(Items(list), (std::vector<std::string>{"ab", "", "cde"}));
  EXPECT_EQ(list.offsets(), (std::vector<int64_t>{0, 2, 2, 5}));
  EXPECT_EQ(list.data().view(), "abcde");
  EXPECT_EQ(list.byte_size(), 5);
  EXPECT_TRUE(list.Validate(nullptr));
  // The builder starts over after Finish.
  EXPECT_EQ(b.size(), 0u);
  b.Append("x");
  EXPECT_EQ(Items(b.Finish()), std::vector<std::string>{"x"});
  EXPECT_EQ(Items(list), (std::vector<std::string>{"ab", "", "cde"}));
}

TEST(StringListTest, FinishMovesTheBytes) {
  StringListBuilder b;
  const std::string big(1 << 16, 'x');
  b.Append(big);
  const char* before = b.bytes().data();
  StringList list = b.Finish();
  EXPECT_EQ(reinterpret_cast<const char*>(list.data().data()), before);
}

TEST(StringListTest, ValidateRejectsBadLayouts) {
  const Buffer data = Buffer::Copy("abcdef");
  std::string why;
  EXPECT_TRUE(StringList(data, Offsets({0, 3, 6})).Validate(&why));
  EXPECT_TRUE(StringList(data, Offsets({2, 3, 4})).Validate(&why));  // a slice
  EXPECT_TRUE(StringList(data, Offsets({6})).Validate(&why));

  EXPECT_FALSE(StringList(data, Offsets({})).Validate(&why));
  EXPECT_NE(why.find("no offsets"), std::string::npos) << why;
  EXPECT_FALSE(StringList(data, nullptr).Validate(&why));
  EXPECT_FALSE(StringList(data, Offsets({-1, 3})).Validate(&why));
  EXPECT_NE(why.find("negative"), std::string::npos) << why;
  EXPECT_FALSE(StringList(data, Offsets({0, 4, 3})).Validate(&why));
  EXPECT_NE(why.find("offset 2 (3) is smaller than the one before it (4)"), std::string::npos)
      << why;
  EXPECT_FALSE(StringList(data, Offsets({0, 7})).Validate(&why));
  EXPECT_NE(why.find("past the end"), std::string::npos) << why;
  EXPECT_FALSE(StringList(data, Offsets({0, 3, 7})).Validate(nullptr));  // no message wanted
}

TEST(StringListsTest, ValidateChecksListOffsets) {
  const StringList strings = Make({"a", "b", "c"});
  std::string why;
  EXPECT_TRUE(StringLists(strings, Offsets({0, 2, 2, 3})).Validate(&why));
  EXPECT_TRUE(StringLists(strings, Offsets({1, 2})).Validate(&why));
  EXPECT_FALSE(StringLists(strings, Offsets({0, 4})).Validate(&why));
  EXPECT_NE(why.find("list offsets"), std::string::npos) << why;
  EXPECT_FALSE(StringLists(strings, Offsets({0, 2, 1})).Validate(&why));
  EXPECT_FALSE(StringLists(strings, Offsets({-1, 1})).Validate(&why));
  EXPECT_FALSE(StringLists(strings, Offsets({})).Validate(&why));
  // The strings themselves are checked too.
  EXPECT_FALSE(StringLists(StringList(Buffer::Copy("ab"), Offsets({0, 3})), Offsets({0, 1}))
                   .Validate(&why));
}

TEST(StringCountsTest, ValidateChecksSizes) {
  const StringList keys = Make({"a", "b"});
  std::string why;
  EXPECT_TRUE(StringCounts(keys, Offsets({3, 4})).Validate(&why));
  EXPECT_FALSE(StringCounts(keys, Offsets({3})).Validate(&why));
  EXPECT_EQ(why, "there are 1 counts for 2 keys");
  EXPECT_FALSE(StringCounts(keys, nullptr).Validate(&why));
}

// ---- wire forms ----------------------------------------------------------------------------

class StringCodecTest : public ::testing::Test {
 protected:
  void SetUp() override { RegisterBagKernels(); }
};

TEST_F(StringCodecTest, KindsAreNative) {
  EXPECT_TRUE(distributed::IsNativeKind("strings"));
  EXPECT_TRUE(distributed::IsNativeKind("string-lists"));
  EXPECT_TRUE(distributed::IsNativeKind("string-counts"));
}

TEST_F(StringCodecTest, StringsRoundTrip) {
  const StringList list = Make({"hello", "", "w\xc3\xb6rld", "\n"});
  Result<Payload> payload = distributed::Serialize(Value::From(list));
  ASSERT_TRUE(payload.ok()) << payload.status().ToString();
  EXPECT_EQ(payload.ValueUnsafe().kind, "strings");
  ASSERT_EQ(payload.ValueUnsafe().frames.size(), 2u);
  EXPECT_EQ(payload.ValueUnsafe().frames[0].size(), 5u * 8);
  // A list covering its whole buffer sends that buffer as it is.
  EXPECT_EQ(payload.ValueUnsafe().frames[1].data(), list.data().data());

  Result<Value> back = distributed::Deserialize(payload.ValueUnsafe());
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  const StringList* got = back.ValueUnsafe().TryGet<StringList>();
  ASSERT_NE(got, nullptr);
  EXPECT_EQ(Items(*got), Items(list));
  // The received data frame is kept, not copied.
  EXPECT_EQ(got->data().data(), payload.ValueUnsafe().frames[1].data());

  EXPECT_GE(distributed::SizeOf(Value::From(list)), static_cast<uint64_t>(list.data().size()));
}

TEST_F(StringCodecTest, EmptyListRoundTrips) {
  Result<Payload> payload = distributed::Serialize(Value::From(StringList()));
  ASSERT_TRUE(payload.ok());
  Result<Value> back = distributed::Deserialize(payload.ValueUnsafe());
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back.ValueUnsafe().TryGet<StringList>()->size(), 0u);
}

TEST_F(StringCodecTest, SliceSendsOnlyItsBytes) {
  // Strings 1..2 of "aa|bbb|cccc|d": offsets into a shared buffer with slack on both sides.
  const StringList slice(Buffer::Copy("aabbbccccd"), Offsets({2, 5, 9}));
  ASSERT_TRUE(slice.Validate(nullptr));
  Result<Payload> payload = distributed::Serialize(Value::From(slice));
  ASSERT_TRUE(payload.ok());
  EXPECT_EQ(payload.ValueUnsafe().frames[1].view(), "bbbcccc");
  Result<Value> back = distributed::Deserialize(payload.ValueUnsafe());
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  const StringList* got = back.ValueUnsafe().TryGet<StringList>();
  EXPECT_EQ(Items(*got), (std::vector<std::string>{"bbb", "cccc"}));
  EXPECT_EQ(got->offsets(), (std::vector<int64_t>{0, 3, 7}));
}

TEST_F(StringCodecTest, UnalignedFramesAreRead) {
  // Frames are slices of a message and may start anywhere.
  std::string bytes = "x";
  const std::vector<int64_t> offsets = {0, 1, 3};
  bytes.append(reinterpret_cast<const char*>(offsets.data()), offsets.size() * 8);
  auto owner = std::make_shared<std::string>(bytes);
  const auto* base = reinterpret_cast<const uint8_t*>(owner->data());
  Payload p{"strings", {Buffer(owner, base + 1, offsets.size() * 8), Buffer::Copy("abc")}};
  Result<Value> back = distributed::Deserialize(p);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(Items(*back.ValueUnsafe().TryGet<StringList>()),
            (std::vector<std::string>{"a", "bc"}));
}

TEST_F(StringCodecTest, MalformedStringsAreRejected) {
  auto expect_invalid = [](const Payload& p, const std::string& words) {
    Result<Value> r = distributed::Deserialize(p);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), StatusCode::kInvalid);
    EXPECT_NE(r.status().message().find(words), std::string::npos) << r.status().message();
  };
  const Buffer data = Buffer::Copy("abc");
  expect_invalid(Payload{"strings", {Int64Frame({0, 3})}}, "has 2 frames, got 1");
  expect_invalid(Payload{"strings", {Int64Frame({0, 3}), data, data}}, "has 2 frames, got 3");
  expect_invalid(Payload{"strings", {Buffer::Copy("1234567"), data}},
                 "not a whole number of int64");
  expect_invalid(Payload{"strings", {Buffer(), data}}, "no offsets");
  expect_invalid(Payload{"strings", {Int64Frame({0, 4}), data}}, "past the end");
  expect_invalid(Payload{"strings", {Int64Frame({0, 2, 1}), data}}, "smaller than");
  expect_invalid(Payload{"strings", {Int64Frame({-5, 1}), data}}, "negative");
}

TEST_F(StringCodecTest, StringListsRoundTrip) {
  const StringLists lists(Make({"a", "bb", "", "ccc"}), Offsets({0, 2, 2, 4}));
  Result<Payload> payload = distributed::Serialize(Value::From(lists));
  ASSERT_TRUE(payload.ok());
  EXPECT_EQ(payload.ValueUnsafe().kind, "string-lists");
  ASSERT_EQ(payload.ValueUnsafe().frames.size(), 3u);
  Result<Value> back = distributed::Deserialize(payload.ValueUnsafe());
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  const StringLists* got = back.ValueUnsafe().TryGet<StringLists>();
  ASSERT_NE(got, nullptr);
  EXPECT_EQ(got->list_offsets(), (std::vector<int64_t>{0, 2, 2, 4}));
  EXPECT_EQ(Items(got->strings()), (std::vector<std::string>{"a", "bb", "", "ccc"}));
}

TEST_F(StringCodecTest, StringListsSliceSendsOnlyItsStrings) {
  // Lists [1, 3) of strings "a","bb","c","dd": their strings are "bb","c".
  const StringLists slice(Make({"a", "bb", "c", "dd"}), Offsets({1, 2, 3}));
  Result<Payload> payload = distributed::Serialize(Value::From(slice));
  ASSERT_TRUE(payload.ok());
  EXPECT_EQ(payload.ValueUnsafe().frames[2].view(), "bbc");
  Result<Value> back = distributed::Deserialize(payload.ValueUnsafe());
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  const StringLists* got = back.ValueUnsafe().TryGet<StringLists>();
  EXPECT_EQ(got->list_offsets(), (std::vector<int64_t>{0, 1, 2}));
  EXPECT_EQ(Items(got->strings()), (std::vector<std::string>{"bb", "c"}));
}

TEST_F(StringCodecTest, MalformedStringListsAreRejected) {
  const Buffer data = Buffer::Copy("abc");
  const Buffer offsets = Int64Frame({0, 1, 3});
  Result<Value> r = distributed::Deserialize(Payload{"string-lists", {offsets, data}});
  EXPECT_EQ(r.status().code(), StatusCode::kInvalid);
  r = distributed::Deserialize(Payload{"string-lists", {Int64Frame({0, 3}), offsets, data}});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("list offsets"), std::string::npos)
      << r.status().message();
  r = distributed::Deserialize(Payload{"string-lists", {Buffer::Copy("abc"), offsets, data}});
  EXPECT_EQ(r.status().code(), StatusCode::kInvalid);
  r = distributed::Deserialize(Payload{"string-lists", {Int64Frame({0, 2}), offsets, data}});
  EXPECT_TRUE(r.ok()) << r.status().ToString();
}

TEST_F(StringCodecTest, StringCountsRoundTrip) {
  const StringCounts counts(Make({"the", "cat"}), Offsets({7, 1}));
  Result<Payload> payload = distributed::Serialize(Value::From(counts));
  ASSERT_TRUE(payload.ok());
  EXPECT_EQ(payload.ValueUnsafe().kind, "string-counts");
  Result<Value> back = distributed::Deserialize(payload.ValueUnsafe());
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  const StringCounts* got = back.ValueUnsafe().TryGet<StringCounts>();
  ASSERT_NE(got, nullptr);
  EXPECT_EQ(Items(got->keys()), (std::vector<std::string>{"the", "cat"}));
  EXPECT_EQ(got->counts(), (std::vector<int64_t>{7, 1}));
  EXPECT_GT(distributed::SizeOf(Value::From(counts)), 16u);
}

TEST_F(StringCodecTest, MalformedStringCountsAreRejected) {
  const Buffer data = Buffer::Copy("ab");
  Result<Value> r = distributed::Deserialize(
      Payload{"string-counts", {Int64Frame({1}), Int64Frame({0, 1, 2}), data}});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalid);
  EXPECT_NE(r.status().message().find("1 counts for 2 keys"), std::string::npos)
      << r.status().message();
  r = distributed::Deserialize(Payload{"string-counts", {Int64Frame({1, 2})}});
  EXPECT_EQ(r.status().code(), StatusCode::kInvalid);
}

}  // namespace
}  // namespace tegu::bag
