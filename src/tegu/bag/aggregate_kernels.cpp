// The reductions of a text bag: count, frequencies (per partition and merged), topk, distinct
// and concatenation. Per-partition steps take one partition; merge steps take the list of
// partials (a ValueList), as dask.bag's reduction() hands them to its aggregate function.
// Orders follow Python: frequencies and distinct keep first-seen order (a dict's), topk is
// heapq.nlargest (sorted(..., reverse=True)[:k]: ties keep their input order).
#include <algorithm>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "tegu/bag/kernels.hpp"
#include "tegu/bag/text_kernels_internal.hpp"
#include "tegu/native.hpp"

namespace tegu::bag {
namespace internal {

namespace {

// The items of `parts` as T, or a TypeError naming the kernel, the index and the type found.
template <class T>
std::vector<T> PartsAs(const ValueList& parts, const char* kernel, const char* expected) {
  std::vector<T> out;
  out.reserve(parts.size());
  for (size_t i = 0; i < parts.size(); ++i) {
    if (const T* p = parts[i].template TryGet<T>()) {
      out.push_back(*p);
      continue;
    }
    Result<T> converted = ValueAs<T>(parts[i]);  // a foreign value the front end can convert
    if (!converted.ok()) {
      throw StatusError(Status::TypeError(std::string(kernel) + ": parts[" + std::to_string(i) +
                                          "] has type " + parts[i].TypeName() + ", expected " +
                                          expected));
    }
    out.push_back(converted.MoveValueUnsafe());
  }
  return out;
}

// The first min(k, n) indices of [0, n) in the order of `better` (a strict weak order that
// decides ties by index, so the result is heapq.nlargest's), selected without a full sort.
template <class Better>
std::vector<uint32_t> TopIndices(size_t n, int64_t k, Better&& better) {
  std::vector<uint32_t> order;
  if (k <= 0 || n == 0) return order;
  order.resize(n);
  for (size_t i = 0; i < n; ++i) order[i] = static_cast<uint32_t>(i);
  const size_t take = std::min(n, static_cast<size_t>(k));
  if (take < n) {
    std::nth_element(order.begin(), order.begin() + static_cast<ptrdiff_t>(take), order.end(),
                     better);
    order.resize(take);
  }
  std::sort(order.begin(), order.end(), better);
  return order;
}

StringList ConcatLists(const std::vector<StringList>& lists) {
  if (lists.size() == 1) return lists[0];
  size_t strings = 0;
  size_t bytes = 0;
  for (const StringList& list : lists) {
    strings += list.size();
    bytes += static_cast<size_t>(list.byte_size());
  }
  // Each list's bytes are copied at once and its offsets rebased.
  std::string data;
  data.reserve(bytes);
  std::vector<int64_t> offsets;
  offsets.reserve(strings + 1);
  offsets.push_back(0);
  for (const StringList& list : lists) {
    const std::vector<int64_t>& from = list.offsets();
    const int64_t shift = static_cast<int64_t>(data.size()) - from.front();
    data.append(reinterpret_cast<const char*>(list.data().data()) + from.front(),
                static_cast<size_t>(list.byte_size()));
    for (size_t i = 1; i < from.size(); ++i) offsets.push_back(from[i] + shift);
  }
  return OwnStringList(std::move(data), std::move(offsets));
}

}  // namespace

int64_t Count(const StringList& strings) { return static_cast<int64_t>(strings.size()); }
int64_t CountLists(const StringLists& lists) { return static_cast<int64_t>(lists.size()); }

StringCounts Frequencies(const StringList& strings) {
  WordCounter counter(std::min<size_t>(strings.size(), 1024));
  for (size_t i = 0; i < strings.size(); ++i) counter.Add(strings[i]);
  return counter.Finish();
}

StringCounts MergeFrequencies(const ValueList& parts, bool sort) {
  const std::vector<StringCounts> counts =
      PartsAs<StringCounts>(parts, "tegu.bag.merge_frequencies", "StringCounts");
  size_t largest = 0;
  for (const StringCounts& c : counts) largest = std::max(largest, c.size());
  WordCounter counter(largest);
  for (const StringCounts& c : counts) {
    const StringList& keys = c.keys();
    const std::vector<int64_t>& n = c.counts();
    for (size_t i = 0; i < keys.size(); ++i) counter.Add(keys[i], n[i]);
  }
  if (!sort) return counter.Finish();
  // sorted(items, key=count, reverse=True): stable, so equal counts keep first-seen order.
  std::vector<uint32_t> order(counter.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = static_cast<uint32_t>(i);
  const std::vector<int64_t> n = counter.Counts();
  std::stable_sort(order.begin(), order.end(), [&](uint32_t a, uint32_t b) { return n[a] > n[b]; });
  return counter.Finish(&order);
}

StringCounts TopkCounts(const ValueList& parts, int64_t k, int64_t key) {
  if (key < -1 || key > 1) {
    throw StatusError(Status::Invalid("tegu.bag.topk_counts: key must be -1 (the pair), 0 (the "
                                      "word) or 1 (the count), not " + std::to_string(key)));
  }
  const std::vector<StringCounts> counts =
      PartsAs<StringCounts>(parts, "tegu.bag.topk_counts", "StringCounts");
  std::vector<std::string_view> words;
  std::vector<int64_t> n;
  for (const StringCounts& c : counts) {
    for (size_t i = 0; i < c.size(); ++i) {
      words.push_back(c.keys()[i]);
      n.push_back(c.counts()[i]);
    }
  }
  // Python compares str by code point, which is bytewise on UTF-8 (string_view compares bytes
  // as unsigned char).
  std::vector<uint32_t> order;
  if (key == 1) {
    order = TopIndices(words.size(), k, [&](uint32_t a, uint32_t b) {
      return n[a] != n[b] ? n[a] > n[b] : a < b;
    });
  } else if (key == 0) {
    order = TopIndices(words.size(), k, [&](uint32_t a, uint32_t b) {
      const int c = words[a].compare(words[b]);
      return c != 0 ? c > 0 : a < b;
    });
  } else {
    order = TopIndices(words.size(), k, [&](uint32_t a, uint32_t b) {
      const int c = words[a].compare(words[b]);
      if (c != 0) return c > 0;
      return n[a] != n[b] ? n[a] > n[b] : a < b;
    });
  }
  std::vector<std::string_view> top_words;
  std::vector<int64_t> top_counts;
  top_words.reserve(order.size());
  top_counts.reserve(order.size());
  for (uint32_t i : order) {
    top_words.push_back(words[i]);
    top_counts.push_back(n[i]);
  }
  return StringCounts(MakeStringList(top_words),
                      std::make_shared<const std::vector<int64_t>>(std::move(top_counts)));
}

StringList TopkStrings(const ValueList& parts, int64_t k) {
  const std::vector<StringList> lists =
      PartsAs<StringList>(parts, "tegu.bag.topk_strings", "StringList");
  std::vector<std::string_view> strings;
  for (const StringList& list : lists) {
    for (size_t i = 0; i < list.size(); ++i) strings.push_back(list[i]);
  }
  const std::vector<uint32_t> order = TopIndices(strings.size(), k, [&](uint32_t a, uint32_t b) {
    const int c = strings[a].compare(strings[b]);
    return c != 0 ? c > 0 : a < b;
  });
  std::vector<std::string_view> top;
  top.reserve(order.size());
  for (uint32_t i : order) top.push_back(strings[i]);
  return MakeStringList(top);
}

StringList Distinct(const ValueList& parts) {
  const std::vector<StringList> lists =
      PartsAs<StringList>(parts, "tegu.bag.distinct", "StringList");
  size_t total = 0;
  for (const StringList& list : lists) total += list.size();
  WordCounter seen(std::min<size_t>(total, 1024));
  for (const StringList& list : lists) {
    for (size_t i = 0; i < list.size(); ++i) seen.Add(list[i]);
  }
  return MakeStringList(seen.words());
}

StringList ConcatStrings(const ValueList& parts) {
  const std::vector<StringList> lists =
      PartsAs<StringList>(parts, "tegu.bag.concat_strings", "StringList");
  if (lists.empty()) return StringListBuilder().Finish();
  return ConcatLists(lists);
}

}  // namespace internal

void RegisterAggregateKernels() {
  RegisterNative("tegu.bag.count", [](StringList s) { return internal::Count(s); });
  RegisterNative("tegu.bag.count_lists", [](StringLists l) { return internal::CountLists(l); });
  RegisterNative("tegu.bag.frequencies", [](StringList s) { return internal::Frequencies(s); });
  RegisterNative("tegu.bag.merge_frequencies", [](ValueList parts, bool sort) {
    return internal::MergeFrequencies(parts, sort);
  });
  RegisterNative("tegu.bag.topk_counts", [](ValueList parts, int64_t k, int64_t key) {
    return internal::TopkCounts(parts, k, key);
  });
  RegisterNative("tegu.bag.topk_strings", [](ValueList parts, int64_t k) {
    return internal::TopkStrings(parts, k);
  });
  RegisterNative("tegu.bag.distinct", [](ValueList parts) { return internal::Distinct(parts); });
  RegisterNative("tegu.bag.concat_strings",
                 [](ValueList parts) { return internal::ConcatStrings(parts); });
}

}  // namespace tegu::bag
