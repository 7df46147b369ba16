#include "tegu/protocol/header.hpp"

#include <gtest/gtest.h>

namespace tegu::protocol {
namespace {

TEST(HeaderTest, BuildAndReadEveryFieldType) {
  HeaderBuilder b("task-finished", 6);
  b.Add("key", "x").Add("nbytes", int64_t{-7}).Add("big", uint64_t{1} << 40).Add("ok", true)
      .Add("seconds", 0.25).Add("who", std::vector<std::string>{"a", "b"});
  auto bytes = b.Finish();
  ASSERT_TRUE(bytes.ok());
  auto view = HeaderView::Parse(bytes.ValueUnsafe());
  ASSERT_TRUE(view.ok()) << view.status().ToString();
  const HeaderView& h = view.ValueUnsafe();
  EXPECT_EQ(h.op(), "task-finished");
  EXPECT_EQ(h.GetString("key").ValueUnsafe(), "x");
  EXPECT_EQ(h.GetInt("nbytes").ValueUnsafe(), -7);
  EXPECT_EQ(h.GetInt("big").ValueUnsafe(), int64_t{1} << 40);
  EXPECT_TRUE(h.GetBool("ok").ValueUnsafe());
  EXPECT_DOUBLE_EQ(h.GetDouble("seconds").ValueUnsafe(), 0.25);
  EXPECT_EQ(h.GetStringList("who").ValueUnsafe(), (std::vector<std::string>{"a", "b"}));
}

TEST(HeaderTest, MissingAndMistypedFieldsNameTheFieldAndOp) {
  HeaderBuilder b("heartbeat", 1);
  b.Add("now", "not a number");
  auto view = HeaderView::Parse(b.Finish().ValueUnsafe());
  ASSERT_TRUE(view.ok());
  Status missing = view.ValueUnsafe().GetInt("nthreads").status();
  EXPECT_NE(missing.message().find("'heartbeat': field 'nthreads' is missing"), std::string::npos);
  Status mistyped = view.ValueUnsafe().GetDouble("now").status();
  EXPECT_NE(mistyped.message().find("field 'now' is not a number"), std::string::npos);
}

TEST(HeaderTest, FieldCountMismatchIsAnError) {
  HeaderBuilder b("x", 2);
  b.Add("a", 1);
  EXPECT_FALSE(b.Finish().ok());
}

TEST(HeaderTest, MalformedHeadersAreErrorsNotExceptions) {
  EXPECT_FALSE(HeaderView::Parse("").ok());
  EXPECT_FALSE(HeaderView::Parse("\x93\x01\x02\x03").ok());   // an array, not a map
  EXPECT_FALSE(HeaderView::Parse("\x81\xa1x\x01").ok());      // a map without "op"
  EXPECT_FALSE(HeaderView::Parse("\xdf\xff\xff\xff\xff").ok());  // claims 4G entries
  EXPECT_FALSE(HeaderView::Parse("\x81\xa2op\xa1x\xc0").ok());  // trailing byte
}

}  // namespace
}  // namespace tegu::protocol
