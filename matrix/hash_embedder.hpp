#pragma once
// The built-in text embedder: signed feature hashing of words, word pairs and
// character n-grams into a fixed dimension, L2-normalized. Deterministic across
// builds and machines (the hash is spelled out below), needs no model, and puts
// texts that share words and word parts near each other under cosine distance:
// good enough to search text offline, not a language model.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.hpp"

namespace quiver::matrix {

class hash_embedder {
 public:
  static constexpr std::uint32_t default_dimension = 768;
  static constexpr std::uint32_t min_dimension = 8;
  static constexpr std::uint32_t max_dimension = 4096;
  static constexpr const char* name = "hash-v1";

  explicit hash_embedder(std::uint32_t dimension = default_dimension);
  std::uint32_t dimension() const { return dimension_; }

  // The vector of `text`: features are lower-cased (ASCII) words of letters and
  // digits (any non-ASCII byte counts as a letter), weight 1; adjacent word
  // pairs, weight 0.5; character 3-, 4- and 5-grams of each word in "<word>",
  // weight 0.25. Each feature adds ±weight at FNV-1a-64(kind + feature) mod
  // dimension, its sign from the hash's top bit. invalid_argument for a text
  // with no word (its vector would be zero) or one that is not UTF-8.
  expected<std::vector<float>> embed(std::string_view text) const;

 private:
  std::uint32_t dimension_;
};

}  // namespace quiver::matrix
