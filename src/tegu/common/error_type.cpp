#include "tegu/common/error_type.hpp"

#include <memory>
#include <utility>

namespace tegu {

namespace {

class ErrorTypeDetail final : public StatusDetail {
 public:
  explicit ErrorTypeDetail(std::string type) : type_(std::move(type)) {}
  const char* type_id() const override { return "error-type"; }
  std::string ToString() const override { return type_; }
  const std::string& type() const { return type_; }

 private:
  std::string type_;
};

}  // namespace

Status WithErrorType(Status status, std::string python_type) {
  if (status.ok()) return status;
  return Status(status.code(), status.message(),
                std::make_shared<ErrorTypeDetail>(std::move(python_type)));
}

std::string ErrorTypeOf(const Status& status) {
  if (auto* d = dynamic_cast<const ErrorTypeDetail*>(status.detail().get())) return d->type();
  return "";
}

}  // namespace tegu
