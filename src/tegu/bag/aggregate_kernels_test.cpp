// Tests of the text bag's reductions. The expected values were made by running dask.bag's own
// per-partition and merge functions (toolz.frequencies, merge_frequencies, toolz.topk,
// chunk_distinct/merge_distinct) on the same inputs under CPython 3.11.
#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "tegu/bag/kernel_test_util.hpp"
#include "tegu/bag/kernels.hpp"
#include "tegu/bag/strings.hpp"
#include "tegu/bag/text_kernels_internal.hpp"
#include "tegu/native.hpp"
#include "tegu/task_spec.hpp"

namespace tegu::bag {
namespace {

using Strings = std::vector<std::string>;
using Pairs = std::vector<std::pair<std::string, int64_t>>;

StringCounts MakeCounts(const Pairs& pairs) {
  StringListBuilder keys;
  std::vector<int64_t> counts;
  for (const auto& [word, n] : pairs) {
    keys.Append(word);
    counts.push_back(n);
  }
  return StringCounts(keys.Finish(), std::make_shared<const std::vector<int64_t>>(counts));
}

ValueList CountsParts(const std::vector<Pairs>& parts) {
  ValueList out;
  for (const Pairs& p : parts) out.push_back(Value::From(MakeCounts(p)));
  return out;
}

ValueList ListParts(const std::vector<Strings>& parts) {
  ValueList out;
  for (const Strings& p : parts) out.push_back(Value::From(MakeList(p)));
  return out;
}

Arg ListArg(const ValueList& items) {
  std::vector<Arg> args;
  for (const Value& v : items) args.push_back(Arg::Literal(v));
  return Arg::List(std::move(args));
}

TEST(AggKernels, Count) {
  EXPECT_EQ(internal::Count(MakeList({"a", "", "b"})), 3);
  EXPECT_EQ(internal::Count(MakeList({})), 0);
  const StringLists lists = internal::StrSplit(MakeList({"a b", "", "c"}), "", false, -1);
  EXPECT_EQ(internal::CountLists(lists), 3);
  Result<Value> r = CallKernel("tegu.bag.count_lists", {Arg::Literal(Value::From(lists))});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_NE(r.ValueUnsafe().TryGet<int64_t>(), nullptr);
  EXPECT_EQ(*r.ValueUnsafe().TryGet<int64_t>(), 3);
}

TEST(AggKernels, FrequenciesKeepFirstSeenOrder) {
  // list(toolz.frequencies(['a', 'b', 'a', '', 'c', 'b', 'a']).items())
  EXPECT_EQ(ToPairs(internal::Frequencies(MakeList({"a", "b", "a", "", "c", "b", "a"}))),
            (Pairs{{"a", 3}, {"b", 2}, {"", 1}, {"c", 1}}));
  EXPECT_EQ(internal::Frequencies(MakeList({})).size(), 0u);
}

TEST(AggKernels, FrequenciesTellApartStringsTheHashKeySees) {
  // Strings that share what the counter keeps of them: the 1-3 byte key (bytes 0, n/2, n-1),
  // overlapping 4- and 8-byte loads, and long strings that differ only in the middle.
  const std::string x17 = "aaaaaaaaXaaaaaaaa";
  const std::string y17 = "aaaaaaaaYaaaaaaaa";
  const Strings input = {"a", "aa", "aaa", "aaaa", "aaaaa", "abab", "ababab", "abababab",
                         "abababababab", x17, y17, x17, "", "aaa", y17 + y17, x17 + y17, ""};
  EXPECT_EQ(ToPairs(internal::Frequencies(MakeList(input))),
            (Pairs{{"a", 1}, {"aa", 1}, {"aaa", 2}, {"aaaa", 1}, {"aaaaa", 1}, {"abab", 1},
                   {"ababab", 1}, {"abababab", 1}, {"abababababab", 1}, {x17, 2}, {y17, 1},
                   {"", 2}, {y17 + y17, 1}, {x17 + y17, 1}}));
  // Many distinct strings: the table grows while keeping first-seen order and counts.
  Strings many;
  for (int i = 0; i < 20000; ++i) many.push_back("w" + std::to_string(i % 7000));
  const Pairs counted = ToPairs(internal::Frequencies(MakeList(many)));
  ASSERT_EQ(counted.size(), 7000u);
  for (int i = 0; i < 7000; ++i) {
    EXPECT_EQ(counted[i], std::make_pair("w" + std::to_string(i), int64_t{i < 6000 ? 3 : 2}));
  }
}

TEST(AggKernels, MergeFrequenciesSumsInFirstSeenOrder) {
  const ValueList parts =
      CountsParts({{{"a", 1}, {"b", 2}}, {{"c", 2}, {"a", 1}}, {}, {{"b", 1}, {"d", 3}}});
  // list(merge_frequencies(parts).items())
  EXPECT_EQ(ToPairs(internal::MergeFrequencies(parts, false)),
            (Pairs{{"a", 2}, {"b", 3}, {"c", 2}, {"d", 3}}));
  // sorted(..., key=second, reverse=True): ties keep first-seen order.
  EXPECT_EQ(ToPairs(internal::MergeFrequencies(parts, true)),
            (Pairs{{"b", 3}, {"d", 3}, {"a", 2}, {"c", 2}}));
  EXPECT_EQ(internal::MergeFrequencies({}, false).size(), 0u);
  EXPECT_EQ(ToPairs(internal::MergeFrequencies(CountsParts({{{"x", 4}}}), true)),
            (Pairs{{"x", 4}}));
  Result<Value> r = CallKernel("tegu.bag.merge_frequencies", {ListArg(parts), Bool(true)});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(ToPairs(*r.ValueUnsafe().TryGet<StringCounts>()),
            (Pairs{{"b", 3}, {"d", 3}, {"a", 2}, {"c", 2}}));
}

TEST(AggKernels, TopkCountsIsNlargest) {
  const ValueList parts = CountsParts({{{"a", 1}, {"b", 5}, {"\xc3\xa9", 2}},
                                       {{"a", 3}, {"c", 5}, {"", 5}},
                                       {},
                                       {{"b", 5}, {"B", 7}}});
  const std::string e = "\xc3\xa9";
  // list(toolz.topk(k, pairs, key=key)) for key None, 0, 1.
  struct Case {
    int64_t key;
    int64_t k;
    Pairs expected;
  };
  const std::vector<Case> cases = {
      {-1, 0, {}},
      {-1, 1, {{e, 2}}},
      {-1, 2, {{e, 2}, {"c", 5}}},
      {-1, 3, {{e, 2}, {"c", 5}, {"b", 5}}},
      {-1, 5, {{e, 2}, {"c", 5}, {"b", 5}, {"b", 5}, {"a", 3}}},
      {-1, 100, {{e, 2}, {"c", 5}, {"b", 5}, {"b", 5}, {"a", 3}, {"a", 1}, {"B", 7}, {"", 5}}},
      {0, 0, {}},
      {0, 1, {{e, 2}}},
      {0, 3, {{e, 2}, {"c", 5}, {"b", 5}}},
      {0, 5, {{e, 2}, {"c", 5}, {"b", 5}, {"b", 5}, {"a", 1}}},
      {0, 100, {{e, 2}, {"c", 5}, {"b", 5}, {"b", 5}, {"a", 1}, {"a", 3}, {"B", 7}, {"", 5}}},
      {1, 0, {}},
      {1, 1, {{"B", 7}}},
      {1, 2, {{"B", 7}, {"b", 5}}},
      {1, 3, {{"B", 7}, {"b", 5}, {"c", 5}}},
      {1, 5, {{"B", 7}, {"b", 5}, {"c", 5}, {"", 5}, {"b", 5}}},
      {1, 100, {{"B", 7}, {"b", 5}, {"c", 5}, {"", 5}, {"b", 5}, {"a", 3}, {e, 2}, {"a", 1}}},
      {1, -3, {}},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE("key " + std::to_string(c.key) + " k " + std::to_string(c.k));
    EXPECT_EQ(ToPairs(internal::TopkCounts(parts, c.k, c.key)), c.expected);
  }
  EXPECT_EQ(internal::TopkCounts({}, 3, 1).size(), 0u);
  Result<Value> r = CallKernel("tegu.bag.topk_counts", {ListArg(parts), Int(2), Int(1)});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(ToPairs(*r.ValueUnsafe().TryGet<StringCounts>()), (Pairs{{"B", 7}, {"b", 5}}));
  Result<Value> bad_key = CallKernel("tegu.bag.topk_counts", {ListArg(parts), Int(2), Int(2)});
  ASSERT_FALSE(bad_key.ok());
  EXPECT_EQ(bad_key.status().code(), StatusCode::kInvalid);
}

TEST(AggKernels, TopkTiesAgreeWithAStableSortOnLargeInputs) {
  // Many equal counts, k well below n: the partial selection must give what
  // sorted(pairs, key=count, reverse=True)[:k] gives.
  std::mt19937 rng(7);
  Pairs pairs;
  for (int i = 0; i < 5000; ++i) {
    pairs.emplace_back("w" + std::to_string(rng() % 700), static_cast<int64_t>(rng() % 9));
  }
  Pairs by_count = pairs;
  std::stable_sort(by_count.begin(), by_count.end(),
                   [](const auto& a, const auto& b) { return a.second > b.second; });
  Pairs by_pair = pairs;
  std::stable_sort(by_pair.begin(), by_pair.end(),
                   [](const auto& a, const auto& b) { return a > b; });
  const ValueList parts = CountsParts({Pairs(pairs.begin(), pairs.begin() + 2000),
                                       Pairs(pairs.begin() + 2000, pairs.end())});
  for (int64_t k : {1, 10, 999, 4999, 5000, 6000}) {
    const size_t take = std::min<size_t>(static_cast<size_t>(k), pairs.size());
    EXPECT_EQ(ToPairs(internal::TopkCounts(parts, k, 1)),
              Pairs(by_count.begin(), by_count.begin() + static_cast<ptrdiff_t>(take)));
    EXPECT_EQ(ToPairs(internal::TopkCounts(parts, k, -1)),
              Pairs(by_pair.begin(), by_pair.begin() + static_cast<ptrdiff_t>(take)));
  }
}

TEST(AggKernels, TopkStrings) {
  const ValueList parts =
      ListParts({{"b", "a", "\xc3\xa9"}, {}, {"", "b", "z", "\xc3\xa4", "Z", "a"}});
  // list(toolz.topk(k, strs))
  EXPECT_EQ(ToStrings(internal::TopkStrings(parts, 0)), Strings{});
  EXPECT_EQ(ToStrings(internal::TopkStrings(parts, 1)), Strings{"\xc3\xa9"});
  EXPECT_EQ(ToStrings(internal::TopkStrings(parts, 3)), (Strings{"\xc3\xa9", "\xc3\xa4", "z"}));
  EXPECT_EQ(ToStrings(internal::TopkStrings(parts, 20)),
            (Strings{"\xc3\xa9", "\xc3\xa4", "z", "b", "b", "a", "a", "Z", ""}));
}

TEST(AggKernels, DistinctKeepsFirstSeenOrder) {
  // merge_distinct([chunk_distinct(['b', 'a', 'b', '']), chunk_distinct(['', 'c', 'a'])])
  const StringList first = internal::Distinct(ListParts({{"b", "a", "b", ""}}));
  const StringList second = internal::Distinct(ListParts({{"", "c", "a"}}));
  EXPECT_EQ(ToStrings(first), (Strings{"b", "a", ""}));
  EXPECT_EQ(ToStrings(internal::Distinct({Value::From(first), Value::From(second)})),
            (Strings{"b", "a", "", "c"}));
  EXPECT_TRUE(internal::Distinct({}).empty());
}

TEST(AggKernels, ConcatStrings) {
  // A slice (offsets not starting at 0) is rebased.
  const StringList whole = MakeList({"skip", "x", "", "yz", "skip"});
  const StringList slice(whole.data(), std::make_shared<const std::vector<int64_t>>(
                                           whole.offsets().begin() + 1, whole.offsets().end() - 1));
  const ValueList parts = {Value::From(MakeList({"a", "bc"})), Value::From(MakeList({})),
                           Value::From(slice), Value::From(MakeList({""}))};
  const StringList joined = internal::ConcatStrings(parts);
  EXPECT_EQ(ToStrings(joined), (Strings{"a", "bc", "x", "", "yz", ""}));
  std::string why;
  EXPECT_TRUE(joined.Validate(&why)) << why;
  EXPECT_TRUE(internal::ConcatStrings({}).empty());
  EXPECT_EQ(ToStrings(internal::ConcatStrings({Value::From(slice)})), (Strings{"x", "", "yz"}));
}

TEST(AggKernels, WrongPartTypesNameTheKernelIndexAndType) {
  const ValueList mixed = {Value::From(MakeList({"a"})), Value::From(int64_t{3})};
  for (const char* name : {"tegu.bag.distinct", "tegu.bag.concat_strings"}) {
    Result<Value> r = CallKernel(name, {ListArg(mixed)});
    ASSERT_FALSE(r.ok()) << name;
    EXPECT_EQ(r.status().code(), StatusCode::kTypeError);
    EXPECT_NE(r.status().message().find(name), std::string::npos) << r.status().message();
    EXPECT_NE(r.status().message().find("parts[1]"), std::string::npos) << r.status().message();
    EXPECT_NE(r.status().message().find("int"), std::string::npos) << r.status().message();
  }
  Result<Value> topk = CallKernel("tegu.bag.topk_strings", {ListArg(mixed), Int(1)});
  ASSERT_FALSE(topk.ok());
  EXPECT_NE(topk.status().message().find("parts[1]"), std::string::npos);
  // A StringList where StringCounts are expected.
  Result<Value> merge = CallKernel("tegu.bag.merge_frequencies", {ListArg(mixed), Bool(false)});
  ASSERT_FALSE(merge.ok());
  EXPECT_EQ(merge.status().code(), StatusCode::kTypeError);
  EXPECT_NE(merge.status().message().find("tegu.bag.merge_frequencies: parts[0]"),
            std::string::npos)
      << merge.status().message();
  Result<Value> counts = CallKernel("tegu.bag.topk_counts", {ListArg(mixed), Int(1), Int(1)});
  ASSERT_FALSE(counts.ok());
  EXPECT_NE(counts.status().message().find("parts[0]"), std::string::npos);
  // A single partition of the wrong type is caught by the argument conversion.
  Result<Value> count = CallKernel("tegu.bag.count", {Arg::Literal(Value::From(int64_t{1}))});
  ASSERT_FALSE(count.ok());
  EXPECT_EQ(count.status().code(), StatusCode::kTypeError);
}

}  // namespace
}  // namespace tegu::bag
