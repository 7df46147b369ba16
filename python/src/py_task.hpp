// Python tasks on the C++ engine: PythonCallable runs a Python callable as a task, taking the
// GIL only while Python code runs (kept across consecutive Python tasks on one thread through the
// executor's thread lease), and the native-function handle that Python code can call or delay.
//
// Thread-safety: PythonCallable::Call may run on any pool thread; it takes the GIL itself.
// Construction and destruction of these objects need the GIL (construction) / any thread
// (destruction, through PyValueHolder semantics).
#pragma once

#include <Python.h>

#include <memory>
#include <string>

#include "tegu/task_spec.hpp"

namespace tegu::python {

class PythonCallable final : public TaskFunction {
 public:
  /// `func` is a Python callable, or None for the identity of the single argument. When
  /// `packed`, the spec's first argument is the literal args tuple and the optional second one
  /// the literal kwargs dict (tasks with no dependencies); otherwise arguments are Args.
  PythonCallable(PyObject* func, bool packed);
  ~PythonCallable() override;
  std::string name() const override { return name_; }
  bool uses_thread_lease() const override { return true; }
  Result<Value> Call(const TaskSpec& spec, const TaskInputs& inputs) const override;

 private:
  PyObject* func_;  // strong reference; nullptr for identity
  bool packed_;
  std::string name_;
};

/// A Python handle on a registered native function (tegu.native("name")).
/// A Dask key (str or tuple of str/int) from Python; throws TypeError for anything else.
Key KeyFromPython(PyObject* obj);
/// A new reference to the Python form of `key`.
PyObject* KeyToPython(const Key& key);

struct NativeFunctionHandle {
  std::shared_ptr<const TaskFunction> fn;
};

/// The Python object for argument `arg` of a running task (new reference; nullptr on error).
PyObject* ArgToPython(const Arg& arg, const TaskInputs& inputs);

}  // namespace tegu::python
