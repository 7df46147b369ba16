// The _tegu extension module: the engine seen from Python. The pure-Python package `tegu`
// re-exports it behind Dask's API.
#include <nanobind/nanobind.h>

#include "py_config.hpp"

namespace nb = nanobind;

namespace tegu::python {
void BindGraph(nb::module_& m);
void BindDistributed(nb::module_& m);
void BindDistributedBenchmark(nb::module_& m);
void BindBag(nb::module_& m);
}  // namespace tegu::python

NB_MODULE(_tegu, m) {
  m.doc() = "Tegu's C++ engine";
  tegu::python::BindGraph(m);
  tegu::python::BindDistributed(m);
  tegu::python::BindDistributedBenchmark(m);
  tegu::python::BindBag(m);
  BindConfig(m);
}
