#pragma once

#include <caf/error.hpp>

#include "common/status.hpp"

namespace quiver {

// Our statuses cross actor boundaries as caf::error in the "quiver" category, with
// the message and details in the error's context, so they survive serialization.
caf::error to_caf_error(const status& st);
// Maps any caf::error back: ours keep their code; a timeout or a dead actor is
// "unavailable" (a retry may succeed); anything else is "internal".
status from_caf_error(const caf::error& e);

}  // namespace quiver
