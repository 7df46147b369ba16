// Bindings of tegu::config (include/tegu/config.hpp) for the _tegu extension module. The Python
// API, tegu.config, is written in Python over these private functions; values cross as JSON text.
//
// Thread-safety: the bound functions release the GIL while they touch the store, which has its
// own mutex, so a Python thread never holds the GIL while waiting for a C++ thread's config read.
#pragma once

#include <nanobind/nanobind.h>

// Defines _config_get_json, _config_set_json, _config_delete, _config_to_json, _config_refresh,
// _config_update_defaults and _config_load_warnings on `m`. In the global namespace, like every
// Bind* entry point that module.cpp calls.
void BindConfig(nanobind::module_& m);
