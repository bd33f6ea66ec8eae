#pragma once
// An Ollama- or OpenAI-compatible embedding server as an embedder. Texts go in
// batches of batch_size, one POST each, {"model", "input": [...]}; Ollama
// answers {"embeddings": [[...]]}, OpenAI {"data": [{"index", "embedding"}]}.
// Each exchange is bounded by timeout_ms; connection failures, timeouts, 429
// and 5xx answers are tried again up to `retries` times after a backoff
// (100 ms doubling, with jitter); other answers fail at once. A failure is
// embedder_failed (502), or embedder_timeout (504) when the last try timed out.

#include <memory>

#include "matrix/embedder.hpp"

namespace quiver::matrix {

// The parts of an http:// URL.
struct http_target {
  std::string host;
  std::string port;  // "80" when the URL names none
  std::string path;  // "/" when the URL names none
};
// invalid_argument unless `url` is http://host[:port][/path] with a port 1-65535.
expected<http_target> parse_http_url(std::string_view url);

// The vectors in an embedding server's answer to `count` texts, each checked to
// hold `dimension` finite numbers; embedder_failed for anything else.
expected<std::vector<std::vector<float>>> parse_embedding_answer(std::string_view api,
                                                                 std::string_view body,
                                                                 std::size_t count,
                                                                 std::uint32_t dimension);
// The request body for `texts`.
std::string embedding_request_body(std::string_view model,
                                   const std::vector<std::string_view>& texts);

class http_embedder final : public embedder {
 public:
  // invalid_argument for a URL it cannot use, or an api_key_env that is unset.
  // Once `stopping` is set, calls fail with unavailable without waiting.
  static expected<std::unique_ptr<http_embedder>> make(
      const embedder_config& config,
      std::shared_ptr<const std::atomic<bool>> stopping = std::make_shared<std::atomic<bool>>());
  ~http_embedder() override;

  std::uint32_t dimension() const override { return config_.dimension; }
  const server_tries* tries() const override { return &tries_; }
  expected<std::vector<std::vector<float>>> embed(const std::vector<std::string_view>& texts,
                                                  std::uint32_t dimension) const override;

 private:
  http_embedder(embedder_config config, http_target target, std::string bearer,
                std::shared_ptr<const std::atomic<bool>> stopping);
  expected<std::vector<std::vector<float>>> embed_batch(
      const std::vector<std::string_view>& texts) const;

  embedder_config config_;
  http_target target_;
  std::string bearer_;
  std::shared_ptr<const std::atomic<bool>> stopping_;
  mutable server_tries tries_;
};

}  // namespace quiver::matrix
