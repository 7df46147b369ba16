// Status: the outcome of an engine operation that can fail, carrying a code, a message and an
// optional detail (for example the exception a task raised). Result<T> is a value or a Status.
//
// Thread-safety: Status and Result are values; distinct objects may be used from different
// threads freely, and const access to one object is safe. The detail is immutable and shared.
#pragma once

#include <memory>
#include <string>
#include <utility>

namespace tegu {

/// The kind of failure. Serialized in later protocol versions, so the values are explicit.
enum class StatusCode : uint8_t {
  kOk = 0,
  kInvalid = 1,       ///< bad argument or malformed input
  kKeyError = 2,      ///< a key that is not in the graph, or a duplicate
  kCycle = 3,         ///< the graph has a cycle
  kTaskError = 4,     ///< a task raised; the detail carries what it raised
  kIOError = 5,       ///< a file or program could not be read, written or run
  kNotImplemented = 6,
  kCancelled = 7,
  kTypeError = 8,     ///< a value of the wrong type reached a typed function
};

/// Extra information attached to a Status; subclasses carry language-specific payloads.
class StatusDetail {
 public:
  virtual ~StatusDetail() = default;
  /// A short name for the kind of detail ("exception", "python-exception", ...).
  virtual const char* type_id() const = 0;
  virtual std::string ToString() const = 0;
};

/// The result of an operation: OK, or a code with a message.
class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(StatusCode code, std::string message, std::shared_ptr<const StatusDetail> detail = {})
      : state_(std::make_shared<State>(State{code, std::move(message), std::move(detail)})) {}

  static Status OK() { return Status(); }
  static Status Invalid(std::string msg) { return Status(StatusCode::kInvalid, std::move(msg)); }
  static Status KeyError(std::string msg) { return Status(StatusCode::kKeyError, std::move(msg)); }
  static Status Cycle(std::string msg) { return Status(StatusCode::kCycle, std::move(msg)); }
  static Status IOError(std::string msg) { return Status(StatusCode::kIOError, std::move(msg)); }
  static Status TypeError(std::string msg) { return Status(StatusCode::kTypeError, std::move(msg)); }
  static Status NotImplemented(std::string msg) {
    return Status(StatusCode::kNotImplemented, std::move(msg));
  }
  static Status Cancelled(std::string msg) {
    return Status(StatusCode::kCancelled, std::move(msg));
  }

  bool ok() const { return state_ == nullptr; }
  StatusCode code() const { return state_ ? state_->code : StatusCode::kOk; }
  const std::string& message() const;
  const std::shared_ptr<const StatusDetail>& detail() const;
  /// "KeyError: message".
  std::string ToString() const;
  /// A copy with `context` prepended to the message ("while computing 'x': ...").
  Status WithContext(const std::string& context) const;

 private:
  struct State {
    StatusCode code;
    std::string message;
    std::shared_ptr<const StatusDetail> detail;
  };
  std::shared_ptr<const State> state_;
};

const char* StatusCodeName(StatusCode code);

}  // namespace tegu

/// Return early with the Status when an expression yields a non-OK Status.
#define TEGU_RETURN_NOT_OK(expr)                       \
  do {                                                 \
    ::tegu::Status _tegu_status = (expr);              \
    if (!_tegu_status.ok()) return _tegu_status;       \
  } while (false)
