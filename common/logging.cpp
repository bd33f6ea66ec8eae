#include "common/logging.hpp"

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

namespace quiver {

void init_logging(const std::string& level) {
  auto logger = spdlog::get("quiver");
  if (!logger) logger = spdlog::stderr_color_mt("quiver");
  spdlog::set_default_logger(logger);
  spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ [%t] %v");
  spdlog::set_level(spdlog::level::from_str(level));
}

}  // namespace quiver
