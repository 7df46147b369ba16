// The registry of named native functions, with a few built-ins used by the demo, the benchmarks
// and the Python tests ("tegu.inc", "tegu.add", "tegu.sum", ...).
#include <map>
#include <mutex>
#include <stdexcept>

#include "tegu/native.hpp"

namespace tegu {

namespace {

struct Registry {
  std::mutex mu;
  std::map<std::string, std::shared_ptr<const TaskFunction>> functions;
};

int64_t SumList(const ValueList& items) {
  int64_t total = 0;
  for (const Value& v : items) {
    Result<int64_t> x = ValueAs<int64_t>(v);
    if (!x.ok()) throw StatusError(x.status());
    total += x.ValueUnsafe();
  }
  return total;
}

void RegisterBuiltins(Registry* r) {
  auto add = [r](const std::string& name, std::shared_ptr<const TaskFunction> fn) {
    r->functions[name] = std::move(fn);
  };
  add("tegu.inc", MakeNativeFunction("tegu.inc", [](int64_t x) { return x + 1; }));
  add("tegu.add", MakeNativeFunction("tegu.add", [](int64_t a, int64_t b) { return a + b; }));
  add("tegu.mul", MakeNativeFunction("tegu.mul", [](int64_t a, int64_t b) { return a * b; }));
  add("tegu.square", MakeNativeFunction("tegu.square", [](int64_t x) { return x * x; }));
  add("tegu.sum", MakeNativeFunction("tegu.sum", [](ValueList items) { return SumList(items); }));
  add("tegu.fadd", MakeNativeFunction("tegu.fadd", [](double a, double b) { return a + b; }));
  add("tegu.fail", MakeNativeFunction("tegu.fail", [](std::string message) -> int64_t {
        throw std::runtime_error(message);
      }));
}

Registry& GetRegistry() {
  static Registry* registry = [] {
    auto* r = new Registry();  // leaked: registrations happen during static initialisation
    RegisterBuiltins(r);
    return r;
  }();
  return *registry;
}

}  // namespace

bool RegisterFunction(const std::string& name, std::shared_ptr<const TaskFunction> fn) {
  Registry& r = GetRegistry();
  std::lock_guard<std::mutex> lock(r.mu);
  r.functions[name] = std::move(fn);
  return true;
}

Result<std::shared_ptr<const TaskFunction>> FindFunction(const std::string& name) {
  Registry& r = GetRegistry();
  std::lock_guard<std::mutex> lock(r.mu);
  auto it = r.functions.find(name);
  if (it == r.functions.end()) {
    return Status::KeyError("no native function is registered as '" + name + "'");
  }
  return it->second;
}

std::vector<std::string> RegisteredFunctionNames() {
  Registry& r = GetRegistry();
  std::lock_guard<std::mutex> lock(r.mu);
  std::vector<std::string> names;
  for (const auto& kv : r.functions) names.push_back(kv.first);
  return names;
}

}  // namespace tegu
