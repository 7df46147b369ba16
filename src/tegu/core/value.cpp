#include <atomic>

#include "tegu/value.hpp"

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

Status TypeMismatch(const Value& value, const std::type_info& target) {
  return Status::TypeError("expected a value of type " + Demangle(target.name()) + ", got " +
                           value.TypeName());
}
}  // namespace internal

std::string Value::TypeName() const {
  if (!holder_) return "no value";
  if (holder_->is_foreign()) return "a foreign (Python) object";
  return internal::Demangle(holder_->type().name());
}

}  // namespace tegu
