// Bindings of the distributed runtime: the scheduler, worker and client services, and the hooks
// through which the Python package serializes values (pickle protocol 5) and runs Python tasks
// on a worker. The services run on their own threads; every call that waits on them releases
// the GIL, and objects holding a service drop it with the GIL released (a service's I/O thread
// may need the GIL to pickle a value while it shuts down).
#include <nanobind/nanobind.h>
#include <nanobind/stl/optional.h>
#include <nanobind/stl/pair.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/tuple.h>
#include <nanobind/stl/unique_ptr.h>
#include <nanobind/stl/vector.h>

#include <chrono>
#include <type_traits>

#include "errors.hpp"
#include "py_task.hpp"
#include "py_value.hpp"
#include "tegu/distributed/cli.hpp"
#include "tegu/distributed/client_core.hpp"
#include "tegu/distributed/payload.hpp"
#include "tegu/distributed/scheduler_service.hpp"
#include "tegu/distributed/worker_service.hpp"
#include "tegu/protocol/handshake.hpp"

namespace nb = nanobind;

namespace tegu::python {

namespace {

using distributed::ClientCore;
using distributed::KeyEvent;
using distributed::KeyStatus;
using distributed::Payload;
using distributed::TaskInput;
using distributed::TaskOutcome;
using protocol::Buffer;

// The Python package's hooks (strong references kept for the life of the process).
// Takes the GIL on a service thread for one call. The thread's Python thread state is created
// once and kept (AcquireGilForTask), not made and destroyed per call as PyGILState_Ensure does
// on a thread that has none: that costs CPython a stack mmap/munmap pair each time.
class ServiceThreadGil {
 public:
  ServiceThreadGil() : release_(AcquireGilForTask(/*keep_for_batch=*/false)) {}
  ~ServiceThreadGil() {
    if (release_) ReleaseGil();
  }
  ServiceThreadGil(const ServiceThreadGil&) = delete;
  ServiceThreadGil& operator=(const ServiceThreadGil&) = delete;

