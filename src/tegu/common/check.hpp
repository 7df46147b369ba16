// TEGU_CHECK / TEGU_DCHECK: invariants of the engine (Ray RAY_CHECK, DuckDB D_ASSERT). A failed
// check is a bug in Tegu, never a user error: it prints the condition and aborts.
//
// Thread-safety: safe from any thread.
#pragma once

#include <cstdio>
#include <cstdlib>

#define TEGU_CHECK(cond)                                                             \
  do {                                                                               \
    if (!(cond)) {                                                                   \
      std::fprintf(stderr, "%s:%d: TEGU_CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
      std::abort();                                                                  \
    }                                                                                \
  } while (false)

#ifdef NDEBUG
#define TEGU_DCHECK(cond) \
  do {                    \
  } while (false && (cond))
#else
#define TEGU_DCHECK(cond) TEGU_CHECK(cond)
#endif
