// The `tegu` command line: `tegu scheduler` and `tegu worker ADDRESS`, after `dask scheduler`
// and `dask worker`. The `tegu` executable (tools/tegu_main.cpp), tegu::RunWorker and the
// Python front end all call RunCommandLine.
//
//   tegu scheduler [--host 127.0.0.1] [--port 8786] [--address URL] [--secret S]
//                  [--secret-file PATH]
//   tegu worker ADDRESS [--nthreads 1] [--memory-limit auto] [--name NAME]
//                  [--listen-address tcp://127.0.0.1:0 | --host HOST] [--secret S]
//                  [--secret-file PATH]
//
// The secret comes from --secret, then --secret-file, then the TEGU_SECRET environment
// variable. A scheduler without one generates a secret, prints it to stderr and writes it to
// --secret-file (mode 0600) when that is given. The scheduler prints "Scheduler at: URL" and the
// worker "Worker at: URL" on stdout once they listen.
//
// Exit codes: 0 after a clean shutdown (SIGINT or SIGTERM, a client's shutdown request, or, for
// a worker, the scheduler going away), 1 when the service cannot start (a port in use, a
// scheduler that cannot be reached or refuses the secret), 2 for bad arguments (the message
// names the option).
//
// Thread-safety: RunCommandLine keeps no global state but the signal handlers it installs for
// SIGINT and SIGTERM while a service runs (the previous handlers are restored afterwards);
// concurrent calls are safe and a signal stops all of them.
#pragma once

#include <cstdint>
#include <iosfwd>
#include <string>
#include <string_view>
#include <vector>

#include "tegu/result.hpp"

namespace tegu::distributed {

/// Runs `tegu ARGS...` (`args` without the program name); returns the exit code.
int RunCommandLine(std::vector<std::string> args);
/// As above, writing to `out` and `err` instead of stdout and stderr.
int RunCommandLine(std::vector<std::string> args, std::ostream& out, std::ostream& err);

/// Bytes in "4GB", "512MiB", "1.5 kB", "100" (as Dask's parse_bytes: decimal units kB MB GB TB
/// PB, binary units KiB MiB GiB TiB PiB, case-insensitive, a bare number is bytes).
Result<uint64_t> ParseBytes(std::string_view text);

/// A worker's memory limit in bytes (as Dask's parse_memory_limit): "auto" is the machine's
/// memory times nthreads / cores (at most all of it), "0" or "none" no limit (0), a bare number
/// of at most 1 a fraction of the machine's memory, anything else ParseBytes; capped at the
/// machine's memory.
Result<uint64_t> ParseMemoryLimit(std::string_view text, int nthreads, uint64_t total_memory,
                                  unsigned total_cores);

}  // namespace tegu::distributed
