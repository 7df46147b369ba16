// The Python exception type a native error should surface as ("FileNotFoundError",
// "UnicodeDecodeError", ...), carried as a Status detail so that a kernel's bad-input error
// reaches a Python caller as the exception a Dask user would catch, on every scheduler: the
// local executors raise it directly, and a worker writes it into the error's text as
// "TypeName: message", which the Python client turns back into that type.
//
// Thread-safety: values; safe to share.
#pragma once

#include <string>

#include "tegu/status.hpp"

namespace tegu {

/// `status` with the name of the Python exception type it should raise.
Status WithErrorType(Status status, std::string python_type);
/// The Python exception type name attached by WithErrorType, or "".
std::string ErrorTypeOf(const Status& status);

}  // namespace tegu
