#include "common/filter.hpp"

#include <simdjson.h>

#include <cmath>

namespace quiver {

namespace {

using element = simdjson::dom::element;
using etype = simdjson::dom::element_type;

bool is_number(const element& e) {
  auto t = e.type();
  return t == etype::INT64 || t == etype::UINT64 || t == etype::DOUBLE;
}

double number(const element& e) {
  switch (e.type()) {
    case etype::INT64:
      return double(e.get_int64().value_unsafe());
    case etype::UINT64:
      return double(e.get_uint64().value_unsafe());
    default:
      return e.get_double().value_unsafe();
  }
}

// Strings equal strings and bools bools; numbers equal by value, so 3 matches 3.0.
bool equal(const element& e, const filter_value& v) {
  switch (v.t) {
    case filter_value::type::string:
      return e.type() == etype::STRING && e.get_string().value_unsafe() == v.s;
    case filter_value::type::boolean:
      return e.type() == etype::BOOL && e.get_bool().value_unsafe() == v.b;
    case filter_value::type::integer:
      if (e.type() == etype::INT64) return e.get_int64().value_unsafe() == v.i;
      if (e.type() == etype::UINT64)
        return v.i >= 0 && e.get_uint64().value_unsafe() == std::uint64_t(v.i);
      return e.type() == etype::DOUBLE && e.get_double().value_unsafe() == double(v.i);
    case filter_value::type::floating:
      return is_number(e) && number(e) == v.f;
  }
  return false;
}

// `field`: the metadata's value for the node's key, or null when it has none.
bool condition_holds(const filter_node& n, const element* field) {
  bool present = field && field->type() != etype::NULL_VALUE;
  if (n.kind == filter_node::op::exists) return present == n.exists;
  if (!present) return false;
  switch (n.kind) {
    case filter_node::op::match:
    case filter_node::op::in:
      for (const auto& v : n.values)
        if (equal(*field, v)) return true;
      return false;
    case filter_node::op::range:
      return is_number(*field) && within_range(n, number(*field));
    case filter_node::op::contains: {
      if (field->type() != etype::ARRAY) return false;
      simdjson::dom::array items = field->get_array().value_unsafe();
      for (auto x : items)
        if (equal(x, n.values.front())) return true;
      return false;
    }
    default:
      return false;
  }
}

// One condition node on the fields of a document (null: a document without any).
bool condition_on(const filter_node& n, const simdjson::dom::object* fields) {
  if (!fields) return condition_holds(n, nullptr);
  auto v = fields->at_key(n.key);
  if (v.error()) return condition_holds(n, nullptr);
  element e = v.value_unsafe();
  return condition_holds(n, &e);
}

}  // namespace

std::string filter_problem(const metadata_filter& f) {
  if (f.nodes.empty()) return {};
  if (f.nodes.size() > filter_limits::max_conditions + 1)
    return "the filter has too many conditions";
  if (f.nodes[0].kind != filter_node::op::group) return "the filter's root must be a group";
  std::vector<std::size_t> depth(f.nodes.size(), 0);
  std::vector<bool> reached(f.nodes.size(), false);
  reached[0] = true;
  depth[0] = 1;
  for (std::size_t i = 0; i < f.nodes.size(); ++i) {
    const auto& n = f.nodes[i];
    if (!reached[i]) return "filter node " + std::to_string(i) + " belongs to no group";
    switch (n.kind) {
      case filter_node::op::group:
        for (const auto* list : {&n.must, &n.should, &n.must_not})
          for (auto c : *list) {
            if (c <= i || c >= f.nodes.size() || reached[c])
              return "filter node " + std::to_string(i) + " refers to a node out of order";
            reached[c] = true;
            depth[c] = depth[i] + 1;
            if (f.nodes[c].kind == filter_node::op::group && depth[c] > filter_limits::max_depth)
              return "the filter nests deeper than " + std::to_string(filter_limits::max_depth);
          }
        break;
      case filter_node::op::match:
      case filter_node::op::contains:
        if (n.values.size() != 1) return "filter node " + std::to_string(i) + " needs one value";
        break;
      case filter_node::op::in:
        if (n.values.empty()) return "filter node " + std::to_string(i) + " has an empty 'in'";
        break;
      case filter_node::op::range:
        if (n.bounds == 0 || n.bounds > 15)
          return "filter node " + std::to_string(i) + " has a range without bounds";
        for (double b : {n.gt_v, n.gte_v, n.lt_v, n.lte_v})
          if (!std::isfinite(b))
            return "filter node " + std::to_string(i) + " has a bound that is not finite";
        break;
      case filter_node::op::exists:
        break;
      default:
        return "filter node " + std::to_string(i) + " has an unknown operator";
    }
    if (n.kind != filter_node::op::group && n.key.empty())
      return "filter node " + std::to_string(i) + " names no key";
  }
  return {};
}

struct filter_matcher::impl {
  explicit impl(const metadata_filter& f) : filter(f) {}
  const metadata_filter& filter;
  simdjson::dom::parser parser;
  std::string padded;  // the metadata, copied with simdjson's padding (reused)
  simdjson::dom::object fields;
  bool has_fields = false;
};

filter_matcher::filter_matcher(const metadata_filter& f) : impl_(std::make_unique<impl>(f)) {}
filter_matcher::~filter_matcher() = default;

void filter_matcher::load(std::string_view metadata_json) {
  auto& d = *impl_;
  d.has_fields = false;
  if (metadata_json.empty()) return;
  d.padded.assign(metadata_json.data(), metadata_json.size());
  d.padded.resize(metadata_json.size() + simdjson::SIMDJSON_PADDING);
  auto doc = d.parser.parse(d.padded.data(), metadata_json.size(), false);
  // Stored metadata is always an object; anything else has no fields.
  d.has_fields = !doc.error() && !doc.get_object().get(d.fields);
}

bool filter_matcher::holds(std::uint32_t node) const {
  const auto& d = *impl_;
  return condition_on(d.filter.nodes[node], d.has_fields ? &d.fields : nullptr);
}

bool filter_matcher::matches(std::string_view metadata_json) {
  if (impl_->filter.empty()) return true;
  load(metadata_json);
  auto condition = [this](std::uint32_t node) { return holds(node); };
  return evaluate_filter(impl_->filter, condition);
}

const char* field_type_name(field_type t) {
  switch (t) {
    case field_type::keyword:
      return "keyword";
    case field_type::integer:
      return "integer";
    case field_type::floating:
      return "float";
    case field_type::boolean:
      return "bool";
  }
  return "unknown";
}

bool parse_field_type(std::string_view name, field_type& out) {
  for (auto t :
       {field_type::keyword, field_type::integer, field_type::floating, field_type::boolean})
    if (name == field_type_name(t)) {
      out = t;
      return true;
    }
  return false;
}

}  // namespace quiver
