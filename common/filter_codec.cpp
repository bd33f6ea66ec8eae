// Parses "filter" values of request bodies into metadata_filter, once for both
// body formats.
#include <cmath>
#include <string>

#include "common/detail/body_nodes.hpp"

namespace quiver::detail {

namespace {

constexpr std::size_t max_in_values = 1024;

status at(const std::string& path, const std::string& what) { return bad(path + ": " + what); }

template <class N>
class filter_parser {
 public:
  expected<metadata_filter> parse(const N& root) {
    if (auto st = group(root, "filter", 1); !st.ok()) return st;
    // {} (or groups of nothing) at the root: no filter.
    if (out_.nodes.size() == 1) out_.nodes.clear();
    return std::move(out_);
  }

 private:
  // Parses the group at `n` into a new node; children follow it.
  status group(const N& n, const std::string& path, std::size_t depth) {
    if (n.type() != kind::object) return at(path, "must be an object");
    if (depth > filter_limits::max_depth)
      return at(path, "nests deeper than " + std::to_string(filter_limits::max_depth));
    auto self = static_cast<std::uint32_t>(out_.nodes.size());
    out_.nodes.emplace_back();
    return n.each_field([&](std::string_view key, const N& v) -> status {
      auto child_path = path + "." + std::string(key);
      std::vector<std::uint32_t> children;
      if (key != "must" && key != "should" && key != "must_not")
        return at(path, "unknown field '" + std::string(key) +
                            "' (a group holds must, should "
                            "and must_not)");
      if (v.type() != kind::array) return at(child_path, "must be an array of conditions");
      status first;
      std::size_t i = 0;
      v.each_element([&](const N& c) {
        if (!first.ok()) return;
        auto index = static_cast<std::uint32_t>(out_.nodes.size());
        first = condition(c, child_path + "[" + std::to_string(i++) + "]", depth);
        children.push_back(index);
      });
      if (!first.ok()) return first;
      auto& g = out_.nodes[self];
      auto& list = key == "must" ? g.must : key == "should" ? g.should : g.must_not;
      list.insert(list.end(), children.begin(), children.end());
      return status::success();
    });
  }

  // A condition on a key, or a nested group.
  status condition(const N& n, const std::string& path, std::size_t depth) {
    if (n.type() != kind::object) return at(path, "must be an object");
    if (++conditions_ > filter_limits::max_conditions)
      return at(path, "the filter holds more than " +
                          std::to_string(filter_limits::max_conditions) + " conditions");
    bool has_key = false, nested = false;
    n.each_field([&](std::string_view key, const N&) -> status {
      has_key = has_key || key == "key";
      nested = nested || key == "must" || key == "should" || key == "must_not";
      return status::success();
    });
    if (!has_key) {
      if (!nested) return at(path, "must name a \"key\" or hold must, should or must_not");
      return group(n, path, depth + 1);
    }
    filter_node c;
    int operators = 0;
    auto st = n.each_field([&](std::string_view key, const N& v) -> status {
      auto here = path + "." + std::string(key);
      if (key == "key") {
        if (v.type() != kind::string || v.as_string().empty())
          return at(here, "must be a non-empty string");
        c.key = std::string(v.as_string());
        return status::success();
      }
      ++operators;
      if (key == "match" || key == "contains") {
        c.kind = key == "match" ? filter_node::op::match : filter_node::op::contains;
        c.values.emplace_back();
        return scalar(v, here, c.values.back());
      }
      if (key == "in") {
        c.kind = filter_node::op::in;
        if (v.type() != kind::array || v.size() == 0)
          return at(here, "must be a non-empty array of strings, integers or booleans");
        if (v.size() > max_in_values)
          return at(here, "holds more than " + std::to_string(max_in_values) + " values");
        status first;
        std::size_t i = 0;
        v.each_element([&](const N& x) {
          if (!first.ok()) return;
          c.values.emplace_back();
          first = scalar(x, here + "[" + std::to_string(i++) + "]", c.values.back());
        });
        return first;
      }
      if (key == "range") return range(v, here, c);
      if (key == "exists") {
        c.kind = filter_node::op::exists;
        if (v.type() != kind::boolean) return at(here, "must be true or false");
        c.exists = v.as_bool();
        return status::success();
      }
      return at(path, "unknown operator '" + std::string(key) +
                          "' (match, in, range, contains or exists)");
    });
    if (!st.ok()) return st;
    if (operators != 1)
      return at(path, "needs exactly one of match, in, range, contains or exists");
    out_.nodes.push_back(std::move(c));
    return status::success();
  }

  static status scalar(const N& v, const std::string& path, filter_value& out) {
    switch (v.type()) {
      case kind::string:
        out.t = filter_value::type::string;
        out.s = std::string(v.as_string());
        return status::success();
      case kind::integer:
        out.t = filter_value::type::integer;
        out.i = v.as_int();
        return status::success();
      case kind::boolean:
        out.t = filter_value::type::boolean;
        out.b = v.as_bool();
        return status::success();
      default:
        return at(path, "must be a string, an integer or a boolean");
    }
  }

  static status range(const N& v, const std::string& path, filter_node& c) {
    c.kind = filter_node::op::range;
    if (v.type() != kind::object) return at(path, "must be an object of gt, gte, lt, lte");
    auto st = v.each_field([&](std::string_view key, const N& x) -> status {
      auto here = path + "." + std::string(key);
      std::uint8_t bit = key == "gt"    ? filter_node::gt
                         : key == "gte" ? filter_node::gte
                         : key == "lt"  ? filter_node::lt
                         : key == "lte" ? filter_node::lte
                                        : 0;
      if (!bit) return at(path, "unknown bound '" + std::string(key) + "' (gt, gte, lt, lte)");
      if (x.type() != kind::integer && x.type() != kind::floating)
        return at(here, "must be a number");
      double d = x.as_double();
      if (!std::isfinite(d)) return at(here, "must be finite");
      c.bounds |= bit;
      (bit == filter_node::gt    ? c.gt_v
       : bit == filter_node::gte ? c.gte_v
       : bit == filter_node::lt  ? c.lt_v
                                 : c.lte_v) = d;
      return status::success();
    });
    if (!st.ok()) return st;
    if (c.bounds == 0) return at(path, "needs at least one of gt, gte, lt, lte");
    return status::success();
  }

  metadata_filter out_;
  std::size_t conditions_ = 0;
};

}  // namespace

expected<metadata_filter> read_filter(const json_node& n) {
  return filter_parser<json_node>().parse(n);
}

expected<metadata_filter> read_filter(const msgpack_node& n) {
  return filter_parser<msgpack_node>().parse(n);
}

}  // namespace quiver::detail
