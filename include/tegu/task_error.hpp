// How a task's failure travels: a kTaskError Status whose detail carries what the task raised
// (a C++ exception here; a Python exception in the Python front end), so that the caller gets
// the same exception back.
//
// Thread-safety: immutable after construction.
#pragma once

#include <exception>
#include <string>

#include "tegu/status.hpp"

namespace tegu {

/// A C++ exception thrown by a native task.
class ExceptionDetail final : public StatusDetail {
 public:
  ExceptionDetail(std::exception_ptr exception, std::string what)
      : exception_(std::move(exception)), what_(std::move(what)) {}
  const char* type_id() const override { return "exception"; }
  std::string ToString() const override { return what_; }
  const std::exception_ptr& exception() const { return exception_; }

 private:
  std::exception_ptr exception_;
  std::string what_;
};

/// A kTaskError Status for the exception currently being handled (call inside a catch block).
Status StatusFromCurrentException();

/// The key of the failing task is prepended once, by the executor: "task 'inc-1' failed: ...".
Status AddTaskContext(const Status& status, const std::string& key);

/// Rethrows the original exception of a task failure, or throws StatusError.
[[noreturn]] void ThrowStatus(const Status& status);

}  // namespace tegu
