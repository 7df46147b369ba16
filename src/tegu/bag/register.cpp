#include <atomic>
#include <mutex>

#include "tegu/bag/kernels.hpp"
#include "tegu/bag/strings.hpp"

namespace tegu::bag {

namespace {
std::atomic<CaseMapper> g_case_mapper{nullptr};
}  // namespace

void SetCaseMapper(CaseMapper mapper) { g_case_mapper.store(mapper); }
CaseMapper GetCaseMapper() { return g_case_mapper.load(); }

void RegisterBagKernels() {
  static std::once_flag once;
  std::call_once(once, [] {
    RegisterStringTypes();
    RegisterTextIoKernels();
    RegisterStrKernels();
    RegisterAggregateKernels();
  });
}

namespace {
[[maybe_unused]] const bool kRegistered = [] {
  RegisterBagKernels();
  return true;
}();
}  // namespace

}  // namespace tegu::bag
