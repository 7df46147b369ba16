// nanobind bindings of tegu::config; see py_config.hpp. A failed Status goes through
// CheckStatus (errors.hpp), the one place where engine errors become Python exceptions:
// Status::Invalid, for malformed JSON or a key that runs through a scalar, is a ValueError.

#include "py_config.hpp"

#include <nanobind/stl/optional.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/string_view.h>
#include <nanobind/stl/vector.h>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "errors.hpp"
#include "tegu/config.hpp"

namespace nb = nanobind;

void BindConfig(nb::module_& m) {
  // Arguments are converted before this guard releases the GIL and results after it is taken
  // back, so only the C++ work runs without it. The string_view arguments point into Python
  // str objects that the caller keeps alive and that cannot change.
  using Release = nb::call_guard<nb::gil_scoped_release>;

  m.def(
      "_config_get_json",
      [](std::string_view key) -> std::optional<std::string> { return tegu::config::GetJson(key); },
      nb::arg("key"), Release(),
      "The value at a dotted key as JSON text, or None when the key is missing.");
  m.def(
      "_config_set_json",
      [](std::string_view key, std::string_view json) {
        tegu::Status status;
        {
          nb::gil_scoped_release release;
          status = tegu::config::SetJson(key, json);
        }
        tegu::python::CheckStatus(status);  // needs the GIL
      },
      nb::arg("key"), nb::arg("json"),
      "Set a dotted key to a JSON value; ValueError when the JSON or the key is invalid.");
  m.def(
      "_config_delete", [](std::string_view key) { tegu::config::Delete(key); }, nb::arg("key"),
      Release(), "Remove a dotted key; a missing key is not an error.");
  m.def(
      "_config_to_json", [] { return tegu::config::ToJson(); }, Release(),
      "The whole configuration as a JSON object.");
  m.def(
      "_config_refresh", [] { tegu::config::Refresh(); }, Release(),
      "Rebuild the configuration from defaults, files and TEGU_* environment variables.");
  m.def(
      "_config_update_defaults",
      [](std::string_view json) {
        tegu::Status status;
        {
          nb::gil_scoped_release release;
          status = tegu::config::UpdateDefaults(json);
        }
        tegu::python::CheckStatus(status);
      },
      nb::arg("json"), "Register defaults given as a JSON object; ValueError otherwise.");
  m.def(
      "_config_load_warnings", [] { return tegu::config::LoadWarnings(); }, Release(),
      "Problems found while reading config files in the latest load.");
}
