// Building engine graphs from Python Delayed objects, and the compute / visualize entry points.
//
// A Python Delayed (python/tegu/delayed.py) carries _key, _func (a callable, None for identity,
// or a NativeFunctionHandle), _args (tuple), _kwargs (dict or None) and _deps (tuple of the
// Delayed values its arguments contain). The graph is built by an explicit stack walk, never
// recursion, so chains of any length work.
#include <nanobind/nanobind.h>
#include <nanobind/stl/shared_ptr.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>

#include <chrono>
#include <unordered_map>

#include "errors.hpp"
#include "py_task.hpp"
#include "py_value.hpp"
#include "tegu/dot.hpp"
#include "tegu/local.hpp"
#include "tegu/native.hpp"
#include "tegu/optimize.hpp"
#include "tegu/task_error.hpp"

namespace nb = nanobind;

namespace tegu::python {

Key KeyFromPython(PyObject* obj) {
  if (PyUnicode_Check(obj)) {
    Py_ssize_t n = 0;
    const char* s = PyUnicode_AsUTF8AndSize(obj, &n);
    if (s == nullptr) throw nb::python_error();
    return Key(std::string(s, static_cast<size_t>(n)));
  }
  if (PyTuple_Check(obj)) {
    std::vector<KeyPart> parts;
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(obj); ++i) {
      PyObject* item = PyTuple_GET_ITEM(obj, i);
      if (PyLong_Check(item)) {
        parts.emplace_back(static_cast<int64_t>(PyLong_AsLongLong(item)));
        if (PyErr_Occurred()) throw nb::python_error();
      } else if (PyUnicode_Check(item)) {
        parts.emplace_back(std::string(PyUnicode_AsUTF8(item)));
      } else {
        PyErr_Format(PyExc_TypeError,
                     "a key tuple may hold only str and int items, got %s in %R",
                     Py_TYPE(item)->tp_name, obj);
        throw nb::python_error();
      }
    }
    return Key::Tuple(std::move(parts));
  }
  PyErr_Format(PyExc_TypeError, "a key must be a str or a tuple, got %s: %R",
               Py_TYPE(obj)->tp_name, obj);
  throw nb::python_error();
}

PyObject* KeyToPython(const Key& key) {
  if (!key.is_tuple()) return PyUnicode_FromString(key.name().c_str());
  PyObject* t = PyTuple_New(static_cast<Py_ssize_t>(key.parts().size()));
  for (size_t i = 0; i < key.parts().size(); ++i) {
    const KeyPart& p = key.parts()[i];
    PyObject* item = std::holds_alternative<int64_t>(p)
                         ? PyLong_FromLongLong(std::get<int64_t>(p))
                         : PyUnicode_FromString(std::get<std::string>(p).c_str());
    PyTuple_SET_ITEM(t, static_cast<Py_ssize_t>(i), item);
  }
  return t;
}

namespace {

PyTypeObject* g_delayed_type = nullptr;

PyObject* InternedName(const char* name) {
  PyObject* s = PyUnicode_InternFromString(name);
  if (s == nullptr) throw nb::python_error();
  return s;  // immortal for our purposes: kept for the life of the module
}

struct AttrNames {
  PyObject* key = InternedName("_key");
  PyObject* func = InternedName("_func");
  PyObject* args = InternedName("_args");
  PyObject* kwargs = InternedName("_kwargs");
  PyObject* deps = InternedName("_deps");
};

const AttrNames& Names() {
  static const AttrNames* names = new AttrNames();
  return *names;
}

nb::object GetAttr(PyObject* obj, PyObject* name) {
  PyObject* v = PyObject_GetAttr(obj, name);
  if (v == nullptr) throw nb::python_error();
  return nb::steal(v);
}

bool IsDelayed(PyObject* obj) { return g_delayed_type && PyObject_TypeCheck(obj, g_delayed_type); }

class GraphBuilder {
 public:
  explicit GraphBuilder(Graph* graph) : graph_(graph) {}

  KeyId Visit(PyObject* delayed) {
    nb::object key = GetAttr(delayed, Names().key);
    KeyId id = graph_->Intern(KeyFromPython(key.ptr()));
    if (id >= queued_.size()) queued_.resize(id + 1, 0);
    if (!queued_[id]) {
      queued_[id] = 1;
      Py_INCREF(delayed);
      stack_.emplace_back(id, nb::steal(delayed));
    }
    return id;
  }

  void Run() {
    while (!stack_.empty()) {
      auto [id, obj] = std::move(stack_.back());
      stack_.pop_back();
      BuildTask(id, obj.ptr());
    }
  }

