// The one place where an engine Status becomes a Python exception (as pyarrow's check_status
// and DuckDB's PyThrowException): a task's own Python exception is re-raised as itself, with
// the task's traceback; other codes map to the matching built-in exception type.
//
// Thread-safety: requires the GIL.
#pragma once

#include "tegu/status.hpp"

namespace tegu::python {

/// Sets the Python error for `status` and throws nanobind::python_error.
[[noreturn]] void RaiseStatus(const Status& status);

/// Throws for a non-OK status.
inline void CheckStatus(const Status& status) {
  if (!status.ok()) RaiseStatus(status);
}

}  // namespace tegu::python
