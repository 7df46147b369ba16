#include "tegu/common/logging.hpp"

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <cstdlib>
#include <cstring>

namespace tegu::internal {

namespace {
spdlog::logger& Logger() {
  static std::shared_ptr<spdlog::logger> logger = [] {
    auto l = spdlog::stderr_color_mt("tegu");
    l->set_pattern("%Y-%m-%d %H:%M:%S.%e %^%l%$ tegu: %v");
    const char* env = std::getenv("TEGU_LOG_LEVEL");
    l->set_level(spdlog::level::info);
    if (env != nullptr) {
      if (!std::strcmp(env, "debug")) l->set_level(spdlog::level::debug);
      if (!std::strcmp(env, "warn")) l->set_level(spdlog::level::warn);
      if (!std::strcmp(env, "error")) l->set_level(spdlog::level::err);
    }
    return l;
  }();
  return *logger;
}

spdlog::level::level_enum ToSpd(LogLevel level) {
  switch (level) {
    case LogLevel::kDebug: return spdlog::level::debug;
    case LogLevel::kInfo: return spdlog::level::info;
    case LogLevel::kWarn: return spdlog::level::warn;
    case LogLevel::kError: return spdlog::level::err;
  }
  return spdlog::level::info;
}
}  // namespace

void Log(LogLevel level, std::string_view component, std::string_view message) {
  Logger().log(ToSpd(level), "[{}] {}", component, message);
}

void SetLogLevel(LogLevel level) { Logger().set_level(ToSpd(level)); }

}  // namespace tegu::internal
