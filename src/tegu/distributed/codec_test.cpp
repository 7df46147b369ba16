#include "tegu/distributed/codec.hpp"

#include <gtest/gtest.h>

#include <cmath>

#include "tegu/distributed/payload.hpp"

namespace tegu::distributed {
namespace {

TEST(Codec, RoundTripsOpsKeysAndFrames) {
  OpWriter w;
  w.Op("compute", 4).WriteKey(Key::Tuple({std::string("x"), int64_t{3}})).UInt(7);
  w.Strs({"tcp://a:1", "tcp://b:2"}).UInt(1).Frame(protocol::Buffer::Copy("spec"));
  w.Op("free-keys", 1).Keys({Key("a"), Key("b")});
  protocol::Message m = w.Finish();
  EXPECT_TRUE(w.empty());
  auto reader = BatchReader::Parse(m);
  ASSERT_TRUE(reader.ok()) << reader.status().ToString();
  BatchReader& b = *reader.ValueUnsafe();
  ASSERT_EQ(b.op_count(), 2u);
  EXPECT_EQ(b.OpName(0), "compute");
  FieldReader f = b.Fields(0);
  EXPECT_EQ(f.ReadKey().ToString(), "('x', 3)");
  EXPECT_EQ(f.UInt(), 7u);
  EXPECT_EQ(f.Strs(), (std::vector<std::string>{"tcp://a:1", "tcp://b:2"}));
  auto frames = f.Frames(f.UInt());
  ASSERT_EQ(frames.size(), 1u);
  EXPECT_EQ(frames[0].view(), "spec");
  FieldReader g = b.Fields(1);
  EXPECT_EQ(g.Keys(), (std::vector<Key>{Key("a"), Key("b")}));
  EXPECT_TRUE(b.status().ok());
}

TEST(Codec, MissingOrMistypedFieldsAreErrorsNamingTheOp) {
  OpWriter w;
  w.Op("task-finished", 2).WriteKey(Key("a")).Str("not a number");
  auto reader = BatchReader::Parse(w.Finish());
  ASSERT_TRUE(reader.ok());
  FieldReader f = reader.ValueUnsafe()->Fields(0);
  f.ReadKey();
  EXPECT_EQ(f.UInt(), 0u);
  EXPECT_FALSE(f.ok());
  EXPECT_NE(f.status().message().find("op task-finished"), std::string::npos) << f.status().message();
  EXPECT_EQ(f.Double(), 0.0);  // sticky: later reads give defaults
}

TEST(Codec, FramesBeyondTheMessageAreAnError) {
  OpWriter w;
  w.Op("x", 0);
  auto reader = BatchReader::Parse(w.Finish());
  ASSERT_TRUE(reader.ok());
  FieldReader f = reader.ValueUnsafe()->Fields(0);
  EXPECT_TRUE(f.Frames(3).empty());
  EXPECT_FALSE(f.ok());
}

TEST(Codec, NonBatchHeadersAreRejected) {
  protocol::Message m;
  m.header = "\x81\xa2op\xa5hello";  // {"op": "hello"}
  EXPECT_FALSE(BatchReader::Parse(m).ok());
  m.header = "garbage";
  EXPECT_FALSE(BatchReader::Parse(m).ok());
}

TEST(Payload, NativeValuesRoundTrip) {
  ValueList list{Value::From(int64_t{1}), Value::From(2.5), Value::From(std::string("s")),
                 Value::From(true), Value()};
  auto p = Serialize(Value::From(list));
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p.ValueUnsafe().kind, "native");
  auto v = Deserialize(p.ValueUnsafe());
  ASSERT_TRUE(v.ok());
  const ValueList* out = v.ValueUnsafe().TryGet<ValueList>();
  ASSERT_NE(out, nullptr);
  ASSERT_EQ(out->size(), 5u);
  EXPECT_EQ(*(*out)[0].TryGet<int64_t>(), 1);
  EXPECT_EQ(*(*out)[1].TryGet<double>(), 2.5);
  EXPECT_EQ(*(*out)[2].TryGet<std::string>(), "s");
  EXPECT_FALSE((*out)[4].has_value());
}

TEST(Payload, UnserializableNativeTypeIsATypeError) {
  struct Opaque {
    int x;
  };
  auto p = Serialize(Value::From(Opaque{1}));
  EXPECT_FALSE(p.ok());
  EXPECT_EQ(p.status().code(), StatusCode::kTypeError);
}

TEST(Payload, NativeTaskRunsRegisteredFunction) {
  auto spec = EncodeNativeCall("tegu.add", {Arg::Ref(0), Arg::Literal(Value::From(int64_t{5}))},
                               {Key("a")});
  ASSERT_TRUE(spec.ok());
  auto runner = FindTaskRunner("native-task");
  ASSERT_NE(runner, nullptr);
  auto input = PayloadValue(Serialize(Value::From(int64_t{2})).ValueUnsafe());
  TaskOutcome out = runner->Run(Key("b"), spec.ValueUnsafe(), {{Key("a"), input}});
  ASSERT_EQ(out.kind, TaskOutcome::Kind::kSuccess) << ErrorText(out.error);
  EXPECT_EQ(*out.value.TryGet<int64_t>(), 7);
}

TEST(Payload, UnknownFunctionIsAnErrorNamingIt) {
  auto spec = EncodeNativeCall("no.such.function", {}, {});
  ASSERT_TRUE(spec.ok());
  TaskOutcome out = FindTaskRunner("native-task")->Run(Key("b"), spec.ValueUnsafe(), {});
  ASSERT_EQ(out.kind, TaskOutcome::Kind::kError);
  EXPECT_NE(ErrorText(out.error).find("no.such.function"), std::string::npos);
}

}  // namespace
}  // namespace tegu::distributed

