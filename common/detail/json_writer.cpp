#include "common/detail/json_writer.hpp"

#include <fmt/format.h>

#include <cfloat>
#include <cmath>
#include <iterator>

namespace quiver::detail {

void json_writer::separate() {
  if (after_key_) {
    after_key_ = false;
    return;
  }
  if (!first_.empty()) {
    if (!first_.back()) out_.push_back(',');
    first_.back() = false;
  }
}

void json_writer::begin_object(std::size_t) {
  separate();
  out_.push_back('{');
  first_.push_back(true);
}

void json_writer::end_object() {
  out_.push_back('}');
  first_.pop_back();
}

void json_writer::begin_array(std::size_t) {
  separate();
  out_.push_back('[');
  first_.push_back(true);
}

void json_writer::end_array() {
  out_.push_back(']');
  first_.pop_back();
}

void json_writer::key(std::string_view k) {
  string(k);
  out_.push_back(':');
  after_key_ = true;
}

void json_writer::string(std::string_view s) {
  separate();
  out_.push_back('"');
  for (char c : s) {
    auto u = static_cast<unsigned char>(c);
    switch (c) {
      case '"':
        out_ += "\\\"";
        break;
      case '\\':
        out_ += "\\\\";
        break;
      case '\n':
        out_ += "\\n";
        break;
      case '\r':
        out_ += "\\r";
        break;
      case '\t':
        out_ += "\\t";
        break;
      case '\b':
        out_ += "\\b";
        break;
      case '\f':
        out_ += "\\f";
        break;
      default:
        if (u < 0x20) {
          fmt::format_to(std::back_inserter(out_), "\\u{:04x}", u);
        } else {
          out_.push_back(c);
        }
    }
  }
  out_.push_back('"');
}

void json_writer::integer(std::int64_t v) {
  separate();
  fmt::format_to(std::back_inserter(out_), "{}", v);
}

void json_writer::uinteger(std::uint64_t v) {
  separate();
  fmt::format_to(std::back_inserter(out_), "{}", v);
}

void json_writer::number(double v) {
  separate();
  if (!std::isfinite(v)) {
    out_ += "null";
    return;
  }
  fmt::format_to(std::back_inserter(out_), "{}", v);
}

void json_writer::number(float v) {
  separate();
  // JSON has no NaN or infinity; a distance can overflow float for huge inputs.
  if (std::isnan(v)) {
    out_ += "null";
    return;
  }
  if (std::isinf(v)) v = v > 0 ? FLT_MAX : -FLT_MAX;
  fmt::format_to(std::back_inserter(out_), "{}", v);  // shortest text that reads back as v
}

void json_writer::boolean(bool v) {
  separate();
  out_ += v ? "true" : "false";
}

void json_writer::null() {
  separate();
  out_ += "null";
}

void json_writer::raw(std::string_view json) {
  separate();
  out_ += json;
}

void json_writer::floats(const std::vector<float>& v) {
  begin_array();
  for (float x : v) number(x);
  end_array();
}

}  // namespace quiver::detail
