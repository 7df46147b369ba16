// Tests of the public C++ distributed API (tegu/distributed.hpp) on an in-process LocalCluster.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "tegu/distributed.hpp"
#include "tegu/distributed/client_core.hpp"
#include "tegu/native.hpp"

namespace {

using namespace std::chrono_literals;

std::string api_test_concat(std::string a, int64_t n) { return a + ":" + std::to_string(n); }
double api_test_mean(std::vector<double> xs) {
  double total = 0;
  for (double x : xs) total += x;
  return xs.empty() ? 0 : total / static_cast<double>(xs.size());
}
TEGU_REGISTER(api_test_concat);
TEGU_REGISTER(api_test_mean);

// Polls `done` until it holds, for at most about a minute (no test depends on how fast).
template <class F>
bool Eventually(F done) {
  for (int i = 0; i < 6000; ++i) {
    if (done()) return true;
    std::this_thread::sleep_for(10ms);
  }
  return done();
}

size_t TotalData(const tegu::LocalCluster& cluster) {
  size_t n = 0;
  for (size_t c : cluster.TEST_WorkerDataCounts()) n += c;
  return n;
}

class ClientApi : public ::testing::Test {
 protected:
  tegu::LocalCluster cluster_{tegu::LocalClusterOptions{.n_workers = 2}};
  tegu::Client client_{cluster_};
};

TEST_F(ClientApi, SubmitChainsFuturesAsDependencies) {
  tegu::Future<int64_t> a = client_.submit<int64_t>("tegu.inc", 1);
  tegu::Future<int64_t> b = client_.submit<int64_t>("tegu.inc", a);
  tegu::Future<int64_t> c = client_.submit<int64_t>("tegu.add", a, b);
  tegu::Future<int64_t> d = client_.submit<int64_t>("tegu.mul", c, 10);
  EXPECT_EQ(d.result(), 50);
  EXPECT_TRUE(d.done());
  EXPECT_TRUE(a.done());
  EXPECT_EQ(a.result(), 2);
  EXPECT_EQ(client_.WorkerCount(), 2u);
}

TEST_F(ClientApi, KeysArePureByDefaultLikeDask) {
  tegu::Future<int64_t> a = client_.submit<int64_t>("tegu.inc", 1);
  tegu::Future<int64_t> same = client_.submit<int64_t>("tegu.inc", 1);
  tegu::Future<int64_t> other = client_.submit<int64_t>("tegu.inc", 2);
  EXPECT_EQ(a.key(), same.key());
  EXPECT_NE(a.key(), other.key());
  EXPECT_EQ(a.key().name().rfind("tegu.inc-", 0), 0u) << a.key().ToString();
  EXPECT_EQ(a.key().name().size(), std::string("tegu.inc-").size() + 32);
  // int and int64_t literals are the same native value, so the same key.
  EXPECT_EQ(client_.submit<int64_t>("tegu.inc", int64_t{1}).key(), a.key());

  tegu::SubmitOptions impure;
  impure.pure = false;
  auto i1 = client_.submit_with<int64_t>(impure, "tegu.inc", 1);
  auto i2 = client_.submit_with<int64_t>(impure, "tegu.inc", 1);
  EXPECT_NE(i1.key(), i2.key());
  EXPECT_EQ(i1.result(), 2);
  EXPECT_EQ(i2.result(), 2);

  tegu::SubmitOptions named;
  named.key = "my-key";
  auto n = client_.submit_with<int64_t>(named, "tegu.square", a);
  EXPECT_EQ(n.key(), tegu::Key("my-key"));
  EXPECT_EQ(n.result(), 4);
}

TEST_F(ClientApi, MapAndGatherAgreeWithAPlainLoop) {
  std::vector<int64_t> xs, ys;
  for (int64_t i = 0; i < 500; ++i) {
    xs.push_back(i);
    ys.push_back(1000 - 3 * i);
  }
  std::vector<tegu::Future<int64_t>> squares = client_.map<int64_t>("tegu.square", xs);
  std::vector<tegu::Future<int64_t>> sums = client_.map<int64_t>("tegu.add", xs, ys);
  // Futures as elements of a sequence: each call gets one Future's value.
  std::vector<tegu::Future<int64_t>> incs = client_.map<int64_t>("tegu.inc", squares);
  std::vector<int64_t> got_squares = client_.gather(squares);
  std::vector<int64_t> got_sums = client_.gather(sums);
  std::vector<int64_t> got_incs = client_.gather(incs);
  ASSERT_EQ(got_squares.size(), xs.size());
  for (size_t i = 0; i < xs.size(); ++i) {
    EXPECT_EQ(got_squares[i], xs[i] * xs[i]);
    EXPECT_EQ(got_sums[i], xs[i] + ys[i]);
    EXPECT_EQ(got_incs[i], xs[i] * xs[i] + 1);
  }
  // A list of Futures as one argument: the task gets their values as a list.
  tegu::Future<int64_t> total = client_.submit<int64_t>("tegu.sum", squares);
  int64_t expected = 0;
  for (int64_t x : xs) expected += x * x;
  EXPECT_EQ(total.result(), expected);
  EXPECT_THROW(client_.map<int64_t>("tegu.add", xs, std::vector<int64_t>{1, 2}),
               tegu::StatusError);
}

TEST_F(ClientApi, RegisteredFunctionsOfThisProgramAndNativeTypes) {
  auto s = client_.submit<std::string>("api_test_concat", "x", 7);
  EXPECT_EQ(s.result(), "x:7");
  auto m = client_.submit<double>("api_test_mean", std::vector<double>{1.0, 2.0, 6.0});
  EXPECT_DOUBLE_EQ(m.result(), 3.0);
  // A list literal comes back as a list (the identity of a list is a list of values).
  auto strings = client_.map<std::string>("api_test_concat", std::vector<std::string>{"a", "b"},
                                          std::vector<int>{1, 2});
  EXPECT_EQ(client_.gather(strings), (std::vector<std::string>{"a:1", "b:2"}));
  // The result converted to another type is a TypeError naming the key.
  auto wrong = client_.submit<std::string>("tegu.inc", 1);
  EXPECT_THROW(wrong.result(), tegu::StatusError);
}

TEST_F(ClientApi, TaskErrorsReachTheCallerWithTheRemoteText) {
  auto bad = client_.submit<int64_t>("tegu.fail", "boom");
  auto after = client_.submit<int64_t>("tegu.inc", bad);
  try {
    after.result();
    FAIL() << "expected TaskFailed";
  } catch (const tegu::KilledWorker&) {
    FAIL() << "a raised task is not a KilledWorker";
  } catch (const tegu::TaskFailed& e) {
    EXPECT_NE(std::string(e.what()).find("boom"), std::string::npos) << e.what();
    EXPECT_EQ(e.kind(), "task-raised");
    EXPECT_EQ(e.key(), after.key());
    EXPECT_EQ(e.status().code(), tegu::StatusCode::kTaskError);
  }
  EXPECT_TRUE(bad.done());
  // gather raises the first failure too; the cluster keeps working.
  auto good = client_.submit<int64_t>("tegu.inc", 41);
  EXPECT_THROW(client_.gather(std::vector<tegu::Future<int64_t>>{good, bad}), tegu::TaskFailed);
  EXPECT_EQ(good.result(), 42);
  // An unknown function fails on the worker with a message naming it.
  auto unknown = client_.submit<int64_t>("no.such.function", 1);
  try {
    unknown.result();
    FAIL() << "expected TaskFailed";
  } catch (const tegu::TaskFailed& e) {
    EXPECT_NE(std::string(e.what()).find("no.such.function"), std::string::npos) << e.what();
  }
  // Wrong argument types fail in the task, naming the argument.
  EXPECT_THROW(client_.submit<int64_t>("tegu.inc", "text").result(), tegu::TaskFailed);
}

TEST_F(ClientApi, ReleasingTheLastFutureFreesTheKeyOnTheWorkers) {
  tegu::Future<int64_t> a = client_.submit<int64_t>("tegu.inc", 100);
  tegu::Future<int64_t> copy = a;
  ASSERT_EQ(a.result(), 101);
  const tegu::Key key = a.key();
  EXPECT_EQ(TotalData(cluster_), 1u);
  a.release();
  EXPECT_FALSE(a.valid());
  EXPECT_THROW(a.result(), tegu::StatusError);
  // The copy still holds the key.
  EXPECT_EQ(client_.core()->TaskStates({key}).ValueOrThrow(), std::vector<std::string>{"memory"});
  EXPECT_EQ(copy.result(), 101);
  copy.release();
  EXPECT_TRUE(Eventually([&] { return TotalData(cluster_) == 0; }));
  EXPECT_TRUE(Eventually([&] {
    return client_.core()->TaskStates({key}).ValueOrThrow() ==
           std::vector<std::string>{"forgotten"};
  }));
  // Submitting it again computes it again.
  EXPECT_EQ(client_.submit<int64_t>("tegu.inc", 100).result(), 101);
}

TEST_F(ClientApi, ADependencyOutlivesItsReleasedFuture) {
  auto a = client_.submit<int64_t>("tegu.inc", 1);
  auto b = client_.submit<int64_t>("tegu.square", a);
  a.release();  // b still needs it
  EXPECT_EQ(b.result(), 4);
  // Futures going out of scope release their keys too.
  {
    auto scoped = client_.map<int64_t>("tegu.inc", std::vector<int64_t>{1, 2, 3, 4});
    EXPECT_EQ(client_.gather(scoped), (std::vector<int64_t>{2, 3, 4, 5}));
  }
  b.release();
  EXPECT_TRUE(Eventually([&] { return TotalData(cluster_) == 0; }));
}

TEST_F(ClientApi, TwoClientsAtOnce) {
  tegu::Client other(cluster_);
  // The same pure call from both: one key; releasing it in one client does not take it away
  // from the other.
  auto mine = client_.submit<int64_t>("tegu.square", 12);
  auto theirs = other.submit<int64_t>("tegu.square", 12);
  EXPECT_EQ(mine.key(), theirs.key());
  EXPECT_EQ(mine.result(), 144);
  mine.release();
  EXPECT_EQ(theirs.result(), 144);
  // A Future of one client is not an argument of the other's tasks.
  EXPECT_THROW(other.submit<int64_t>("tegu.inc", client_.submit<int64_t>("tegu.inc", 1)),
               tegu::StatusError);

  // Both clients submitting from their own threads.
  std::atomic<int> failures{0};
  auto run = [&](tegu::Client* c, int64_t offset) {
    for (int round = 0; round < 5; ++round) {
      std::vector<int64_t> xs;
      for (int64_t i = 0; i < 100; ++i) xs.push_back(offset + round * 100 + i);
      auto incs = c->map<int64_t>("tegu.inc", xs);
      auto total = c->submit<int64_t>("tegu.sum", incs);
      int64_t expected = 0;
      for (int64_t x : xs) expected += x + 1;
      if (total.result() != expected) ++failures;
    }
  };
  std::thread t1(run, &client_, 0);
  std::thread t2(run, &other, 1'000'000);
  t1.join();
  t2.join();
  EXPECT_EQ(failures.load(), 0);
}

TEST(ClientApiLifetime, ClosedClientAndClusterGiveErrorsNotHangs) {
  tegu::LocalCluster cluster({.n_workers = 1});
  tegu::Future<int64_t> pending;
  {
    tegu::Client client(cluster);
    auto f = client.submit<int64_t>("tegu.inc", 1);
    EXPECT_EQ(f.result(), 2);
    pending = client.submit<int64_t>("tegu.inc", 2);
    client.Close();
    EXPECT_THROW(f.result(), tegu::StatusError);
  }
  // The Future outlives its Client: waiting on it fails, destroying it is harmless.
  EXPECT_THROW(pending.result(), tegu::StatusError);
  pending = {};
  auto bad = tegu::Client::Connect(cluster.scheduler_address(), "not the secret", 2s);
  EXPECT_FALSE(bad.ok());
  cluster.Close();
  auto gone = tegu::Client::Connect(cluster.scheduler_address(), cluster.secret(), 2s);
  EXPECT_FALSE(gone.ok());
}

TEST(ClientApiLifetime, StartReportsBadOptions) {
  auto bad = tegu::LocalCluster::Start({.n_workers = 1, .threads_per_worker = 0});
  EXPECT_FALSE(bad.ok());
  auto bad_host = tegu::LocalCluster::Start({.n_workers = 1, .host = "not a host name"});
  EXPECT_FALSE(bad_host.ok());
}

}  // namespace
