#include "daemons/gateway/detail/text_embedding.hpp"

#include "common/job_pool.hpp"
#include "matrix/embedder.hpp"

namespace quiver::gateway {

void embed_for_index(services& s, const context_ptr& ctx, const std::string& index,
                     item_texts texts, std::function<void(std::size_t, std::vector<float>)> place,
                     std::function<void()> then) {
  auto work = std::make_shared<item_texts>(std::move(texts));
  s.router.index_version(
      {ctx->tenant, index}, [&s, ctx, index, work, place, then](expected<index_version> v) {
        if (!v) return ctx->fail(v.error());
        auto params = std::move(v->params);
        if (params.embedder.empty())
          return ctx->fail(make_status(errc::invalid_argument,
                                       "index '" + index +
                                           "' names no embedder: send 'vector' (or create the "
                                           "index with an \"embedder\")"));
        // On an actor thread here: the embedding runs on the embedding threads.
        bool posted = s.embedding.post([&s, ctx, work, place, then, params] {
          std::vector<std::string_view> texts;
          texts.reserve(work->size());
          for (const auto& item : *work) texts.emplace_back(item.second);
          auto out = s.embedders.embed(params.embedder, params.dimension, texts);
          if (!out) {
            // Named by the failing text's position in the request, not in this list.
            auto st = std::move(out).error();
            for (auto& [key, value] : st.details)
              if (key == "index" && value >= 0 && static_cast<std::size_t>(value) < work->size()) {
                value = static_cast<std::int64_t>((*work)[static_cast<std::size_t>(value)].first);
                if (work->size() > 1)
                  st.message = "the text of item " + std::to_string(value) + ": " + st.message;
              }
            return ctx->fail(st);
          }
          for (std::size_t i = 0; i < out->size(); ++i)
            place((*work)[i].first, std::move((*out)[i]));
          then();
        });
        if (!posted) ctx->fail(make_status(errc::unavailable, "the server is shutting down"));
      });
}

}  // namespace quiver::gateway