 private:
  void BuildTask(KeyId id, PyObject* obj) {
    nb::object func = GetAttr(obj, Names().func);
    nb::object args = GetAttr(obj, Names().args);
    nb::object kwargs = GetAttr(obj, Names().kwargs);
    nb::object deps = GetAttr(obj, Names().deps);
    if (!PyTuple_Check(args.ptr())) {
      PyErr_Format(PyExc_TypeError, "Delayed._args must be a tuple, got %s",
                   Py_TYPE(args.ptr())->tp_name);
      throw nb::python_error();
    }
    const bool has_deps = PyObject_IsTrue(deps.ptr()) == 1;
    const bool has_kwargs = kwargs.ptr() != Py_None && PyDict_Size(kwargs.ptr()) > 0;

    NativeFunctionHandle* native = nullptr;
    if (nb::isinstance<NativeFunctionHandle>(func)) native = nb::inst_ptr<NativeFunctionHandle>(func);

    if (native != nullptr) {
      if (has_kwargs) {
        PyErr_SetString(PyExc_TypeError, "native functions take no keyword arguments");
        throw nb::python_error();
      }
      std::vector<Arg> out;
      for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(args.ptr()); ++i) {
        out.push_back(ToArg(PyTuple_GET_ITEM(args.ptr(), i), has_deps, /*native=*/true));
      }
      graph_->SetTask(id, Task{TaskSpec(native->fn, std::move(out)), {}});
      return;
    }
    if (func.ptr() == Py_None && !has_deps) {
      // A literal: no call at all, and cheap enough to inline into its dependents.
      if (PyTuple_GET_SIZE(args.ptr()) != 1) {
        PyErr_SetString(PyExc_ValueError, "an identity Delayed holds exactly one argument");
        throw nb::python_error();
      }
      graph_->SetTask(id, Task{TaskSpec::Literal(WrapPy(PyTuple_GET_ITEM(args.ptr(), 0))), {}});
      return;
    }
    if (!has_deps) {
      std::vector<Arg> packed{Arg::Literal(WrapPy(args.ptr()))};
      if (has_kwargs) packed.push_back(Arg::Literal(WrapPy(kwargs.ptr())));
      graph_->SetTask(id, Task{TaskSpec(Callable(func.ptr(), true), std::move(packed)), {}});
      return;
    }
    std::vector<Arg> out;
    out.reserve(static_cast<size_t>(PyTuple_GET_SIZE(args.ptr())));
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(args.ptr()); ++i) {
      out.push_back(ToArg(PyTuple_GET_ITEM(args.ptr(), i), true, false));
    }
    std::vector<std::pair<std::string, Arg>> kw;
    if (has_kwargs) {
      PyObject *k, *v;
      Py_ssize_t pos = 0;
      while (PyDict_Next(kwargs.ptr(), &pos, &k, &v)) {
        if (!PyUnicode_Check(k)) {
          PyErr_SetString(PyExc_TypeError, "keyword argument names must be str");
          throw nb::python_error();
        }
        kw.emplace_back(PyUnicode_AsUTF8(k), ToArg(v, true, false));
      }
    }
    graph_->SetTask(id, Task{TaskSpec(Callable(func.ptr(), false), std::move(out), std::move(kw)), {}});
  }

  // Literal leaves of native tasks become native values so that native code never needs the GIL.
  Arg Literal(PyObject* obj, bool native) {
    return Arg::Literal(native ? FromPythonForNative(obj) : WrapPy(obj));
  }

  Arg ToArg(PyObject* obj, bool scan, bool native) {
    if (!scan) return Literal(obj, native);
    if (IsDelayed(obj)) return Arg::Ref(Visit(obj));
    if (PyList_CheckExact(obj) || PyTuple_CheckExact(obj)) {
      if (!ContainsDelayed(obj)) return Literal(obj, native);
      bool is_list = PyList_CheckExact(obj);
      Py_ssize_t n = PySequence_Fast_GET_SIZE(obj);
      std::vector<Arg> items;
      items.reserve(static_cast<size_t>(n));
      for (Py_ssize_t i = 0; i < n; ++i) {
        items.push_back(ToArg(PySequence_Fast_GET_ITEM(obj, i), true, native));
      }
      return is_list ? Arg::List(std::move(items)) : Arg::Tuple(std::move(items));
    }
    if (PyDict_CheckExact(obj)) {
      if (!ContainsDelayed(obj)) return Literal(obj, native);
      std::vector<Value> keys;
      std::vector<Arg> values;
      PyObject *k, *v;
      Py_ssize_t pos = 0;
      while (PyDict_Next(obj, &pos, &k, &v)) {
        keys.push_back(WrapPy(k));
        values.push_back(ToArg(v, true, native));
      }
      return Arg::Dict(std::move(keys), std::move(values));
    }
    return Literal(obj, native);
  }

  bool ContainsDelayed(PyObject* obj) {
    if (IsDelayed(obj)) return true;
    if (PyList_CheckExact(obj) || PyTuple_CheckExact(obj)) {
      for (Py_ssize_t i = 0; i < PySequence_Fast_GET_SIZE(obj); ++i) {
        if (ContainsDelayed(PySequence_Fast_GET_ITEM(obj, i))) return true;
      }
    } else if (PyDict_CheckExact(obj)) {
      PyObject *k, *v;
      Py_ssize_t pos = 0;
      while (PyDict_Next(obj, &pos, &k, &v)) {
        if (ContainsDelayed(v)) return true;
      }
    }
    return false;
  }

  std::shared_ptr<const TaskFunction> Callable(PyObject* func, bool packed) {
    auto& cache = packed ? packed_cache_ : spec_cache_;
    auto it = cache.find(func);
    if (it != cache.end()) return it->second;
    auto fn = std::make_shared<PythonCallable>(func, packed);
    cache.emplace(func, fn);
    return fn;
  }

  Graph* graph_;
  std::vector<uint8_t> queued_;
  std::vector<std::pair<KeyId, nb::object>> stack_;
  std::unordered_map<PyObject*, std::shared_ptr<const TaskFunction>> packed_cache_, spec_cache_;
};