#include "tegu/config.hpp"
#include "tegu/distributed/scheduler_service.hpp"

namespace tegu::distributed {
namespace {

TEST(SchedulerConfig, ReadsDaskNamedKnobs) {
  auto defaults = SchedulerServiceOptions::FromConfig();
  ASSERT_TRUE(defaults.ok()) << defaults.status().ToString();
  EXPECT_DOUBLE_EQ(defaults.ValueUnsafe().state.worker_saturation, 1.1);
  EXPECT_EQ(defaults.ValueUnsafe().state.killed_worker_limit, 3u);
  EXPECT_EQ(defaults.ValueUnsafe().state.worker_ttl, std::chrono::minutes(5));

  ASSERT_TRUE(config::SetJson("distributed.scheduler.worker-saturation", "\"inf\"").ok());
  ASSERT_TRUE(config::SetJson("distributed.scheduler.worker-ttl", "\"250ms\"").ok());
  ASSERT_TRUE(config::SetJson("distributed.scheduler.allowed-failures", "0").ok());
  auto changed = SchedulerServiceOptions::FromConfig();
  ASSERT_TRUE(changed.ok());
  EXPECT_TRUE(std::isinf(changed.ValueUnsafe().state.worker_saturation));
  EXPECT_EQ(changed.ValueUnsafe().state.worker_ttl, std::chrono::milliseconds(250));
  EXPECT_EQ(changed.ValueUnsafe().state.killed_worker_limit, 1u);

  ASSERT_TRUE(config::SetJson("distributed.scheduler.worker-ttl", "\"5 fortnights\"").ok());
  auto bad = SchedulerServiceOptions::FromConfig();
  EXPECT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("worker-ttl"), std::string::npos);
  config::Delete("distributed.scheduler.worker-ttl");
  config::Delete("distributed.scheduler.worker-saturation");
  config::Delete("distributed.scheduler.allowed-failures");
}

}  // namespace
}  // namespace tegu::distributed

namespace tegu::distributed {
namespace {

TEST(Payload, TypedVectorsTravelAsLists) {
  auto p = Serialize(Value::From(std::vector<int64_t>{3, 4}));
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  auto v = Deserialize(p.ValueUnsafe()).ValueOrThrow();
  auto list = ValueAs<std::vector<int64_t>>(v);
  ASSERT_TRUE(list.ok()) << list.status().ToString();
  EXPECT_EQ(list.ValueUnsafe(), (std::vector<int64_t>{3, 4}));
  EXPECT_TRUE(Serialize(Value::From(std::vector<std::string>{"a"})).ok());
  EXPECT_TRUE(Serialize(Value::From(std::vector<double>{1.5})).ok());
}

}  // namespace
}  // namespace tegu::distributed
