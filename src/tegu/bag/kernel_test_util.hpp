// Test-only helpers shared by the bag's kernel tests: building and reading StringList and
// StringCounts values from plain std::strings, and calling a registered "tegu.bag.*" kernel
// through a TaskSpec with literal arguments, as a task would. Only the *_test.cpp files
// include this header.
//
// Thread-safety: every function may run concurrently (CallKernel's registration of the bag
// kernels is idempotent and thread-safe).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "tegu/bag/kernels.hpp"
#include "tegu/bag/strings.hpp"
#include "tegu/native.hpp"
#include "tegu/result.hpp"
#include "tegu/task_spec.hpp"
#include "tegu/value.hpp"

// In tegu::bag itself, as the tests are, so that they call these unqualified. (A namespace
// "testing" inside tegu::bag would also hide GoogleTest's ::testing.)
namespace tegu::bag {

inline StringList MakeList(const std::vector<std::string>& strings) {
  StringListBuilder builder;
  for (const std::string& s : strings) builder.Append(s);
  return builder.Finish();
}

inline std::vector<std::string> ToStrings(const StringList& list) {
  std::vector<std::string> out;
  for (size_t i = 0; i < list.size(); ++i) out.emplace_back(list[i]);
  return out;
}

inline std::vector<std::pair<std::string, int64_t>> ToPairs(const StringCounts& counts) {
  std::vector<std::pair<std::string, int64_t>> out;
  for (size_t i = 0; i < counts.size(); ++i) {
    out.emplace_back(std::string(counts.keys()[i]), counts.counts()[i]);
  }
  return out;
}

// The inputs of a task that references no other key: the kernels under test take literals only.
class NoInputs : public TaskInputs {
 public:
  const Value& Get(KeyId) const override {
    static const Value kNone;
    return kNone;
  }
};

// Calls the registered kernel `name` with `args`, as a task would. A kernel reports failure by
// throwing StatusError; it comes back here as the Result's status so tests can compare it.
inline Result<Value> CallKernel(const std::string& name, std::vector<Arg> args) {
  RegisterBagKernels();
  Result<std::shared_ptr<const TaskFunction>> fn = FindFunction(name);
  if (!fn.ok()) return fn.status();
  const TaskSpec spec(fn.ValueUnsafe(), std::move(args));
  try {
    return spec.Call(NoInputs());
  } catch (const StatusError& e) {
    return e.status();
  }
}

inline Arg Int(int64_t i) { return Arg::Literal(Value::From(i)); }
inline Arg Bool(bool b) { return Arg::Literal(Value::From(b)); }

}  // namespace tegu::bag
