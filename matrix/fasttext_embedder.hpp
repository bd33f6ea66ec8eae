#pragma once
// A fastText model as an embedder: a text's vector is the sentence vector
// fastText itself computes (what `fasttext print-sentence-vectors` prints):
// for an unsupervised model the mean of its words' normalized vectors, words
// made of subword n-grams when the model has them.

#include <memory>
#include <mutex>

#include "matrix/embedder.hpp"

namespace fasttext {
class FastText;
}

namespace quiver::matrix {

class fasttext_embedder final : public embedder {
 public:
  // Reads the model (.bin); invalid_argument when it cannot be read, or when
  // `dimension` is set and is not the model's.
  static expected<std::unique_ptr<fasttext_embedder>> load(const std::string& path,
                                                           std::uint32_t dimension);
  ~fasttext_embedder() override;

  std::uint32_t dimension() const override { return dimension_; }
  // invalid_argument for a text none of whose words the model can place (its
  // vector would be zero) or one that is not UTF-8.
  expected<std::vector<std::vector<float>>> embed(const std::vector<std::string_view>& texts,
                                                  std::uint32_t dimension) const override;

 private:
  fasttext_embedder(std::unique_ptr<fasttext::FastText> model, std::uint32_t dimension);

  // fastText's sentence-vector call is not declared const; one caller at a time.
  mutable std::mutex mutex_;
  std::unique_ptr<fasttext::FastText> model_;
  std::uint32_t dimension_;
};

}  // namespace quiver::matrix
