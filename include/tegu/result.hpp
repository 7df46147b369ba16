// Result<T>: either a value of type T or a non-OK Status (Arrow's arrow::Result).
//
// Thread-safety: a value type; see status.hpp.
#pragma once

#include <cassert>
#include <stdexcept>
#include <utility>
#include <variant>

#include "tegu/status.hpp"

namespace tegu {

/// Thrown by Result<T>::ValueOrThrow() and by the C++ user API when an operation fails.
class StatusError : public std::runtime_error {
 public:
  explicit StatusError(Status status)
      : std::runtime_error(status.ToString()), status_(std::move(status)) {}
  const Status& status() const { return status_; }

 private:
  Status status_;
};

template <class T>
class [[nodiscard]] Result {
 public:
  Result(T value) : storage_(std::move(value)) {}  // NOLINT: implicit like arrow::Result
  Result(Status status) : storage_(std::move(status)) {  // NOLINT
    assert(!std::get<Status>(storage_).ok() && "Result built from an OK Status");
  }

  bool ok() const { return std::holds_alternative<T>(storage_); }
  Status status() const { return ok() ? Status::OK() : std::get<Status>(storage_); }
  const T& ValueUnsafe() const& { return std::get<T>(storage_); }
  T& ValueUnsafe() & { return std::get<T>(storage_); }
  T MoveValueUnsafe() { return std::move(std::get<T>(storage_)); }
  /// The value, or throws StatusError.
  T ValueOrThrow() && {
    if (!ok()) throw StatusError(std::get<Status>(storage_));
    return std::move(std::get<T>(storage_));
  }

 private:
  std::variant<T, Status> storage_;
};

}  // namespace tegu

#define TEGU_CONCAT_INNER(a, b) a##b
#define TEGU_CONCAT(a, b) TEGU_CONCAT_INNER(a, b)
#define TEGU_ASSIGN_OR_RAISE_IMPL(tmp, lhs, rexpr) \
  auto tmp = (rexpr);                              \
  if (!tmp.ok()) return tmp.status();              \
  lhs = tmp.MoveValueUnsafe()
/// `TEGU_ASSIGN_OR_RAISE(auto x, MakeX());` — bind the value or return the Status.
#define TEGU_ASSIGN_OR_RAISE(lhs, rexpr) \
  TEGU_ASSIGN_OR_RAISE_IMPL(TEGU_CONCAT(_tegu_result_, __LINE__), lhs, rexpr)
