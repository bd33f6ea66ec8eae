#pragma once

#include <functional>
#include <string>
#include <vector>

#include "daemons/gateway/detail/http_context.hpp"

namespace quiver::gateway {

// Embeds texts for an index with the embedder its params name: reads the
// params (an index_version call), fails the request with invalid_argument when
// the index names none (or a text cannot be embedded, with details.index), and
// hands `then` the vectors in the order of `texts`. The embedding runs on the
// gateway's embedding threads; `then` runs there too.
void embed_for_index(services& s, const context_ptr& ctx, const std::string& index,
                     item_texts texts, std::function<void(std::vector<std::vector<float>>)> then);

}  // namespace quiver::gateway
