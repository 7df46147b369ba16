// The Bag collection's native side seen from Python: kernel registration, the str.lower /
// str.upper case mapper the text kernels call for non-ASCII strings (so they match Python
// exactly), the raw block reader the Python decoding path uses, and the encoding of native
// kernel calls as "native-task" run specs for a cluster (python/tegu/distributed/graph.py).
#include <nanobind/nanobind.h>
#include <nanobind/stl/string.h>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "errors.hpp"
#include "py_task.hpp"
#include "py_value.hpp"
#include "tegu/bag/kernels.hpp"
#include "tegu/bag/text_io.hpp"
#include "tegu/distributed/payload.hpp"

namespace nb = nanobind;

namespace tegu::python {

namespace {

// str.lower / str.upper of a UTF-8 string; nullopt (no Python error left) if it cannot be.
std::optional<std::string> PythonCase(std::string_view s, bool upper) {
  std::optional<std::string> result;
  PyObject* str = PyUnicode_DecodeUTF8(s.data(), static_cast<Py_ssize_t>(s.size()), "strict");
  if (str != nullptr) {
    PyObject* mapped = PyObject_CallMethod(str, upper ? "upper" : "lower", nullptr);
    if (mapped != nullptr) {
      Py_ssize_t size = 0;
      if (const char* data = PyUnicode_AsUTF8AndSize(mapped, &size)) {
        result.emplace(data, static_cast<size_t>(size));
      }
      Py_DECREF(mapped);
    }
    Py_DECREF(str);
  }
  if (!result) PyErr_Clear();
  return result;
}

// Called by text kernels on any thread with a partition's non-ASCII strings: takes the GIL
// once for all of them.
void PythonCaseMapper(const std::vector<std::string_view>& in, bool upper,
                      std::vector<std::optional<std::string>>* out) {
  const bool release = AcquireGilForTask(/*keep_for_batch=*/false);
  out->clear();
  out->reserve(in.size());
  for (std::string_view s : in) out->push_back(PythonCase(s, upper));
  if (release) ReleaseGil();
}

// The arguments of a native call with Delayed values as references to the call's dependencies
// (numbered in first-seen order; `deps` collects the Delayed objects).
class NativeArgEncoder {
 public:
  explicit NativeArgEncoder(PyObject* delayed_type) : delayed_type_(delayed_type) {}

  Arg Encode(PyObject* obj) {
    if (PyObject_IsInstance(obj, delayed_type_) == 1) {
      nb::object key = nb::steal(PyObject_GetAttrString(obj, "_key"));
      if (!key.is_valid()) throw nb::python_error();
      // (type, key): 1 and True, or "a" and ("a",), are different keys.
      nb::handle key_type(reinterpret_cast<PyObject*>(Py_TYPE(key.ptr())));
      nb::object hk = nb::make_tuple(key_type, key);
      PyObject* found = PyDict_GetItem(index_.ptr(), hk.ptr());
      if (found != nullptr) return Arg::Ref(static_cast<KeyId>(PyLong_AsLong(found)));
      const KeyId id = static_cast<KeyId>(deps_.size());
      index_[hk] = nb::int_(id);
      deps_.append(nb::handle(obj));
      keys_.push_back(KeyFromPython(key.ptr()));
      return Arg::Ref(id);
    }
    if (PyList_CheckExact(obj) || PyTuple_CheckExact(obj)) {
      const bool is_list = PyList_CheckExact(obj);
      const Py_ssize_t n = is_list ? PyList_GET_SIZE(obj) : PyTuple_GET_SIZE(obj);
      std::vector<Arg> items;
      items.reserve(static_cast<size_t>(n));
      for (Py_ssize_t i = 0; i < n; ++i) {
        items.push_back(Encode(is_list ? PyList_GET_ITEM(obj, i) : PyTuple_GET_ITEM(obj, i)));
      }
      return is_list ? Arg::List(std::move(items)) : Arg::Tuple(std::move(items));
    }
    Value v = FromPythonForNative(obj);
    if (v.is_foreign()) {
      PyErr_Format(PyExc_TypeError,
                   "a native task sent to a cluster takes ints, floats, strs, bools, lists and "
                   "other tasks' results as arguments, got %s", Py_TYPE(obj)->tp_name);
      throw nb::python_error();
    }
    return Arg::Literal(std::move(v));
  }

  nb::list deps_;
  std::vector<Key> keys_;

 private:
  PyObject* delayed_type_;
  nb::dict index_;
};

}  // namespace

void BindBag(nb::module_& m) {
  bag::RegisterBagKernels();
  bag::SetCaseMapper(&PythonCaseMapper);

  m.def("encode_native_task", [](nb::handle func, nb::tuple args, nb::handle delayed_type) {
    if (!nb::isinstance<NativeFunctionHandle>(func)) throw nb::type_error("not a native function");
    const std::string name = nb::inst_ptr<NativeFunctionHandle>(func)->fn->name();
    NativeArgEncoder encoder(delayed_type.ptr());
    std::vector<Arg> encoded;
    for (nb::handle a : args) encoded.push_back(encoder.Encode(a.ptr()));
    Result<distributed::Payload> spec = distributed::EncodeNativeCall(name, encoded, encoder.keys_);
    CheckStatus(spec.status());
    nb::list frames;
    for (const protocol::Buffer& b : spec.ValueUnsafe().frames) {
      frames.append(nb::bytes(reinterpret_cast<const char*>(b.data()), b.size()));
    }
    return nb::make_tuple(frames, encoder.deps_);
  }, nb::arg("func"), nb::arg("args"), nb::arg("delayed_type"),
     "(frames, dependencies) of a native-task run spec calling `func` with `args`; Delayed "
     "values in args (also inside lists and tuples) become references to the dependencies.");

  m.def("bag_read_block", [](const std::string& path, int64_t offset, int64_t length,
                             const std::string& compression, nb::bytes delimiter_bytes) {
    const std::string delimiter(delimiter_bytes.c_str(), delimiter_bytes.size());
    int64_t start = 0;
    Result<protocol::Buffer> bytes = [&] {
      nb::gil_scoped_release release;
      return bag::ReadBlock(path, offset, length, compression, delimiter, &start);
    }();
    CheckStatus(bytes.status());
    const protocol::Buffer& b = bytes.ValueUnsafe();
    return nb::make_tuple(start, nb::bytes(reinterpret_cast<const char*>(b.data()), b.size()));
  }, nb::arg("path"), nb::arg("offset"), nb::arg("length"), nb::arg("compression"),
     nb::arg("delimiter"),
     "(start, bytes) of one block of a text file (fsspec's read_block with a delimiter): where "
     "it begins in the file, and its bytes; a compressed file is read whole (start 0).");
}

}  // namespace tegu::python
