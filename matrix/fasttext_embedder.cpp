#include "matrix/fasttext_embedder.hpp"

#include <fasttext/fasttext.h>
#include <fasttext/vector.h>

#include <cmath>
#include <fstream>
#include <sstream>

#include "matrix/text_checks.hpp"

namespace quiver::matrix {

fasttext_embedder::fasttext_embedder(std::unique_ptr<fasttext::FastText> model,
                                     std::uint32_t dimension)
    : model_(std::move(model)), dimension_(dimension) {}

fasttext_embedder::~fasttext_embedder() = default;

expected<std::unique_ptr<fasttext_embedder>> fasttext_embedder::load(const std::string& path,
                                                                     std::uint32_t dimension) {
  // fastText exits the process on some unreadable files rather than throwing:
  // check the file opens and starts with fastText's magic number first.
  std::ifstream in(path, std::ios::binary);
  std::int32_t magic = 0;
  if (!in || !in.read(reinterpret_cast<char*>(&magic), sizeof magic))
    return make_status(errc::invalid_argument, "cannot read the fastText model " + path);
  constexpr std::int32_t fasttext_magic = 793712314;
  if (magic != fasttext_magic)
    return make_status(errc::invalid_argument,
                       path +
                           " is not a fastText model (.bin, as fasttext skipgram/cbow/"
                           "supervised write it)");
  auto model = std::make_unique<fasttext::FastText>();
  try {
    model->loadModel(path);
  } catch (const std::exception& e) {
    return make_status(errc::invalid_argument,
                       "cannot load the fastText model " + path + ": " + e.what());
  }
  auto dim = static_cast<std::uint32_t>(model->getDimension());
  if (dimension != 0 && dimension != dim)
    return make_status(errc::invalid_argument,
                       "the model " + path + " makes vectors of " + std::to_string(dim) +
                           " dimensions; dimension says " + std::to_string(dimension));
  return std::unique_ptr<fasttext_embedder>(new fasttext_embedder(std::move(model), dim));
}

expected<std::vector<std::vector<float>>> fasttext_embedder::embed(
    const std::vector<std::string_view>& texts, std::uint32_t) const {
  std::vector<std::vector<float>> out;
  out.reserve(texts.size());
  fasttext::Vector v(static_cast<std::int64_t>(dimension_));
  for (std::size_t i = 0; i < texts.size(); ++i) {
    std::size_t points = 0;
    if (!count_code_points(texts[i], points))
      return at_position(make_status(errc::invalid_argument, "a text is not valid UTF-8"), i);
    // fastText reads one line: a text's line breaks are spaces to it.
    std::string line(texts[i]);
    for (auto& c : line)
      if (c == '\n' || c == '\r') c = ' ';
    line.push_back('\n');
    std::istringstream stream(line);
    {
      std::lock_guard lock(mutex_);
      model_->getSentenceVector(stream, v);
    }
    std::vector<float> vec(v.data(), v.data() + dimension_);
    double norm = 0;
    for (float x : vec) norm += static_cast<double>(x) * x;
    if (!(norm > 0) || !std::isfinite(norm))
      return at_position(
          make_status(errc::invalid_argument, "the fastText model places none of a text's words"),
          i);
    out.push_back(std::move(vec));
  }
  return out;
}

}  // namespace quiver::matrix
