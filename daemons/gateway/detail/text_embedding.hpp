#pragma once

#include <functional>
#include <string>
#include <vector>

#include "daemons/gateway/detail/http_context.hpp"

namespace quiver::gateway {

// Embeds texts for an index with the embedder its params name: reads the
// params (an index_version call), fails the request with invalid_argument when
// the index names none (or a text cannot be embedded, with details.index), or
// with the embedder's error; else hands each vector to place(its text's
// position, vector), then runs `then`. The embedding runs on the gateway's
// embedding threads; `place` and `then` run there too.
void embed_for_index(services& s, const context_ptr& ctx, const std::string& index,
                     item_texts texts, std::function<void(std::size_t, std::vector<float>)> place,
                     std::function<void()> then);

}  // namespace quiver::gateway
