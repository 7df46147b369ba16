// Native partitions of a text bag: a list of strings (StringList, Arrow's large_string layout:
// int64 offsets into one UTF-8 byte buffer), a list of lists of strings (StringLists: what
// `.str.split()` makes) and word counts (StringCounts: what `frequencies()` makes). The text
// kernels (read_text, `.str`, flatten, frequencies, topk, distinct, count) take and return
// these, so a text pipeline makes no Python objects until its result comes back.
//
// In Python a StringList is a list of str, a StringLists a list of lists of str and a
// StringCounts a list of (str, int) tuples (python/src/py_value.cpp converts).
//
// Thread-safety: the types are immutable after construction and cheap to copy (their buffers
// are shared), so they may be read from any number of threads. Builders are single-threaded.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "tegu/protocol/message.hpp"

namespace tegu::bag {

using protocol::Buffer;

/// A list of UTF-8 strings: item i is bytes [offsets[i], offsets[i+1]) of `data`.
class StringList {
 public:
  StringList();
  /// `offsets` has one more entry than there are strings, starting at 0, non-decreasing, and
  /// ending at most at data.size() (not checked here: see Validate).
  StringList(Buffer data, std::shared_ptr<const std::vector<int64_t>> offsets)
      : data_(std::move(data)), offsets_(std::move(offsets)) {}

  size_t size() const { return offsets_->size() - 1; }
  bool empty() const { return size() == 0; }
  std::string_view operator[](size_t i) const {
    const int64_t begin = (*offsets_)[i];
    return {reinterpret_cast<const char*>(data_.data()) + begin,
            static_cast<size_t>((*offsets_)[i + 1] - begin)};
  }
  const Buffer& data() const { return data_; }
  const std::vector<int64_t>& offsets() const { return *offsets_; }
  const std::shared_ptr<const std::vector<int64_t>>& shared_offsets() const { return offsets_; }
  /// Bytes of string data this list refers to (not counting shared slack in `data`).
  int64_t byte_size() const { return offsets_->back() - offsets_->front(); }
  /// Whether the offsets describe a valid layout over `data` (for lists from the network).
  bool Validate(std::string* why) const;

 private:
  Buffer data_;
  std::shared_ptr<const std::vector<int64_t>> offsets_;
};

/// Builds a StringList by appending strings.
class StringListBuilder {
 public:
  StringListBuilder() : offsets_(1, 0) {}
  void Reserve(size_t strings, size_t bytes) {
    offsets_.reserve(strings + 1);
    data_.reserve(bytes);
  }
  void Append(std::string_view s) {
    data_.append(s.data(), s.size());
    offsets_.push_back(static_cast<int64_t>(data_.size()));
  }
  /// The byte buffer being built, for kernels that write a string in pieces; end each string
  /// with FinishString().
  std::string& bytes() { return data_; }
  void FinishString() { offsets_.push_back(static_cast<int64_t>(data_.size())); }
  size_t size() const { return offsets_.size() - 1; }
  StringList Finish();

 private:
  std::string data_;
  std::vector<int64_t> offsets_;
};

/// A list of lists of strings: list j is strings [list_offsets[j], list_offsets[j+1]) of
/// `strings`. Flattening it is free: it is `strings`.
class StringLists {
 public:
  StringLists();
  StringLists(StringList strings, std::shared_ptr<const std::vector<int64_t>> list_offsets)
      : strings_(std::move(strings)), list_offsets_(std::move(list_offsets)) {}

  size_t size() const { return list_offsets_->size() - 1; }
  const StringList& strings() const { return strings_; }
  const std::vector<int64_t>& list_offsets() const { return *list_offsets_; }
  bool Validate(std::string* why) const;

 private:
  StringList strings_;
  std::shared_ptr<const std::vector<int64_t>> list_offsets_;
};

/// (string, count) pairs, as `frequencies()` makes them; keys are distinct and keep the order
/// in which they were first seen (as a Python dict does).
class StringCounts {
 public:
  StringCounts();
  StringCounts(StringList keys, std::shared_ptr<const std::vector<int64_t>> counts)
      : keys_(std::move(keys)), counts_(std::move(counts)) {}

  size_t size() const { return keys_.size(); }
  const StringList& keys() const { return keys_; }
  const std::vector<int64_t>& counts() const { return *counts_; }
  bool Validate(std::string* why) const;

 private:
  StringList keys_;
  std::shared_ptr<const std::vector<int64_t>> counts_;
};

/// Registers the wire forms of the three types with the distributed payload codec (kinds
/// "strings", "string-lists", "string-counts"); called once at start-up, idempotent.
void RegisterStringTypes();

}  // namespace tegu::bag
