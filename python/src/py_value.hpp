// Python objects inside the engine: a Value holding a PyObject, conversions between Python
// objects and native Values, the Python exception carried by a failed task, and the GIL lease
// that lets a pool thread keep the GIL across consecutive Python tasks.
//
// Thread-safety: PyValue holders may be copied and destroyed from any thread (destruction takes
// the GIL when the thread does not hold it). Every other function here requires the GIL unless
// its comment says otherwise.
#pragma once

#include <Python.h>

#include <string>

#include "tegu/status.hpp"
#include "tegu/value.hpp"

namespace tegu::python {

/// A Value owning a strong reference to a Python object.
class PyValueHolder final : public internal::ValueHolderBase {
 public:
  /// Steals `object` (a new reference).
  explicit PyValueHolder(PyObject* object) : object_(object) {}
  ~PyValueHolder() override;
  const std::type_info& type() const override { return typeid(PyValueHolder); }
  const void* address() const override { return this; }
  bool is_foreign() const override { return true; }
  // Reading tp_name needs no GIL: the type outlives the object we hold a reference to.
  std::string TypeName() const override { return Py_TYPE(object_)->tp_name; }
  PyObject* object() const { return object_; }

 private:
  PyObject* object_;
};

/// A Value holding `object`; takes a new reference (does not steal).
Value WrapPy(PyObject* object);
/// Steals `object`.
Value StealPy(PyObject* object);
/// The Python object held by `value`, or nullptr when it is a native value.
inline PyObject* PyObjectOf(const Value& value) {
  if (!value.is_foreign()) return nullptr;
  return static_cast<const PyValueHolder*>(value.holder())->object();
}

/// A new reference to the Python form of `value`: the object itself for a Python value; ints,
/// floats, strings, bools, lists and None for native ones; a bag's text partitions as a list of
/// str, a list of lists of str, or a list of (str, int) tuples. nullptr with a Python error set when
/// the native type has no Python form.
PyObject* ToPython(const Value& value);

/// The native form of a Python argument to a native task: int -> int64_t, float -> double,
/// str -> std::string, bool -> bool, list/tuple -> ValueList, anything else stays a Python value.
Value FromPythonForNative(PyObject* object);

/// The exception raised by a Python task, with its traceback.
class PythonExceptionDetail final : public StatusDetail {
 public:
  explicit PythonExceptionDetail(PyObject* exception) : exception_(exception) {}  // steals
  ~PythonExceptionDetail() override;
  const char* type_id() const override { return "python-exception"; }
  std::string ToString() const override { return text_; }
  PyObject* exception() const { return exception_; }
  std::string text_;

 private:
  PyObject* exception_;
};

/// A kTaskError Status from the Python error currently set (clears it).
Status StatusFromPythonError();

/// Takes the GIL for a Python task on this thread. When the executor's scheduling loop can keep
/// it across tasks, the loop releases it later and this returns false; otherwise it returns true
/// and the caller must call ReleaseGil() after the task. No-op (false) if the GIL is held.
bool AcquireGilForTask(bool keep_for_batch = true);
void ReleaseGil();

/// Installs the conversion of Python values for typed native functions (call at import).
void InstallForeignCoercer();

}  // namespace tegu::python
