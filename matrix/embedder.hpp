#pragma once
// The embedders that turn "text" into an index's vectors: the built-in
// hash-v1 and those the config names ([embedders.NAME]: a fastText model, an
// Ollama- or OpenAI-compatible HTTP server). Every embed call may block (a
// model, a network round trip): run it off the I/O and actor threads.

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/config.hpp"
#include "common/status.hpp"

namespace quiver::matrix {

// A text's failure, with details.index set to its position in the list.
status at_position(status st, std::size_t i);

// An embedding server's exchanges, each try counted once.
struct server_tries {
  std::atomic<std::uint64_t> ok{0}, failed{0}, timeout{0};
};

class embedder {
 public:
  virtual ~embedder() = default;
  // The tries of an embedder that calls a server; null for one that does not.
  virtual const server_tries* tries() const { return nullptr; }
  // The size of the vectors it makes; 0 for hash-v1, which makes any size.
  virtual std::uint32_t dimension() const = 0;
  // The vectors of `texts`, in order, each of `dimension` floats. Errors:
  // invalid_argument for a text it cannot embed (details.index: its position in
  // `texts`; the caller names it in the message),
  // embedder_failed (502) or embedder_timeout (504) for a server that fails.
  virtual expected<std::vector<std::vector<float>>> embed(
      const std::vector<std::string_view>& texts, std::uint32_t dimension) const = 0;
};

// hash-v1 and the configured embedders, by name. Safe to use from many
// threads at once.
class embedder_set {
 public:
  // Loads every configured embedder (reads fastText models): invalid_argument
  // naming the embedder for one that cannot be loaded.
  static expected<std::unique_ptr<embedder_set>> load(const std::vector<embedder_config>& config);
  // Just hash-v1.
  embedder_set();
  ~embedder_set();

  // Null for a name this gateway does not have.
  const embedder* find(std::string_view name) const;
  // invalid_argument unless `name` is here and makes vectors of `dimension`.
  status check(std::string_view name, std::uint32_t dimension) const;
  // check(), then embed.
  expected<std::vector<std::vector<float>>> embed(std::string_view name, std::uint32_t dimension,
                                                  const std::vector<std::string_view>& texts) const;
  // "hash-v1", then the configured names in config order.
  std::string names() const;
  // Ends waits on embedding servers: calls in flight and later ones fail with
  // unavailable at once (a shutdown must not wait out timeouts and retries).
  void stop() const { stopping_->store(true); }

  // Prometheus text: texts embedded and failed per embedder, an embedding
  // server's tries by outcome (docs/METRICS.md).
  std::string render_metrics() const;

 private:
  struct entry {
    std::unique_ptr<embedder> e;
    std::atomic<std::uint64_t> texts_ok{0}, texts_failed{0};
  };
  std::map<std::string, std::unique_ptr<entry>, std::less<>> by_name_;
  std::vector<std::string> order_;
  std::shared_ptr<std::atomic<bool>> stopping_ = std::make_shared<std::atomic<bool>>(false);
};

}  // namespace quiver::matrix
