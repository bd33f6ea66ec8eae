#include "matrix/embed_api.hpp"

#include <simdjson.h>

#include "common/detail/json_writer.hpp"
#include "matrix/hash_embedder.hpp"

namespace quiver::matrix {

namespace {

status bad(const std::string& why) { return make_status(errc::invalid_argument, why); }

}  // namespace

expected<std::vector<float>> embed_text(const std::string& embedder, std::uint32_t dimension,
                                        std::string_view text) {
  if (embedder != hash_embedder::name)
    return bad("unknown embedder '" + embedder + "'; this server has \"" + hash_embedder::name +
               "\"");
  return hash_embedder(dimension).embed(text);
}

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
      if (value.get(d) || d < hash_embedder::min_dimension || d > hash_embedder::max_dimension)
        return bad("'dimension' must be an integer from " +
                   std::to_string(hash_embedder::min_dimension) + " to " +
                   std::to_string(hash_embedder::max_dimension));
      r.dimension = static_cast<std::uint32_t>(d);
    } else {
      return bad("unknown field '" + std::string(key) + "'");
    }
  }
  if (!texts) return bad("missing field 'texts'");
  if (r.embedder != hash_embedder::name)
    return bad("unknown embedder '" + r.embedder + "'; this server has \"" + hash_embedder::name +
               "\"");
  return r;
}

expected<std::string> embed_texts(const embed_request& r) {
  hash_embedder e(r.dimension);
  detail::json_writer w;
  w.begin_object();
  w.key("vectors");
  w.begin_array();
  for (std::size_t i = 0; i < r.texts.size(); ++i) {
    auto v = e.embed(r.texts[i]);
    if (!v) {
      auto st = v.error();
      st.message = "text " + std::to_string(i) + ": " + st.message;
      st.details.emplace_back("index", static_cast<std::int64_t>(i));
      return st;
    }
    w.floats(*v);
  }
  w.end_array();
  w.key("dimension");
  w.uinteger(r.dimension);
  w.key("embedder");
  w.string(r.embedder);
  w.end_object();
  return w.take();
}

}  // namespace quiver::matrix