std::vector<KeyId> BuildFromRoots(const nb::list& roots, Graph* graph) {
  GraphBuilder builder(graph);
  std::vector<KeyId> outputs;
  outputs.reserve(nb::len(roots));
  for (nb::handle root : roots) {
    if (!IsDelayed(root.ptr())) {
      PyErr_Format(PyExc_TypeError, "expected a Delayed value, got %s", Py_TYPE(root.ptr())->tp_name);
      throw nb::python_error();
    }
    outputs.push_back(builder.Visit(root.ptr()));
  }
  builder.Run();
  return outputs;
}

nb::list ComputeRoots(nb::list roots, const std::string& scheduler, int num_workers, bool optimize,
                      std::shared_ptr<Progress> progress) {
  Result<SchedulerKind> kind = ParseSchedulerName(scheduler);
  CheckStatus(kind.status());
  Graph graph;  // destroyed with the GIL held: it owns Python literals
  std::vector<KeyId> outputs = BuildFromRoots(roots, &graph);
  ComputeOptions options;
  options.scheduler = kind.ValueUnsafe();
  options.num_workers = num_workers;
  options.optimize = optimize;
  options.progress = std::move(progress);
  Result<std::vector<Value>> result = Status::Cancelled("not run");
  {
    nb::gil_scoped_release release;
    result = ComputeInPlace(&graph, outputs, options);
  }
  CheckStatus(result.status());
  nb::list out;
  for (const Value& v : result.ValueUnsafe()) {
    PyObject* obj = ToPython(v);
    if (obj == nullptr) throw nb::python_error();
    out.append(nb::steal(obj));
  }
  return out;
}

// The graph of `roots` as DOT text, or rendered to `filename`.
nb::object Visualize(nb::list roots, nb::object filename, bool optimize, const std::string& rankdir,
                     bool verbose) {
  Graph graph;
  std::vector<KeyId> outputs = BuildFromRoots(roots, &graph);
  if (optimize) CheckStatus(Optimize(&graph, outputs, /*optimize=*/true).status());
  DotOptions options;
  options.rankdir = rankdir;
  options.verbose = verbose;
  if (filename.is_none()) return nb::str(ToDot(graph, options).c_str());
  std::string path = nb::cast<std::string>(filename);
  Status st;
  {
    nb::gil_scoped_release release;
    st = RenderGraph(graph, path, options);
  }
  CheckStatus(st);
  return nb::none();
}

