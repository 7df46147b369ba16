// Logging for the engine's services (spdlog underneath, kept out of this header so that it stays
// cheap to include). A logged line names the component: TEGU_LOG_WARN("net", "refused {}", why).
//
// Thread-safety: safe from any thread.
#pragma once

#include <string>
#include <string_view>

namespace tegu::internal {

enum class LogLevel : uint8_t { kDebug, kInfo, kWarn, kError };

void Log(LogLevel level, std::string_view component, std::string_view message);
/// Sets the minimum level written (default: info; TEGU_LOG_LEVEL=debug|info|warn|error).
void SetLogLevel(LogLevel level);

}  // namespace tegu::internal
