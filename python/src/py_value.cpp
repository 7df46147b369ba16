#include "py_value.hpp"

#include <cstdint>
#include <optional>
#include <string_view>

#include "tegu/bag/strings.hpp"
#include "tegu/local/thread_lease.hpp"

namespace tegu::python {

namespace {

bool InterpreterGone() {
#if PY_VERSION_HEX >= 0x030D0000
  return Py_IsFinalizing() || !Py_IsInitialized();
#else
  return _Py_IsFinalizing() || !Py_IsInitialized();
#endif
}

// Drops a reference from any thread.
void DecRefAnyThread(PyObject* object) {
  if (object == nullptr || InterpreterGone()) return;
  if (PyGILState_Check()) {
    Py_DECREF(object);
    return;
  }
  // The thread keeps its Python thread state between calls (creating one per call costs a
  // stack mmap/munmap pair in CPython): I/O threads free many values.
  const bool release = AcquireGilForTask(/*keep_for_batch=*/false);
  Py_DECREF(object);
  if (release) ReleaseGil();
}

thread_local PyThreadState* t_thread_state = nullptr;

}  // namespace

PyValueHolder::~PyValueHolder() { DecRefAnyThread(object_); }

PythonExceptionDetail::~PythonExceptionDetail() { DecRefAnyThread(exception_); }

Value WrapPy(PyObject* object) {
  Py_INCREF(object);
  return StealPy(object);
}

Value StealPy(PyObject* object) { return Value(std::make_shared<PyValueHolder>(object)); }

namespace {

PyObject* DecodeUtf8(std::string_view s) {
  return PyUnicode_DecodeUTF8(s.data(), static_cast<Py_ssize_t>(s.size()), "surrogateescape");
}

// Strings [begin, end) of `strings` as a new Python list of str.
PyObject* StringListToPython(const bag::StringList& strings, size_t begin, size_t end) {
  PyObject* list = PyList_New(static_cast<Py_ssize_t>(end - begin));
  if (list == nullptr) return nullptr;
  for (size_t i = begin; i < end; ++i) {
    PyObject* item = DecodeUtf8(strings[i]);
    if (item == nullptr) {
      Py_DECREF(list);
      return nullptr;
    }
    PyList_SET_ITEM(list, static_cast<Py_ssize_t>(i - begin), item);
  }
  return list;
}

// The message of the Python error currently set (cleared).
std::string TakeErrorMessage() {
  PyObject *type = nullptr, *value = nullptr, *tb = nullptr;
  PyErr_Fetch(&type, &value, &tb);
  std::string text = "unknown error";
  if (value != nullptr) {
    if (PyObject* s = PyObject_Str(value)) {
      if (const char* c = PyUnicode_AsUTF8(s)) text = c;
      Py_DECREF(s);
    }
  }
  PyErr_Clear();
  Py_XDECREF(type);
  Py_XDECREF(value);
  Py_XDECREF(tb);
  return text;
}

// A Python iterable of str as a StringList; nullopt with a TypeError naming the first item
// that is not a str (or cannot be UTF-8: a lone surrogate).
std::optional<bag::StringList> StringListFromPython(PyObject* object) {
  PyObject* seq = PySequence_Fast(object, "");
  if (seq == nullptr) {
    PyErr_Clear();
    PyErr_Format(PyExc_TypeError, "expected a list of str, got %s", Py_TYPE(object)->tp_name);
    return std::nullopt;
  }
  const Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
  bag::StringListBuilder builder;
  builder.Reserve(static_cast<size_t>(n), static_cast<size_t>(n) * 16);
  for (Py_ssize_t i = 0; i < n; ++i) {
    PyObject* item = PySequence_Fast_GET_ITEM(seq, i);
    Py_ssize_t size = 0;
    const bool is_str = PyUnicode_Check(item);
    const char* data = is_str ? PyUnicode_AsUTF8AndSize(item, &size) : nullptr;
    if (data == nullptr) {
      PyErr_Clear();
      if (is_str) {
        PyErr_Format(PyExc_TypeError, "a text operation needs UTF-8 text; element %zd is a str "
                     "with a lone surrogate", i);
      } else {
        PyErr_Format(PyExc_TypeError, "a text operation needs str elements; element %zd is %s",
                     i, Py_TYPE(item)->tp_name);
      }
      Py_DECREF(seq);
      return std::nullopt;
    }
    builder.Append(std::string_view(data, static_cast<size_t>(size)));
  }
  Py_DECREF(seq);
  return builder.Finish();
}

}  // namespace

PyObject* ToPython(const Value& value) {
  if (PyObject* obj = PyObjectOf(value)) {
    Py_INCREF(obj);
    return obj;
  }
  if (!value.has_value()) Py_RETURN_NONE;
  if (auto* p = value.TryGet<int64_t>()) return PyLong_FromLongLong(*p);
  if (auto* p = value.TryGet<double>()) return PyFloat_FromDouble(*p);
  if (auto* p = value.TryGet<bool>()) return PyBool_FromLong(*p);
  if (auto* p = value.TryGet<int>()) return PyLong_FromLong(*p);
  if (auto* p = value.TryGet<float>()) return PyFloat_FromDouble(*p);
  if (auto* p = value.TryGet<std::string>()) {
    return PyUnicode_DecodeUTF8(p->data(), static_cast<Py_ssize_t>(p->size()), "surrogateescape");
  }
  if (auto* p = value.TryGet<ValueList>()) {
    PyObject* list = PyList_New(static_cast<Py_ssize_t>(p->size()));
    if (list == nullptr) return nullptr;
    for (size_t i = 0; i < p->size(); ++i) {
      PyObject* item = ToPython((*p)[i]);
      if (item == nullptr) {
        Py_DECREF(list);
        return nullptr;
      }
      PyList_SET_ITEM(list, static_cast<Py_ssize_t>(i), item);
    }
    return list;
  }
  if (auto* p = value.TryGet<bag::StringList>()) return StringListToPython(*p, 0, p->size());
  if (auto* p = value.TryGet<bag::StringLists>()) {
    const std::vector<int64_t>& bounds = p->list_offsets();
    PyObject* list = PyList_New(static_cast<Py_ssize_t>(p->size()));
    if (list == nullptr) return nullptr;
    for (size_t i = 0; i < p->size(); ++i) {
      PyObject* item = StringListToPython(p->strings(), static_cast<size_t>(bounds[i]),
                                          static_cast<size_t>(bounds[i + 1]));
      if (item == nullptr) {
        Py_DECREF(list);
        return nullptr;
      }
      PyList_SET_ITEM(list, static_cast<Py_ssize_t>(i), item);
    }
    return list;
  }
  if (auto* p = value.TryGet<bag::StringCounts>()) {
    PyObject* list = PyList_New(static_cast<Py_ssize_t>(p->size()));
    if (list == nullptr) return nullptr;
    for (size_t i = 0; i < p->size(); ++i) {
      std::string_view s = p->keys()[i];
      PyObject* pair = Py_BuildValue("(NL)", DecodeUtf8(s), static_cast<long long>(p->counts()[i]));
      if (pair == nullptr) {
        Py_DECREF(list);
        return nullptr;
      }
      PyList_SET_ITEM(list, static_cast<Py_ssize_t>(i), pair);
    }
    return list;
  }
  PyErr_Format(PyExc_TypeError, "a native value of type %s has no Python form",
               value.TypeName().c_str());
  return nullptr;
}

Value FromPythonForNative(PyObject* object) {
  if (PyBool_Check(object)) return Value::From(static_cast<bool>(object == Py_True));
  if (PyLong_CheckExact(object)) {
    int overflow = 0;
    long long v = PyLong_AsLongLongAndOverflow(object, &overflow);
    if (overflow == 0 && !(v == -1 && PyErr_Occurred())) return Value::From(int64_t{v});
    PyErr_Clear();
    return WrapPy(object);
  }
  if (PyFloat_CheckExact(object)) return Value::From(PyFloat_AS_DOUBLE(object));
  if (PyUnicode_CheckExact(object)) {
    Py_ssize_t size = 0;
    const char* data = PyUnicode_AsUTF8AndSize(object, &size);
    if (data != nullptr) return Value::From(std::string(data, static_cast<size_t>(size)));
    PyErr_Clear();
    return WrapPy(object);
  }
  if (PyList_CheckExact(object) || PyTuple_CheckExact(object)) {
    PyObject* seq = PySequence_Fast(object, "");
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    ValueList items;
    items.reserve(static_cast<size_t>(n));
    for (Py_ssize_t i = 0; i < n; ++i) {
      items.push_back(FromPythonForNative(PySequence_Fast_GET_ITEM(seq, i)));
    }
    Py_DECREF(seq);
    return Value::From(std::move(items));
  }
  return WrapPy(object);
}

Status StatusFromPythonError() {
  PyObject *type = nullptr, *value = nullptr, *traceback = nullptr;
  PyErr_Fetch(&type, &value, &traceback);
  PyErr_NormalizeException(&type, &value, &traceback);
  if (value == nullptr) {
    Py_XDECREF(type);
    Py_XDECREF(traceback);
    return Status(StatusCode::kTaskError, "a Python task failed without an exception");
  }
  if (traceback != nullptr) PyException_SetTraceback(value, traceback);
  std::string text = Py_TYPE(value)->tp_name;
  if (PyObject* s = PyObject_Str(value)) {
    if (const char* c = PyUnicode_AsUTF8(s)) {
      text += ": ";
      text += c;
    }
    Py_DECREF(s);
  }
  PyErr_Clear();
  Py_XDECREF(type);
  Py_XDECREF(traceback);
  auto detail = std::make_shared<PythonExceptionDetail>(value);
  detail->text_ = text;
  return Status(StatusCode::kTaskError, text, std::move(detail));
}

bool AcquireGilForTask(bool keep_for_batch) {
  if (PyGILState_Check()) return false;
  if (t_thread_state == nullptr) {
    // First Python task on this thread: create its thread state once and keep it, so Python's
    // thread-locals survive between batches and later acquisitions are a plain restore.
    PyGILState_Ensure();
    t_thread_state = PyThreadState_Get();
  } else {
    PyEval_RestoreThread(t_thread_state);
  }
  if (keep_for_batch && internal::HoldThreadLease(&ReleaseGil)) return false;
  return true;
}

void ReleaseGil() { PyEval_SaveThread(); }

namespace {

Result<Value> CoercePython(const Value& value, const std::type_info& target) {
  // Native code runs next: take the GIL for the conversion only.
  bool release = AcquireGilForTask(/*keep_for_batch=*/false);
  PyObject* obj = PyObjectOf(value);
  if (obj != nullptr && target == typeid(bag::StringList)) {
    std::optional<bag::StringList> strings = StringListFromPython(obj);
    Result<Value> converted = Status::TypeError("");
    if (strings) {
      converted = Value::From(std::move(*strings));
    } else {
      converted = Status::TypeError(TakeErrorMessage());
    }
    if (release) ReleaseGil();
    return converted;
  }
  Result<Value> out = Status::TypeError(
      "expected " + internal::FriendlyTypeName(target) + ", got " + value.TypeName() +
      (obj != nullptr && PyLong_Check(obj) ? " too large for a 64-bit integer" : ""));
  if (obj != nullptr) {
    Value native = FromPythonForNative(obj);
    if (!native.is_foreign()) out = native;
    if (PyErr_Occurred()) PyErr_Clear();
  }
  if (release) ReleaseGil();
  return out;
}

}  // namespace

void InstallForeignCoercer() { internal::SetForeignCoercer(&CoercePython); }

}  // namespace tegu::python
