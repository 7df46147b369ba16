#include "errors.hpp"

#include <nanobind/nanobind.h>
#include <nanobind/stl/string.h>

#include "py_value.hpp"
#include "tegu/common/error_type.hpp"
#include "tegu/task_error.hpp"

namespace nb = nanobind;

namespace tegu::python {

void RaiseStatus(const Status& status) {
  if (auto* py = dynamic_cast<const PythonExceptionDetail*>(status.detail().get())) {
    PyObject* exc = py->exception();
    PyObject* tb = PyException_GetTraceback(exc);  // new reference or nullptr
    Py_INCREF(exc);
    Py_INCREF(reinterpret_cast<PyObject*>(Py_TYPE(exc)));
    PyErr_Restore(reinterpret_cast<PyObject*>(Py_TYPE(exc)), exc, tb);
    throw nb::python_error();
  }
  const std::string error_type = ErrorTypeOf(status);
  if (!error_type.empty()) {
    // A kernel's bad-input error: the Python type it names (tegu/_errors.py builds it).
    nb::object exc = nb::module_::import_("tegu._errors")
                         .attr("native_error")(error_type, status.message());
    PyErr_SetObject(reinterpret_cast<PyObject*>(Py_TYPE(exc.ptr())), exc.ptr());
    throw nb::python_error();
  }
  PyObject* type = PyExc_RuntimeError;
  switch (status.code()) {
    case StatusCode::kInvalid: type = PyExc_ValueError; break;
    case StatusCode::kKeyError: type = PyExc_KeyError; break;
    case StatusCode::kTypeError: type = PyExc_TypeError; break;
    case StatusCode::kIOError: type = PyExc_OSError; break;
    case StatusCode::kNotImplemented: type = PyExc_NotImplementedError; break;
    case StatusCode::kCancelled: type = PyExc_RuntimeError; break;
    case StatusCode::kCycle: type = PyExc_RuntimeError; break;
    case StatusCode::kTaskError: {
      // A C++ exception from a native task: keep the closest Python type.
      if (auto* native = dynamic_cast<const ExceptionDetail*>(status.detail().get())) {
        try {
          std::rethrow_exception(native->exception());
        } catch (const std::invalid_argument&) {
          type = PyExc_ValueError;
        } catch (const std::out_of_range&) {
          type = PyExc_IndexError;
        } catch (const std::bad_alloc&) {
          type = PyExc_MemoryError;
        } catch (...) {
          type = PyExc_RuntimeError;
        }
      }
      break;
    }
    case StatusCode::kOk: type = PyExc_SystemError; break;  // callers check ok() first
  }
  PyErr_SetString(type, status.message().c_str());
  throw nb::python_error();
}

}  // namespace tegu::python
