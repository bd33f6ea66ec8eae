#include "matrix/embedder.hpp"

#include <fmt/format.h>

#include "matrix/fasttext_embedder.hpp"
#include "matrix/hash_embedder.hpp"
#include "matrix/http_embedder.hpp"

namespace quiver::matrix {

namespace {

class hash_v1 final : public embedder {
 public:
  std::uint32_t dimension() const override { return 0; }
  expected<std::vector<std::vector<float>>> embed(const std::vector<std::string_view>& texts,
                                                  std::uint32_t dimension) const override {
    hash_embedder e(dimension);
    std::vector<std::vector<float>> out;
    out.reserve(texts.size());
    for (std::size_t i = 0; i < texts.size(); ++i) {
      auto v = e.embed(texts[i]);
      if (!v) return at_position(std::move(v).error(), i);
      out.push_back(std::move(*v));
    }
    return out;
  }
};

}  // namespace

status at_position(status st, std::size_t i) {
  st.details.emplace_back("index", static_cast<std::int64_t>(i));
  return st;
}

embedder_set::embedder_set() {
  auto e = std::make_unique<entry>();
  e->e = std::make_unique<hash_v1>();
  by_name_.emplace(hash_embedder::name, std::move(e));
  order_.emplace_back(hash_embedder::name);
}

embedder_set::~embedder_set() = default;

expected<std::unique_ptr<embedder_set>> embedder_set::load(
    const std::vector<embedder_config>& config) {
  auto set = std::make_unique<embedder_set>();
  for (const auto& c : config) {
    if (set->by_name_.count(c.name) != 0)
      return make_status(errc::invalid_argument, "embedder '" + c.name + "' is named twice");
    std::unique_ptr<embedder> e;
    if (c.kind == "fasttext") {
      auto loaded = fasttext_embedder::load(c.model, c.dimension);
      if (!loaded) {
        auto st = std::move(loaded).error();
        st.message = "embedder '" + c.name + "': " + st.message;
        return st;
      }
      e = std::move(*loaded);
    } else {
      auto made = http_embedder::make(c, set->stopping_);
      if (!made) {
        auto st = std::move(made).error();
        st.message = "embedder '" + c.name + "': " + st.message;
        return st;
      }
      e = std::move(*made);
    }
    auto ent = std::make_unique<entry>();
    ent->e = std::move(e);
    set->by_name_.emplace(c.name, std::move(ent));
    set->order_.push_back(c.name);
  }
  return set;
}

const embedder* embedder_set::find(std::string_view name) const {
  auto it = by_name_.find(name);
  return it == by_name_.end() ? nullptr : it->second->e.get();
}

status embedder_set::check(std::string_view name, std::uint32_t dimension) const {
  const auto* e = find(name);
  if (e == nullptr)
    return make_status(errc::invalid_argument,
                       "unknown embedder '" + std::string(name) + "'; this gateway has " + names());
  if (e->dimension() == 0) {
    if (dimension < hash_embedder::min_dimension || dimension > hash_embedder::max_dimension)
      return make_status(errc::invalid_argument,
                         "embedder " + std::string(name) + " makes vectors of " +
                             std::to_string(hash_embedder::min_dimension) + " to " +
                             std::to_string(hash_embedder::max_dimension) +
                             " dimensions; dimension is " + std::to_string(dimension));
  } else if (e->dimension() != dimension) {
    return make_status(errc::invalid_argument,
                       "embedder " + std::string(name) + " makes vectors of " +
                           std::to_string(e->dimension()) + " dimensions; dimension is " +
                           std::to_string(dimension));
  }
  return status::success();
}

expected<std::vector<std::vector<float>>> embedder_set::embed(
    std::string_view name, std::uint32_t dimension,
    const std::vector<std::string_view>& texts) const {
  if (auto st = check(name, dimension); !st.ok()) return st;
  auto& ent = *by_name_.find(name)->second;
  auto out = ent.e->embed(texts, dimension);
  (out ? ent.texts_ok : ent.texts_failed) += texts.size();
  return out;
}

std::string embedder_set::names() const {
  std::string out;
  for (const auto& n : order_) {
    if (!out.empty()) out += ", ";
    out += "\"" + n + "\"";
  }
  return out;
}

std::string embedder_set::render_metrics() const {
  std::string out =
      "# HELP quiver_embedder_texts_total Texts embedded, by embedder and outcome (a failed "
      "call counts all its texts).\n"
      "# TYPE quiver_embedder_texts_total counter\n";
  for (const auto& name : order_) {
    const auto& ent = *by_name_.find(name)->second;
    out += fmt::format(
        "quiver_embedder_texts_total{{embedder=\"{0}\",result=\"ok\"}} {1}\n"
        "quiver_embedder_texts_total{{embedder=\"{0}\",result=\"failed\"}} {2}\n",
        name, ent.texts_ok.load(), ent.texts_failed.load());
  }
  out +=
      "# HELP quiver_embedder_server_requests_total Requests to embedding servers, each try "
      "once, by outcome.\n"
      "# TYPE quiver_embedder_server_requests_total counter\n";
  for (const auto& name : order_) {
    const auto* t = by_name_.find(name)->second->e->tries();
    if (t == nullptr) continue;
    out += fmt::format(
        "quiver_embedder_server_requests_total{{embedder=\"{0}\",result=\"ok\"}} {1}\n"
        "quiver_embedder_server_requests_total{{embedder=\"{0}\",result=\"failed\"}} {2}\n"
        "quiver_embedder_server_requests_total{{embedder=\"{0}\",result=\"timeout\"}} {3}\n",
        name, t->ok.load(), t->failed.load(), t->timeout.load());
  }
  return out;
}

}  // namespace quiver::matrix
