#include "py_task.hpp"

#include <vector>

#include "py_value.hpp"

namespace tegu::python {

namespace {

std::string CallableName(PyObject* func) {
  if (func == nullptr || func == Py_None) return "identity";
  // functools.partial and similar wrappers name themselves after what they wrap, as Dask does.
  PyObject* target = func;
  PyObject* inner = PyObject_GetAttrString(func, "func");
  if (inner != nullptr && PyCallable_Check(inner)) target = inner;
  if (inner == nullptr) PyErr_Clear();
  std::string name;
  if (PyObject* n = PyObject_GetAttrString(target, "__name__")) {
    if (const char* c = PyUnicode_Check(n) ? PyUnicode_AsUTF8(n) : nullptr) name = c;
    Py_DECREF(n);
  }
  if (PyErr_Occurred()) PyErr_Clear();
  if (name.empty()) name = Py_TYPE(target)->tp_name;
  Py_XDECREF(inner);
  return name;
}

// Empty-container and None singletons need no inputs; everything else is built recursively.
PyObject* BuildSequence(const Arg& arg, const TaskInputs& inputs, bool as_tuple) {
  const auto& items = arg.items();
  Py_ssize_t n = static_cast<Py_ssize_t>(items.size());
  PyObject* seq = as_tuple ? PyTuple_New(n) : PyList_New(n);
  if (seq == nullptr) return nullptr;
  for (Py_ssize_t i = 0; i < n; ++i) {
    PyObject* item = ArgToPython(items[static_cast<size_t>(i)], inputs);
    if (item == nullptr) {
      Py_DECREF(seq);
      return nullptr;
    }
    if (as_tuple) {
      PyTuple_SET_ITEM(seq, i, item);
    } else {
      PyList_SET_ITEM(seq, i, item);
    }
  }
  return seq;
}

}  // namespace

PyObject* ArgToPython(const Arg& arg, const TaskInputs& inputs) {
  switch (arg.kind()) {
    case Arg::Kind::kLiteral:
      return ToPython(arg.literal());
    case Arg::Kind::kRef:
      return ToPython(inputs.Get(arg.ref()));
    case Arg::Kind::kList:
      return BuildSequence(arg, inputs, false);
    case Arg::Kind::kTuple:
      return BuildSequence(arg, inputs, true);
    case Arg::Kind::kDict: {
      PyObject* dict = PyDict_New();
      if (dict == nullptr) return nullptr;
      for (size_t i = 0; i < arg.items().size(); ++i) {
        PyObject* key = ToPython(arg.dict_keys()[i]);
        PyObject* value = key ? ArgToPython(arg.items()[i], inputs) : nullptr;
        int rc = value ? PyDict_SetItem(dict, key, value) : -1;
        Py_XDECREF(key);
        Py_XDECREF(value);
        if (rc < 0) {
          Py_DECREF(dict);
          return nullptr;
        }
      }
      return dict;
    }
  }
  PyErr_SetString(PyExc_SystemError, "unknown argument kind");
  return nullptr;
}

PythonCallable::PythonCallable(PyObject* func, bool packed)
    : func_(func == Py_None ? nullptr : func), packed_(packed), name_(CallableName(func)) {
  Py_XINCREF(func_);
}

PythonCallable::~PythonCallable() {
  if (func_ != nullptr) StealPy(func_);  // drops the reference safely from any thread
}

Result<Value> PythonCallable::Call(const TaskSpec& spec, const TaskInputs& inputs) const {
  bool release = AcquireGilForTask();
  PyObject* result = nullptr;
  if (packed_) {
    PyObject* args = PyObjectOf(spec.args()[0].literal());
    PyObject* kwargs = spec.args().size() > 1 ? PyObjectOf(spec.args()[1].literal()) : nullptr;
    if (func_ == nullptr) {
      result = PyTuple_GET_ITEM(args, 0);
      Py_INCREF(result);
    } else {
      result = PyObject_Call(func_, args, kwargs);
    }
  } else {
    const size_t nargs = spec.args().size();
    PyObject* small[8];
    std::vector<PyObject*> large;
    PyObject** argv = small + 1;  // one free slot before for PY_VECTORCALL_ARGUMENTS_OFFSET
    if (nargs + 1 > 8) {
      large.resize(nargs + 1);
      argv = large.data() + 1;
    }
    size_t built = 0;
    bool ok = true;
    for (; built < nargs; ++built) {
      argv[built] = ArgToPython(spec.args()[built], inputs);
      if (argv[built] == nullptr) {
        ok = false;
        break;
      }
    }
    PyObject* kwargs = nullptr;
    if (ok && !spec.kwargs().empty()) {
      kwargs = PyDict_New();
      for (const auto& [name, value_arg] : spec.kwargs()) {
        PyObject* value = ArgToPython(value_arg, inputs);
        if (value == nullptr || PyDict_SetItemString(kwargs, name.c_str(), value) < 0) ok = false;
        Py_XDECREF(value);
        if (!ok) break;
      }
    }
    if (ok) {
      if (func_ == nullptr) {
        result = argv[0];
        Py_INCREF(result);
      } else if (kwargs == nullptr) {
        result = PyObject_Vectorcall(func_, argv, nargs | PY_VECTORCALL_ARGUMENTS_OFFSET, nullptr);
      } else {
        PyObject* tuple = PyTuple_New(static_cast<Py_ssize_t>(nargs));
        for (size_t i = 0; i < nargs; ++i) {
          Py_INCREF(argv[i]);
          PyTuple_SET_ITEM(tuple, static_cast<Py_ssize_t>(i), argv[i]);
        }
        result = PyObject_Call(func_, tuple, kwargs);
        Py_DECREF(tuple);
      }
    }
    Py_XDECREF(kwargs);
    for (size_t i = 0; i < built; ++i) Py_DECREF(argv[i]);
  }
  Result<Value> out = result != nullptr ? Result<Value>(StealPy(result))
                                        : Result<Value>(StatusFromPythonError());
  if (release) ReleaseGil();
  return out;
}

}  // namespace tegu::python
