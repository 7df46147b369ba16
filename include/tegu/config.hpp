// tegu::config: the process-wide configuration, shared by the C++ and Python front ends and
// shaped like `dask.config`. Values form a JSON tree addressed by dotted keys
// ("optimization.fuse.active"). The tree is built, on first access and again on Refresh(), from
//   1. defaults: the built-in ones plus whatever modules registered with UpdateDefaults(),
//   2. YAML files: every *.yaml / *.yml / *.json in $HOME/.config/tegu/ in sorted order, then
//      $TEGU_CONFIG (a file, or a directory read the same way), deep-merged in that order,
//   3. environment variables TEGU_*: TEGU_SCHEDULER=threads sets `scheduler`,
//      TEGU_OPTIMIZATION__FUSE__ACTIVE=false sets `optimization.fuse.active`; names are
//      lower-cased and values are read as YAML scalars or flow collections (so `false`, `4`,
//      `1.5` and `[1, 2]` keep their types; anything else is a string),
// and then changed programmatically with SetJson() / Delete().
//
// Keys are canonical as in Dask: `_` and `-` are the same character. The tree stores `-`, and
// every function here accepts either spelling. Key components that start with "__" are left
// alone: they are reserved for front-end markers (the Python front end stores values it cannot
// express as JSON as {"__tegu_pyobject__": id}).
//
// Scalars follow the YAML 1.2 core schema (true/false, null/~, integers, floats), not PyYAML's
// YAML 1.1 (where `no` and `on` are booleans): a `country: no` stays a string.
//
// A file that cannot be read or parsed does not stop the program: it is skipped, a warning
// naming the file and line goes to stderr, and LoadWarnings() returns it.
//
// Thread-safety: every function is safe to call from any thread; one mutex guards the tree.
// Values are returned by copy, so a caller never observes a later change through a result.
// The environment is read while loading; do not call setenv() concurrently with Refresh().
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tegu/status.hpp"

namespace tegu::config {

/// The value at a dotted key as JSON text, or nullopt when a component is missing or an
/// intermediate value is not a mapping. A key that holds null gives "null", not nullopt.
std::optional<std::string> GetJson(std::string_view key);

/// Typed reads: the value at `key`, or `fallback` when it is missing, null or of another type.
/// GetDouble accepts integers too; GetInt does not accept floats (4.5 would lose information).
std::string GetString(std::string_view key, std::string fallback);
int64_t GetInt(std::string_view key, int64_t fallback);
bool GetBool(std::string_view key, bool fallback);
double GetDouble(std::string_view key, double fallback);

/// Sets `key` to the JSON value `json`, creating intermediate mappings (an intermediate null
/// becomes a mapping). Invalid JSON, an empty key component, or an intermediate value that is
/// neither a mapping nor null gives Status::Invalid naming the key.
Status SetJson(std::string_view key, std::string_view json);

/// Removes `key`; a missing key is not an error.
void Delete(std::string_view key);

/// The whole configuration as a JSON object.
std::string ToJson();

/// Rebuilds the configuration from defaults, files and the environment, dropping every value
/// set with SetJson() or removed with Delete() (as `dask.config.refresh`). Registered defaults
/// are kept.
void Refresh();

/// Registers more defaults, a JSON object of nested mappings, as `dask.config.update_defaults`:
/// a key takes the new default when it is missing or still holds the previous default, and
/// keeps a value that a file, the environment or a program chose. The defaults survive
/// Refresh(). Anything other than a JSON object gives Status::Invalid.
Status UpdateDefaults(std::string_view json_object);

/// Problems found by the latest load (unreadable or malformed files), one line each, such as
/// "/home/u/.config/tegu/a.yaml:3:5: illegal map value (file skipped)". Empty when all was well.
std::vector<std::string> LoadWarnings();

}  // namespace tegu::config
