#pragma once

#include <string>

namespace quiver {

// Sets up the process-wide spdlog logger (stderr). REQUIRES: a validated level name.
void init_logging(const std::string& level);

}  // namespace quiver
