#include "daemons/gateway/detail/text_embedding.hpp"

#include "common/job_pool.hpp"
#include "matrix/embed_api.hpp"

namespace quiver::gateway {

void embed_for_index(services& s, const context_ptr& ctx, const std::string& index,
                     item_texts texts, std::function<void(std::vector<std::vector<float>>)> then) {
  auto work = std::make_shared<item_texts>(std::move(texts));
  s.router.index_version(
      {ctx->tenant, index}, [&s, ctx, index, work, then](expected<index_version> v) {
        if (!v) return ctx->fail(v.error());
        auto params = std::move(v->params);
        if (params.embedder.empty())
          return ctx->fail(make_status(errc::invalid_argument,
                                       "index '" + index +
                                           "' names no embedder: send 'vector' (or create the "
                                           "index with \"embedder\": \"hash-v1\")"));
        // On an actor thread here: the embedding runs on the embedding threads.
        bool posted = s.embedding.post([ctx, work, then, params] {
          std::vector<std::vector<float>> out;
          out.reserve(work->size());
          for (const auto& [at, text] : *work) {
            auto vec = matrix::embed_text(params.embedder, params.dimension, text);
            if (!vec) {
              auto st = std::move(vec).error();
              st.details.emplace_back("index", static_cast<std::int64_t>(at));
              return ctx->fail(st);
            }
            out.push_back(std::move(*vec));
          }
          then(std::move(out));
        });
        if (!posted) ctx->fail(make_status(errc::unavailable, "the server is shutting down"));
      });
}

}  // namespace quiver::gateway
