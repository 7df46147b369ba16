// Key: the name of a task and of its result, as in Dask: a string ("inc-5f2a") or a tuple of
// strings and integers (('x', 0, 1)). Graphs intern keys to dense integer KeyIds.
//
// Thread-safety: Key is an immutable value type.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace tegu {

/// Dense id of a key inside one Graph.
using KeyId = uint32_t;
inline constexpr KeyId kNoKey = UINT32_MAX;

/// One element of a tuple key.
using KeyPart = std::variant<int64_t, std::string>;

class Key {
 public:
  Key() = default;
  Key(std::string name) : parts_{std::move(name)} {}  // NOLINT: keys read like strings
  Key(const char* name) : parts_{std::string(name)} {}  // NOLINT
  /// A tuple key such as ('x', 0, 1).
  static Key Tuple(std::vector<KeyPart> parts);

  bool is_tuple() const { return is_tuple_; }
  const std::vector<KeyPart>& parts() const { return parts_; }
  /// The string of a string key; for a tuple key its first string part.
  const std::string& name() const;
  /// Python-like spelling: inc-1 or ('x', 0, 1).
  std::string ToString() const;
  /// The prefix Dask shows for a key ("inc" for "inc-5f2a…", "x" for ('x', 0)).
  std::string Prefix() const;

  bool operator==(const Key& other) const {
    return is_tuple_ == other.is_tuple_ && parts_ == other.parts_;
  }
  size_t Hash() const;

 private:
  std::vector<KeyPart> parts_;
  bool is_tuple_ = false;
};

}  // namespace tegu

template <>
struct std::hash<tegu::Key> {
  size_t operator()(const tegu::Key& key) const { return key.Hash(); }
};
