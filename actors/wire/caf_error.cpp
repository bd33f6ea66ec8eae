#include "actors/wire/caf_error.hpp"

#include <caf/all.hpp>

namespace quiver {

namespace {
constexpr auto quiver_category = caf::atom("quiver");
}

caf::error to_caf_error(const status& st) {
  std::vector<std::string> keys;
  std::vector<std::int64_t> values;
  for (const auto& [k, v] : st.details) {
    keys.push_back(k);
    values.push_back(v);
  }
  std::vector<std::string> text_keys;
  std::vector<std::string> text_values;
  for (const auto& [k, v] : st.text_details) {
    text_keys.push_back(k);
    text_values.push_back(v);
  }
  return caf::error(static_cast<std::uint8_t>(st.code), quiver_category,
                    caf::make_message(st.message, std::move(keys), std::move(values),
                                      std::move(text_keys), std::move(text_values)));
}

status from_caf_error(const caf::error& e) {
  if (e.category() == quiver_category) {
    status st;
    st.code = static_cast<errc>(e.code());
    const auto& ctx = e.context();
    using strings = std::vector<std::string>;
    if (ctx.match_elements<std::string, strings, std::vector<std::int64_t>, strings, strings>()) {
      st.message = ctx.get_as<std::string>(0);
      const auto& keys = ctx.get_as<strings>(1);
      const auto& values = ctx.get_as<std::vector<std::int64_t>>(2);
      for (std::size_t i = 0; i < keys.size() && i < values.size(); ++i)
        st.details.emplace_back(keys[i], values[i]);
      const auto& text_keys = ctx.get_as<strings>(3);
      const auto& text_values = ctx.get_as<strings>(4);
      for (std::size_t i = 0; i < text_keys.size() && i < text_values.size(); ++i)
        st.text_details.emplace_back(text_keys[i], text_values[i]);
    }
    return st;
  }
  if (e == caf::sec::request_timeout)
    return make_status(errc::unavailable, "the request timed out inside the server");
  if (e == caf::sec::request_receiver_down || e == caf::exit_reason::user_shutdown)
    return make_status(errc::unavailable, "the shard serving this request is not available");
  return make_status(errc::internal, "actor error: " + caf::to_string(e));
}

}  // namespace quiver