// A graph of `n` trivial native leaves and a pairwise tree reduction, built and run in C++.
nb::dict NativeTaskBenchmark(int64_t n, const std::string& scheduler, int num_workers) {
  Result<SchedulerKind> kind = ParseSchedulerName(scheduler);
  CheckStatus(kind.status());
  auto inc = FindFunction("tegu.inc").ValueOrThrow();
  auto add = FindFunction("tegu.add").ValueOrThrow();
  double seconds = 0, build_seconds = 0;
  size_t tasks = 0;
  int64_t answer = 0;
  {
    nb::gil_scoped_release release;
    auto start = std::chrono::steady_clock::now();
    Graph graph;
    std::vector<KeyId> layer;
    layer.reserve(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) {
      layer.push_back(graph.AddTask(Key::Tuple({std::string("inc"), i}),
                                    TaskSpec(inc, {Arg::Literal(Value::From(i))})));
    }
    int64_t level = 0;
    while (layer.size() > 1) {
      std::vector<KeyId> next;
      for (size_t i = 0; i + 1 < layer.size(); i += 2) {
        next.push_back(graph.AddTask(
            Key::Tuple({std::string("add"), level, static_cast<int64_t>(i / 2)}),
            TaskSpec(add, {Arg::Ref(layer[i]), Arg::Ref(layer[i + 1])})));
      }
      if (layer.size() % 2) next.push_back(layer.back());
      layer = std::move(next);
      ++level;
    }
    tasks = graph.size();
    build_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    ComputeOptions options;
    options.scheduler = kind.ValueUnsafe();
    options.num_workers = num_workers;
    auto result = Compute(std::move(graph), layer, options);
    seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (result.ok()) answer = *result.ValueUnsafe()[0].TryGet<int64_t>();
  }
  nb::dict out;
  out["seconds"] = seconds;
  out["build_seconds"] = build_seconds;
  out["execute_seconds"] = seconds - build_seconds;
  out["tasks"] = tasks;
  out["result"] = answer;
  return out;
}

}  // namespace

void BindGraph(nb::module_& m) {
  InstallForeignCoercer();

  nb::class_<Progress>(m, "Progress", "Live counters of one computation (for progress bars).")
      .def(nb::new_([] { return std::make_shared<Progress>(); }))
      .def_prop_ro("total", [](const Progress& p) { return p.total.load(); })
      .def_prop_ro("done", [](const Progress& p) { return p.done.load(); })
      .def_prop_ro("finished", [](const Progress& p) { return p.finished.load(); });

  nb::class_<NativeFunctionHandle>(m, "NativeFunction",
                                   "A registered C++ function, usable with tegu.delayed.")
      .def_prop_ro("name", [](const NativeFunctionHandle& h) { return h.fn->name(); })
      // Pickled by name: a worker process finds the function in its own registry.
      .def("__reduce__", [](const NativeFunctionHandle& h) {
        nb::object native = nb::module_::import_("tegu").attr("_native_by_name");
        return nb::make_tuple(native, nb::make_tuple(h.fn->name()));
      })
      .def("__repr__", [](const NativeFunctionHandle& h) {
        return "<tegu native function '" + h.fn->name() + "'>";
      })
      .def("__call__", [](const NativeFunctionHandle& h, nb::args args) {
        // Direct call: run the function now on this thread.
        std::vector<Arg> converted;
        for (nb::handle a : args) converted.push_back(Arg::Literal(FromPythonForNative(a.ptr())));
        TaskSpec spec(h.fn, std::move(converted));
        struct NoInputs final : TaskInputs {
          const Value& Get(KeyId) const override {
            static const Value kNone;
            return kNone;
          }
        } inputs;
        Result<Value> r = Status::Cancelled("not run");
        {
          nb::gil_scoped_release release;
          try {
            r = spec.Call(inputs);
          } catch (...) {
            r = StatusFromCurrentException();
          }
        }
        CheckStatus(r.status());
        PyObject* obj = ToPython(r.ValueUnsafe());
        if (obj == nullptr) throw nb::python_error();
        return nb::steal(obj);
      });

  m.def("native", [](const std::string& name) {
    Result<std::shared_ptr<const TaskFunction>> fn = FindFunction(name);
    CheckStatus(fn.status());
    return NativeFunctionHandle{fn.ValueUnsafe()};
  }, "The registered native function `name` (see TEGU_REGISTER).");
  m.def("native_functions", &RegisteredFunctionNames);

  m.def("_set_delayed_type", [](nb::handle type) {
    if (!PyType_Check(type.ptr())) throw nb::type_error("expected a type");
    Py_INCREF(type.ptr());
    g_delayed_type = reinterpret_cast<PyTypeObject*>(type.ptr());
  });
  m.def("compute", &ComputeRoots, nb::arg("roots"), nb::arg("scheduler") = "threads",
        nb::arg("num_workers") = 0, nb::arg("optimize") = true,
        nb::arg("progress").none() = nb::none());
  m.def("visualize", &Visualize, nb::arg("roots"), nb::arg("filename").none(),
        nb::arg("optimize") = false, nb::arg("rankdir") = "BT", nb::arg("verbose") = false);
  m.def("default_thread_count", &DefaultThreadCount);
  m.def("_key_roundtrip", [](nb::handle key) {
    return nb::steal(KeyToPython(KeyFromPython(key.ptr())));
  });
  m.def("_native_task_benchmark", &NativeTaskBenchmark, nb::arg("n"),
        nb::arg("scheduler") = "threads", nb::arg("num_workers") = 0);
}

}  // namespace tegu::python
