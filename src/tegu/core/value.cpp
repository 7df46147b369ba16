#include "tegu/value.hpp"

#include <atomic>

#include <cxxabi.h>

#include <cstdlib>

namespace tegu {
namespace internal {
namespace {
std::atomic<ForeignCoercer> g_coercer{nullptr};

std::string Demangle(const char* name) {
  int status = 0;
  char* demangled = abi::__cxa_demangle(name, nullptr, nullptr, &status);
  std::string out = status == 0 && demangled ? demangled : name;
  std::free(demangled);
  return out;
}
}  // namespace

void SetForeignCoercer(ForeignCoercer coercer) { g_coercer.store(coercer); }
ForeignCoercer GetForeignCoercer() { return g_coercer.load(); }

std::string FriendlyTypeName(const std::type_info& type) {
  if (type == typeid(int64_t) || type == typeid(int) || type == typeid(int32_t) ||
      type == typeid(uint64_t) || type == typeid(long long)) {
    return "int";
  }
  if (type == typeid(double) || type == typeid(float)) return "float";
  if (type == typeid(bool)) return "bool";
  if (type == typeid(std::string)) return "str";
  if (type == typeid(ValueList)) return "list";
  if (type == typeid(void)) return "None";
  return Demangle(type.name());
}

std::string ValueHolderBase::TypeName() const { return FriendlyTypeName(type()); }

Status TypeMismatch(const Value& value, const std::type_info& target) {
  return Status::TypeError("expected " + FriendlyTypeName(target) + ", got " + value.TypeName());
}
}  // namespace internal

std::string Value::TypeName() const {
  if (!holder_) return "None";
  return holder_->TypeName();
}

}  // namespace tegu
