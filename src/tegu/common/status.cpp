#include "tegu/status.hpp"

namespace tegu {

namespace {
const std::string& EmptyString() {
  static const std::string kEmpty;
  return kEmpty;
}
}  // namespace

const std::string& Status::message() const { return state_ ? state_->message : EmptyString(); }

const std::shared_ptr<const StatusDetail>& Status::detail() const {
  static const std::shared_ptr<const StatusDetail> kNone;
  return state_ ? state_->detail : kNone;
}

std::string Status::ToString() const {
  if (ok()) return "OK";
  return std::string(StatusCodeName(code())) + ": " + message();
}

Status Status::WithContext(const std::string& context) const {
  if (ok()) return *this;
  return Status(code(), context + ": " + message(), detail());
}

const char* StatusCodeName(StatusCode code) {
  switch (code) {
    case StatusCode::kOk: return "OK";
    case StatusCode::kInvalid: return "Invalid";
    case StatusCode::kKeyError: return "KeyError";
    case StatusCode::kCycle: return "Cycle";
    case StatusCode::kTaskError: return "TaskError";
    case StatusCode::kIOError: return "IOError";
    case StatusCode::kNotImplemented: return "NotImplemented";
    case StatusCode::kCancelled: return "Cancelled";
    case StatusCode::kTypeError: return "TypeError";
  }
  return "Unknown";
}

}  // namespace tegu
