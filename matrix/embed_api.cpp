#include "matrix/embed_api.hpp"

#include <simdjson.h>

#include "common/detail/json_writer.hpp"
#include "common/index_params.hpp"
#include "matrix/embedder.hpp"
#include "matrix/hash_embedder.hpp"

namespace quiver::matrix {

namespace {

status bad(const std::string& why) { return make_status(errc::invalid_argument, why); }

}  // namespace

expected<embed_request> parse_embed_request(const std::string& json, std::size_t max_texts) {
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  if (auto err = parser.parse(json).get(doc); err)
    return make_status(errc::invalid_json,
                       std::string("body is not valid JSON: ") + simdjson::error_message(err));
  simdjson::dom::object obj;
  if (doc.get(obj)) return bad("the body must be a JSON object");
  embed_request r;
  bool texts = false;
  for (auto [key, value] : obj) {
    if (key == "texts") {
      simdjson::dom::array a;
      if (value.get(a)) return bad("'texts' must be an array of strings");
      if (a.size() > max_texts)
        return make_status(errc::payload_too_large,
                           "'texts' holds more than " + std::to_string(max_texts) + " texts");
      for (auto t : a) {
        std::string_view s;
        if (t.get(s)) return bad("'texts' must be an array of strings");
        r.texts.emplace_back(s);
      }
      texts = true;
    } else if (key == "embedder") {
      std::string_view s;
      if (value.get(s)) return bad("'embedder' must be a string");
      r.embedder = std::string(s);
    } else if (key == "dimension") {
      std::uint64_t d = 0;
      if (value.get(d) || d < 1 || d > index_limits::max_dimension)
        return bad("'dimension' must be an integer from 1 to " +
                   std::to_string(index_limits::max_dimension));
      r.dimension = static_cast<std::uint32_t>(d);
    } else {
      return bad("unknown field '" + std::string(key) + "'");
    }
  }
  if (!texts) return bad("missing field 'texts'");
  if (!embedder_name_ok(r.embedder))
    return bad("'embedder' is not an embedder's name (1-64 of a-z, 0-9, '_', '.', '-')");
  return r;
}

expected<std::string> embed_texts(const embed_request& r, const embedder_set& set) {
  const auto* e = set.find(r.embedder);
  auto dimension = r.dimension;
  if (dimension == 0 && e != nullptr)
    dimension = e->dimension() != 0 ? e->dimension() : hash_embedder::default_dimension;
  std::vector<std::string_view> texts(r.texts.begin(), r.texts.end());
  auto vectors = set.embed(r.embedder, dimension, texts);
  if (!vectors) {
    auto st = std::move(vectors).error();
    for (auto& [key, value] : st.details)
      if (key == "index") st.message = "text " + std::to_string(value) + ": " + st.message;
    return st;
  }
  detail::json_writer w;
  w.begin_object();
  w.key("vectors");
  w.begin_array(vectors->size());
  for (const auto& v : *vectors) w.floats(v);
  w.end_array();
  w.key("dimension");
  w.uinteger(dimension);
  w.key("embedder");
  w.string(r.embedder);
  w.end_object();
  return w.take();
}

}  // namespace quiver::matrix
