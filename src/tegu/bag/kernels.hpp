// The native kernels of the Bag collection: registered C++ functions (names "tegu.bag.*") that
// a worker runs without the GIL over text partitions (strings.hpp). The Python front end
// (python/tegu/bag) builds graphs whose known text operations call these; anything else is a
// Python task. docs/collections.md describes the pattern.
//
// Thread-safety: every kernel is a pure function of its arguments and may run concurrently.
// Registration is idempotent and thread-safe.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tegu::bag {

/// Registers every bag kernel and the text partition types' wire forms. Called by the Python
/// module and the `tegu` executable at start-up (a static registrar also calls it when this
/// object file is linked); safe to call more than once.
void RegisterBagKernels();

// Each kernel file registers its own functions (called by RegisterBagKernels).
void RegisterTextIoKernels();     // text_io.cpp
void RegisterStrKernels();        // str_kernels.cpp
void RegisterAggregateKernels();  // aggregate_kernels.cpp

/// Maps non-ASCII UTF-8 strings to lower (upper = false) or upper case: (*out)[i] is in[i]
/// mapped, or nullopt where it cannot be. A kernel calls it once per partition with all the
/// partition's non-ASCII strings (one GIL acquisition, not one per string). The Python front
/// end installs one that calls str.lower/str.upper, so results match Python exactly (final
/// sigma, 'İ', ...); without one the kernels map code points one to one with the C.UTF-8
/// locale's towlower/towupper.
using CaseMapper = void (*)(const std::vector<std::string_view>& in, bool upper,
                            std::vector<std::optional<std::string>>* out);
void SetCaseMapper(CaseMapper mapper);
CaseMapper GetCaseMapper();

}  // namespace tegu::bag