 private:
  bool release_;
};

struct Hooks {
  PyObject* serialize = nullptr;
  PyObject* deserialize = nullptr;
  PyObject* size_of = nullptr;
  PyObject* run_task = nullptr;
};
Hooks g_hooks;

// The text of the Python error currently set (cleared), for Status messages.
std::string TakePythonErrorText() {
  PyObject *type, *value, *tb;
  PyErr_Fetch(&type, &value, &tb);
  PyErr_NormalizeException(&type, &value, &tb);
  std::string text = "unknown Python error";
  if (value != nullptr) {
    PyObject* s = PyObject_Str(value);
    const char* name = type ? reinterpret_cast<PyTypeObject*>(type)->tp_name : "Exception";
    text = std::string(name) + ": " + (s ? PyUnicode_AsUTF8(s) : "");
    Py_XDECREF(s);
    PyErr_Clear();
  }
  Py_XDECREF(type);
  Py_XDECREF(value);
  Py_XDECREF(tb);
  return text;
}

// A copy of a bytes-like object's contents as a frame.
Buffer FrameFromPython(PyObject* obj) {
  Py_buffer view;
  if (PyObject_GetBuffer(obj, &view, PyBUF_SIMPLE) != 0) throw nb::python_error();
  Buffer b = Buffer::Copy(std::string_view(static_cast<const char*>(view.buf),
                                           static_cast<size_t>(view.len)));
  PyBuffer_Release(&view);
  return b;
}

std::vector<Buffer> FramesFromPython(nb::handle frames) {
  std::vector<Buffer> out;
  for (nb::handle f : frames) out.push_back(FrameFromPython(f.ptr()));
  return out;
}

nb::list FramesToPython(const std::vector<Buffer>& frames) {
  nb::list out;
  for (const Buffer& b : frames) {
    out.append(nb::steal(PyBytes_FromStringAndSize(reinterpret_cast<const char*>(b.data()),
                                                   static_cast<Py_ssize_t>(b.size()))));
  }
  return out;
}

nb::object KeyObject(const Key& key) { return nb::steal(KeyToPython(key)); }
Key KeyArg(nb::handle h) { return KeyFromPython(h.ptr()); }
std::vector<Key> KeysArg(nb::handle seq) {
  std::vector<Key> out;
  for (nb::handle h : seq) out.push_back(KeyArg(h));
  return out;
}
nb::list KeysObject(const std::vector<Key>& keys) {
  nb::list out;
  for (const Key& k : keys) out.append(KeyObject(k));
  return out;
}

// A payload's value as a Python object (GIL held).
nb::object CallDeserialize(const Payload& payload) {
  if (distributed::IsNativeKind(payload.kind)) {
    Result<Value> v = distributed::Deserialize(payload);
    CheckStatus(v.status());
    PyObject* obj = ToPython(v.ValueUnsafe());
    if (obj == nullptr) throw nb::python_error();
    return nb::steal(obj);
  }
  if (g_hooks.deserialize == nullptr) {
    throw std::runtime_error("tegu.distributed is not imported: no deserializer installed");
  }
  nb::list frames = FramesToPython(payload.frames);
  nb::str kind(payload.kind.c_str());
  PyObject* r = PyObject_CallFunctionObjArgs(g_hooks.deserialize, kind.ptr(), frames.ptr(), nullptr);
  if (r == nullptr) throw nb::python_error();
  return nb::steal(r);
}

// A task input as a Python object: payloads are deserialized, native values converted.
nb::object InputToPython(const Value& value) {
  if (const Payload* p = distributed::AsPayload(value)) return CallDeserialize(*p);
  if (PyObject* obj = PyObjectOf(value)) return nb::borrow(obj);
  PyObject* obj = ToPython(value);
  if (obj == nullptr) throw nb::python_error();
  return nb::steal(obj);
}

Payload PayloadFromPython(nb::handle result) {
  // (kind, frames)
  nb::tuple t = nb::cast<nb::tuple>(result);
  if (t.size() != 2) throw nb::value_error("a serializer returns (kind, frames)");
  return Payload{nb::cast<std::string>(t[0]), FramesFromPython(t[1])};
}

// ---- ForeignSerializer hooks (any thread; they take the GIL) --------------------------------

Result<Payload> SerializePython(const Value& value) {
  ServiceThreadGil gil;
  if (g_hooks.serialize == nullptr) return Status::TypeError("no Python serializer installed");
  PyObject* r = PyObject_CallOneArg(g_hooks.serialize, PyObjectOf(value));
  if (r == nullptr) {
    return Status::TypeError("cannot serialize a " + value.TypeName() + ": " + TakePythonErrorText());
  }
  nb::object result = nb::steal(r);
  try {
    return PayloadFromPython(result);
  } catch (nb::python_error& e) {
    return Status::TypeError(std::string("the serializer returned a bad result: ") + e.what());
  } catch (const std::exception& e) {
    return Status::TypeError(std::string("the serializer returned a bad result: ") + e.what());
  }
}

Result<Value> DeserializePython(const Payload& payload) {
  ServiceThreadGil gil;
  try {
    nb::object obj = CallDeserialize(payload);
    return WrapPy(obj.ptr());
  } catch (nb::python_error& e) {
    return Status::TypeError("cannot deserialize a '" + payload.kind + "' payload: " + e.what());
  } catch (const std::exception& e) {
    return Status::TypeError("cannot deserialize a '" + payload.kind + "' payload: " + e.what());
  }
}

uint64_t SizeOfPython(const Value& value) {
  ServiceThreadGil gil;
  if (g_hooks.size_of == nullptr) return 64;
  PyObject* r = PyObject_CallOneArg(g_hooks.size_of, PyObjectOf(value));
  if (r == nullptr) {
    PyErr_Clear();
    return 64;
  }
  uint64_t n = PyLong_AsUnsignedLongLong(r);
  Py_DECREF(r);
  if (PyErr_Occurred()) {
    PyErr_Clear();
    return 64;
  }
  return n;
}

// Runs "python-task" run specs (and client.run functions) through the package's run_task.
class PythonTaskRunner final : public distributed::TaskRunner {
 public:
  TaskOutcome Run(const Key& key, const Payload& spec, const std::vector<TaskInput>& inputs) override {
    ServiceThreadGil gil;
    TaskOutcome out;
    try {
      if (g_hooks.run_task == nullptr) throw std::runtime_error("no Python task runner installed");
      nb::list py_inputs;
      for (const TaskInput& in : inputs) {
        py_inputs.append(nb::make_tuple(KeyObject(in.key), InputToPython(in.value)));
      }
      nb::object k = KeyObject(key);
      nb::list frames = FramesToPython(spec.frames);
      PyObject* r = PyObject_CallFunctionObjArgs(g_hooks.run_task, k.ptr(), frames.ptr(),
                                                 py_inputs.ptr(), nullptr);
      if (r == nullptr) throw nb::python_error();
      nb::tuple result = nb::cast<nb::tuple>(nb::steal(r));
      std::string tag = nb::cast<std::string>(result[0]);
      if (tag == "ok") {
        out.value = WrapPy(result[1].ptr());
        out.nbytes = SizeOfPython(out.value);  // the GIL is held: no second acquisition
      } else if (tag == "error") {
        out.kind = TaskOutcome::Kind::kError;
        out.error = Payload{"error", FramesFromPython(result[1])};
        if (out.error.frames.empty()) out.error = distributed::ErrorPayload("task failed");
      } else {
        out.kind = TaskOutcome::Kind::kReschedule;
      }
    } catch (nb::python_error& e) {
      out.kind = TaskOutcome::Kind::kError;
      out.error = distributed::ErrorPayload(std::string("while running task ") + key.ToString() +
                                            ": " + e.what());
    } catch (const std::exception& e) {
      out.kind = TaskOutcome::Kind::kError;
      out.error = distributed::ErrorPayload(std::string("while running task ") + key.ToString() +
                                            ": " + e.what());
    }
    return out;
  }
};

// ---- service holders --------------------------------------------------------------------------

// Drops a service with the GIL released: its threads may need the GIL to finish.
template <class Pointer>
void ReleaseWithoutGil(Pointer& service) {
  if (!service) return;
  if (PyGILState_Check()) {
    nb::gil_scoped_release release;
    service.reset();
  } else {
    service.reset();
  }
}

struct PyScheduler {
  std::unique_ptr<distributed::SchedulerService> service;
  ~PyScheduler() { ReleaseWithoutGil(service); }
  distributed::SchedulerService& get() {
    if (!service) throw nb::value_error("the scheduler is closed");
    return *service;
  }
};

struct PyWorker {
  std::unique_ptr<distributed::WorkerService> service;
  ~PyWorker() { ReleaseWithoutGil(service); }
  distributed::WorkerService& get() {
    if (!service) throw nb::value_error("the worker is closed");
    return *service;
  }
};

struct PyClient {
  std::shared_ptr<ClientCore> core;
  ~PyClient() { ReleaseWithoutGil(core); }
};

const char* KeyStatusName(KeyStatus s) {
  switch (s) {
    case KeyStatus::kPending: return "pending";
    case KeyStatus::kMemory: return "memory";
    case KeyStatus::kErred: return "erred";
    case KeyStatus::kUnknown: return "unknown";
  }
  return "unknown";
}

const char* KeyEventName(KeyEvent::Kind k) {
  switch (k) {
    case KeyEvent::Kind::kMemory: return "memory";
    case KeyEvent::Kind::kErred: return "erred";
    case KeyEvent::Kind::kLost: return "lost";
  }
  return "lost";
}

std::vector<std::pair<Key, Payload>> ItemsArg(nb::handle items) {
  std::vector<std::pair<Key, Payload>> out;
  for (nb::handle item : items) {
    nb::tuple t = nb::cast<nb::tuple>(item);
    out.emplace_back(KeyArg(t[0]), Payload{nb::cast<std::string>(t[1]), FramesFromPython(t[2])});
  }
  return out;
}

// TLS files from Python arguments: all empty = no TLS.
net::TransportOptions TransportArgs(const std::string& cert, const std::string& key,
                                    const std::string& ca) {
  net::TransportOptions t;
  if (!cert.empty() || !key.empty() || !ca.empty()) t.tls = net::TlsOptions{cert, key, ca, true};
  return t;
}

// Runs `call` (a Result- or Status-returning call into the services) with the GIL released —
// it may wait on a service thread that needs the GIL — and raises its error in Python.
template <class F>
auto CallWithoutGil(F&& call) {
  auto result = [&] {
    nb::gil_scoped_release release;
    return call();
  }();
  if constexpr (std::is_same_v<decltype(result), Status>) {
    CheckStatus(result);
  } else {
    CheckStatus(result.status());
    return result.MoveValueUnsafe();
  }
}

std::chrono::milliseconds Millis(double seconds) {
  return std::chrono::milliseconds(static_cast<int64_t>(seconds * 1000.0));
}

}  // namespace

void BindDistributed(nb::module_& m) {
  distributed::SetForeignSerializer({&SerializePython, &DeserializePython, &SizeOfPython});
  distributed::RegisterTaskRunner("python-task", std::make_shared<PythonTaskRunner>());

  m.def("generate_secret", &protocol::GenerateSecret, "A fresh random cluster secret.");

  m.def("cli_main", [](std::vector<std::string> args) {
    // `tegu scheduler` / `tegu worker`: the same command line as the C++ executable, here with
    // the Python task runner installed, so the worker runs Python tasks too.
    nb::gil_scoped_release release;
    return distributed::RunCommandLine(std::move(args));
  }, nb::arg("args"));

  m.def("install_distributed", [](nb::object serialize, nb::object deserialize, nb::object size_of,
                                  nb::object run_task) {
    // Kept for the life of the process: C++ threads call them until exit.
    g_hooks.serialize = serialize.release().ptr();
    g_hooks.deserialize = deserialize.release().ptr();
    g_hooks.size_of = size_of.release().ptr();
    g_hooks.run_task = run_task.release().ptr();
  });

  m.def("decode_native", [](nb::handle frames, std::string kind) {
    return CallDeserialize(Payload{std::move(kind), FramesFromPython(frames)});
  }, nb::arg("frames"), nb::arg("kind") = "native");
  m.def("is_native_kind", [](const std::string& kind) { return distributed::IsNativeKind(kind); });

  m.def("secede", [] {
    CallWithoutGil([&] { return distributed::Secede(); });
  });
  m.def("rejoin", [] {
    CallWithoutGil([&] { return distributed::Rejoin(); });
  });
  m.def("current_task", []() -> nb::object {
    auto t = distributed::CurrentTask();
    if (!t || t->worker == nullptr) return nb::none();
    nb::dict d;
    d["key"] = KeyObject(t->key);
    d["worker_address"] = t->worker->address();
    d["scheduler_address"] = t->worker->scheduler_address();
    d["worker_name"] = t->worker->name();
    d["nthreads"] = t->worker->nthreads();
    d["secret"] = t->worker->secret();
    return d;
  });

  nb::class_<PyScheduler>(m, "SchedulerService", "The scheduler, running on its own thread.")
      .def_static(
          "start",
          [](const std::string& address, const std::string& secret, int tick_ms,
             const std::string& tls_cert, const std::string& tls_key, const std::string& tls_ca) {
            // The state machine's knobs follow tegu.config (distributed.scheduler.*).
            Result<distributed::SchedulerServiceOptions> from_config =
                distributed::SchedulerServiceOptions::FromConfig();
            CheckStatus(from_config.status());
            distributed::SchedulerServiceOptions o = from_config.MoveValueUnsafe();
            o.address = address;
            o.secret = secret;
            o.tick_interval = std::chrono::milliseconds(tick_ms);
            o.transport = TransportArgs(tls_cert, tls_key, tls_ca);
            auto value = CallWithoutGil([&] { return distributed::SchedulerService::Start(o); });
            auto s = std::make_unique<PyScheduler>();
            s->service = std::move(value);
            return s;
          },
          nb::arg("address") = "tcp://127.0.0.1:0", nb::arg("secret"), nb::arg("tick_ms") = 100,
          nb::arg("tls_cert") = "", nb::arg("tls_key") = "", nb::arg("tls_ca") = "")
      .def_prop_ro("address", [](PyScheduler& s) { return s.get().address(); })
      .def("close", [](PyScheduler& s) { ReleaseWithoutGil(s.service); })
      .def("wait", [](PyScheduler& s) {
        auto& svc = s.get();
        nb::gil_scoped_release release;
        svc.Wait();
      })
      .def("workers", [](PyScheduler& s) {
        distributed::SchedulerSnapshot snap;
        {
          auto& svc = s.get();
          nb::gil_scoped_release release;
          snap = svc.Snapshot();
        }
        nb::list out;
        for (const auto& w : snap.workers) {
          nb::dict d;
          d["address"] = w.address;
          d["name"] = w.name;
          d["nthreads"] = w.nthreads;
          d["memory_limit"] = w.memory_limit;
          d["processing"] = w.processing;
          out.append(d);
        }
        return out;
      })
      .def("task_count", [](PyScheduler& s) {
        auto& svc = s.get();
        nb::gil_scoped_release release;
        return svc.Snapshot().tasks;
      })
      .def("bytes_per_task", [](PyScheduler& s) {
        auto& svc = s.get();
        nb::gil_scoped_release release;
        return svc.BytesPerTask();
      });

  nb::class_<PyWorker>(m, "WorkerService", "A worker, running on its own threads.")
      .def_static(
          "start",
          [](const std::string& scheduler_address, const std::string& secret,
             const std::string& listen_address, const std::string& name, int nthreads,
             uint64_t memory_limit, int heartbeat_ms, const std::string& tls_cert,
             const std::string& tls_key, const std::string& tls_ca) {
            distributed::WorkerServiceOptions o;
            o.scheduler_address = scheduler_address;
            o.secret = secret;
            o.listen_address = listen_address;
            o.name = name;
            o.nthreads = nthreads;
            o.memory_limit = memory_limit;
            o.heartbeat_interval = std::chrono::milliseconds(heartbeat_ms);
            o.transport = TransportArgs(tls_cert, tls_key, tls_ca);
            auto value = CallWithoutGil([&] { return distributed::WorkerService::Start(o); });
            auto w = std::make_unique<PyWorker>();
            w->service = std::move(value);
            return w;
          },
          nb::arg("scheduler_address"), nb::arg("secret"),
          nb::arg("listen_address") = "tcp://127.0.0.1:0", nb::arg("name") = "",
          nb::arg("nthreads") = 1, nb::arg("memory_limit") = 0, nb::arg("heartbeat_ms") = 1000,
          nb::arg("tls_cert") = "", nb::arg("tls_key") = "", nb::arg("tls_ca") = "")
      .def_prop_ro("address", [](PyWorker& w) { return w.get().address(); })
      .def_prop_ro("scheduler_address", [](PyWorker& w) { return w.get().scheduler_address(); })
      .def_prop_ro("name", [](PyWorker& w) { return w.get().name(); })
      .def_prop_ro("nthreads", [](PyWorker& w) { return w.get().nthreads(); })
      .def("close", [](PyWorker& w) { ReleaseWithoutGil(w.service); })
      .def("wait", [](PyWorker& w) {
        auto& svc = w.get();
        Status st;
        {
          nb::gil_scoped_release release;
          st = svc.Wait();
        }
        return st.ok() ? std::string() : st.ToString();
      })
      .def("data_count", [](PyWorker& w) {
        auto& svc = w.get();
        nb::gil_scoped_release release;
        return svc.data_count();
      });

  nb::class_<PyClient>(m, "ClientCore", "A connection of a client to the scheduler.")
      .def_static(
          "connect",
          [](const std::string& address, const std::string& secret, double timeout_s,
             const std::string& tls_cert, const std::string& tls_key, const std::string& tls_ca) {
            net::TransportOptions transport = TransportArgs(tls_cert, tls_key, tls_ca);
            auto value = CallWithoutGil(
                [&] { return ClientCore::Connect(address, secret, Millis(timeout_s), transport); });
            auto c = std::make_unique<PyClient>();
            c->core = std::move(value);
            return c;
          },
          nb::arg("address"), nb::arg("secret"), nb::arg("timeout_s") = 10.0,
          nb::arg("tls_cert") = "", nb::arg("tls_key") = "", nb::arg("tls_ca") = "")
      .def_prop_ro("id", [](PyClient& c) { return c.core->id(); })
      .def_prop_ro("scheduler_address", [](PyClient& c) { return c.core->scheduler_address(); })
      .def("update_graph", [](PyClient& c, nb::handle tasks, nb::handle wanted) {
        std::vector<distributed::TaskToSubmit> out;
        out.reserve(nb::len(tasks));
        for (nb::handle item : tasks) {
          nb::tuple t = nb::cast<nb::tuple>(item);
          if (t.size() != 8) {
            throw nb::value_error("a task is (key, deps, priority, retries, workers, "
                                  "allow_other_workers, kind, frames)");
          }
          distributed::TaskToSubmit s;
          s.key = KeyArg(t[0]);
          s.dependencies = KeysArg(t[1]);
          s.priority = nb::cast<int32_t>(t[2]);
          s.retries = nb::cast<uint32_t>(t[3]);
          s.workers = nb::cast<std::vector<std::string>>(t[4]);
          s.allow_other_workers = nb::cast<bool>(t[5]);
          s.spec.kind = nb::cast<std::string>(t[6]);
          s.spec.frames = FramesFromPython(t[7]);
          out.push_back(std::move(s));
        }
        std::vector<Key> w = KeysArg(wanted);
        CallWithoutGil([&] { return c.core->UpdateGraph(std::move(out), std::move(w)); });
      })
      .def("release_keys", [](PyClient& c, nb::handle keys) {
        std::vector<Key> ks = KeysArg(keys);
        nb::gil_scoped_release release;
        (void)c.core->ReleaseKeys(std::move(ks));
      })
      .def("fire_and_forget", [](PyClient& c, nb::handle keys) {
        std::vector<Key> ks = KeysArg(keys);
        CallWithoutGil([&] { return c.core->FireAndForget(std::move(ks)); });
      })
      .def("status_of", [](PyClient& c, nb::handle key) {
        return KeyStatusName(c.core->StatusOf(KeyArg(key)));
      })
      .def("wait_key", [](PyClient& c, nb::handle key, std::optional<double> timeout_s) {
        Key k = KeyArg(key);
        std::optional<std::chrono::milliseconds> t;
        if (timeout_s) t = Millis(*timeout_s);
        KeyStatus s;
        {
          nb::gil_scoped_release release;
          s = c.core->WaitKey(k, t);
        }
        return KeyStatusName(s);
      }, nb::arg("key"), nb::arg("timeout_s").none() = nb::none())
      .def("error_of", [](PyClient& c, nb::handle key) -> nb::object {
        auto e = c.core->ErrorOf(KeyArg(key));
        if (!e) return nb::none();
        return nb::make_tuple(e->error_kind, FramesToPython(e->error.frames));
      })
      .def("enable_events", [](PyClient& c, bool on) { c.core->EnableEvents(on); })
      .def("next_events", [](PyClient& c, double timeout_s) {
        std::vector<KeyEvent> events;
        {
          nb::gil_scoped_release release;
          events = c.core->NextEvents(Millis(timeout_s));
        }
        nb::list out;
        for (const KeyEvent& e : events) {
          out.append(nb::make_tuple(KeyEventName(e.kind), KeyObject(e.key), e.error_kind,
                                    FramesToPython(e.error.frames)));
        }
        return out;
      })
      .def("gather", [](PyClient& c, nb::handle keys) {
        std::vector<Key> ks = KeysArg(keys);
        auto gathered = CallWithoutGil([&] { return c.core->Gather(std::move(ks)); });
        nb::list values;
        for (const auto& [key, payload] : gathered.values) {
          values.append(nb::make_tuple(KeyObject(key), payload.kind, FramesToPython(payload.frames)));
        }
        return nb::make_tuple(values, KeysObject(gathered.missing));
      })
      .def("scatter", [](PyClient& c, nb::handle items, bool broadcast,
                         std::vector<std::string> workers) {
        auto values = ItemsArg(items);
        auto value = CallWithoutGil(
            [&] { return c.core->Scatter(std::move(values), broadcast, std::move(workers)); });
        return KeysObject(value);
      })
      .def("run", [](PyClient& c, const std::string& kind, nb::handle frames,
                     std::vector<std::string> workers) {
        Payload fn{kind, FramesFromPython(frames)};
        auto value = CallWithoutGil([&] { return c.core->Run(std::move(fn), std::move(workers)); });
        nb::list out;
        for (const auto& rr : value) {
          out.append(nb::make_tuple(rr.worker, rr.ok, rr.payload.kind, FramesToPython(rr.payload.frames)));
        }
        return out;
      })
      .def("who_has", [](PyClient& c, nb::handle keys) {
        std::vector<Key> ks = KeysArg(keys);
        auto value = CallWithoutGil([&] { return c.core->WhoHas(std::move(ks)); });
        nb::list out;
        for (const auto& [k, holders] : value) {
          out.append(nb::make_tuple(KeyObject(k), nb::cast(holders)));
        }
        return out;
      })
      .def("info", [](PyClient& c, bool with_keys) {
        auto value = CallWithoutGil([&] { return c.core->Info(with_keys); });
        nb::dict d;
        d["address"] = value.scheduler_address;
        nb::list workers;
        for (const auto& w : value.workers) {
          nb::dict wd;
          wd["address"] = w.address;
          wd["name"] = w.name;
          wd["nthreads"] = w.nthreads;
          wd["memory_limit"] = w.memory_limit;
          wd["processing"] = w.processing;
          wd["keys"] = KeysObject(w.keys);
          workers.append(wd);
        }
        d["workers"] = workers;
        return d;
      }, nb::arg("with_keys") = false)
      .def("task_states", [](PyClient& c, nb::handle keys) {
        std::vector<Key> ks = KeysArg(keys);
        auto value = CallWithoutGil([&] { return c.core->TaskStates(std::move(ks)); });
        return std::move(value);
      })
      .def("shutdown_scheduler", [](PyClient& c) { CheckStatus(c.core->ShutdownScheduler()); })
      .def("close", [](PyClient& c) {
        nb::gil_scoped_release release;
        c.core->Close();
      })
      .def_prop_ro("closed", [](PyClient& c) { return c.core->is_closed(); });
}

}  // namespace tegu::python
