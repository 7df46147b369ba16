// Message headers: a msgpack map holding "op" and the operation's small fields. HeaderBuilder
// writes one; HeaderView parses untrusted bytes into typed, checked field lookups (a missing or
// mistyped field is an error naming the field and the op, never an exception).
//
// Thread-safety: values; no shared state.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "tegu/result.hpp"

namespace tegu::protocol {

class HeaderBuilder {
 public:
  /// A header for `op` with `field_count` further fields (msgpack maps are length-prefixed).
  HeaderBuilder(std::string_view op, uint32_t field_count);
  ~HeaderBuilder();
  HeaderBuilder& Add(std::string_view key, int64_t value);
  HeaderBuilder& Add(std::string_view key, uint64_t value);
  HeaderBuilder& Add(std::string_view key, int value) { return Add(key, int64_t{value}); }
  HeaderBuilder& Add(std::string_view key, bool value);
  HeaderBuilder& Add(std::string_view key, double value);
  HeaderBuilder& Add(std::string_view key, std::string_view value);
  HeaderBuilder& Add(std::string_view key, const char* value) {
    return Add(key, std::string_view(value));
  }
  HeaderBuilder& AddBinary(std::string_view key, std::string_view bytes);
  HeaderBuilder& Add(std::string_view key, const std::vector<std::string>& values);
  /// The encoded header. Fails if the number of fields added differs from the count declared.
  Result<std::string> Finish();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

class HeaderView {
 public:
  /// Parses `bytes`; fails with Invalid for anything but a msgpack map with a string "op".
  static Result<HeaderView> Parse(std::string_view bytes);
  HeaderView(HeaderView&&) noexcept;
  HeaderView& operator=(HeaderView&&) noexcept;
  ~HeaderView();

  const std::string& op() const;
  bool Has(std::string_view key) const;
  Result<int64_t> GetInt(std::string_view key) const;
  Result<bool> GetBool(std::string_view key) const;
  Result<double> GetDouble(std::string_view key) const;
  /// A str or bin field.
  Result<std::string> GetString(std::string_view key) const;
  Result<std::vector<std::string>> GetStringList(std::string_view key) const;

 private:
  struct Impl;
  explicit HeaderView(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace tegu::protocol
