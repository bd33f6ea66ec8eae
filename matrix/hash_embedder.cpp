#include "matrix/hash_embedder.hpp"

#include <cctype>
#include <cmath>

#include "matrix/text_checks.hpp"

namespace quiver::matrix {

namespace {

std::uint64_t fnv1a(std::string_view kind, std::string_view feature) {
  std::uint64_t h = 14695981039346656037ull;
  for (unsigned char c : kind) h = (h ^ c) * 1099511628211ull;
  for (unsigned char c : feature) h = (h ^ c) * 1099511628211ull;
  return h;
}

bool word_byte(unsigned char c) { return c >= 0x80 || std::isalnum(c); }

}  // namespace

hash_embedder::hash_embedder(std::uint32_t dimension) : dimension_(dimension) {}

expected<std::vector<float>> hash_embedder::embed(std::string_view text) const {
  std::size_t points = 0;
  if (!count_code_points(text, points))
    return make_status(errc::invalid_argument, "a text is not valid UTF-8");
  std::vector<std::string> words;
  std::string word;
  for (unsigned char c : text) {
    if (word_byte(c)) {
      word.push_back(static_cast<char>(c < 0x80 ? std::tolower(c) : c));
    } else if (!word.empty()) {
      words.push_back(std::move(word));
      word.clear();
    }
  }
  if (!word.empty()) words.push_back(std::move(word));
  if (words.empty()) return make_status(errc::invalid_argument, "a text has no words to embed");
  std::vector<double> acc(dimension_, 0.0);
  auto add = [&](std::string_view kind, std::string_view feature, double weight) {
    auto h = fnv1a(kind, feature);
    acc[h % dimension_] += (h >> 63) ? -weight : weight;
  };
  for (std::size_t i = 0; i < words.size(); ++i) {
    add("w", words[i], 1.0);
    if (i + 1 < words.size()) add("b", words[i] + " " + words[i + 1], 0.5);
    auto framed = "<" + words[i] + ">";
    for (std::size_t n = 3; n <= 5; ++n)
      for (std::size_t at = 0; at + n <= framed.size(); ++at)
        add("c", std::string_view(framed).substr(at, n), 0.25);
  }
  double norm = 0;
  for (double x : acc) norm += x * x;
  norm = std::sqrt(norm);
  if (!(norm > 0)) return make_status(errc::invalid_argument, "a text has no words to embed");
  std::vector<float> out(dimension_);
  for (std::size_t i = 0; i < dimension_; ++i) out[i] = static_cast<float>(acc[i] / norm);
  return out;
}

}  // namespace quiver::matrix
