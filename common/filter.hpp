#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace quiver {

// A scalar a condition compares with: a string, an integer, a float or a bool.
struct filter_value {
  enum class type : std::uint8_t { string, integer, floating, boolean };
  type t = type::string;
  std::string s;
  std::int64_t i = 0;
  double f = 0;
  bool b = false;
};
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, filter_value& x) {
  return f(x.t, x.s, x.i, x.f, x.b);
}

// One node of a metadata filter (API.md, "Filters"). A group holds conditions by
// their index in metadata_filter::nodes; a condition tests one top-level field.
struct filter_node {
  enum class op : std::uint8_t { group, match, in, range, contains, exists };
  // The bounds a range has.
  enum bound : std::uint8_t { gt = 1, gte = 2, lt = 4, lte = 8 };
  op kind = op::group;
  std::string key;
  std::vector<filter_value> values;  // match, contains: one; in: one or more
  std::uint8_t bounds = 0;           // range: the bounds given
  double gt_v = 0, gte_v = 0, lt_v = 0, lte_v = 0;
  bool exists = true;
  std::vector<std::uint32_t> must, should, must_not;  // group: child nodes
};
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, filter_node& x) {
  return f(x.kind, x.key, x.values, x.bounds, x.gt_v, x.gte_v, x.lt_v, x.lte_v, x.exists, x.must,
           x.should, x.must_not);
}

// A filter over the top-level fields of a vector's metadata object, flattened so
// that it crosses the wire as plain records: nodes[0] is the root group, and a
// group's children come after it. No nodes: no filter (everything matches).
struct metadata_filter {
  std::vector<filter_node> nodes;
  bool empty() const { return nodes.empty(); }
};
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, metadata_filter& x) {
  return f(x.nodes);
}

struct filter_limits {
  static constexpr std::size_t max_depth = 8;
  static constexpr std::size_t max_conditions = 1024;
};

// Whether x lies within every bound of a range node.
inline bool within_range(const filter_node& n, double x) {
  if ((n.bounds & filter_node::gt) && !(x > n.gt_v)) return false;
  if ((n.bounds & filter_node::gte) && !(x >= n.gte_v)) return false;
  if ((n.bounds & filter_node::lt) && !(x < n.lt_v)) return false;
  if ((n.bounds & filter_node::lte) && !(x <= n.lte_v)) return false;
  return true;
}

// Evaluates the filter's groups; `condition(node)` answers each condition node.
template <class Condition>
bool evaluate_filter(const metadata_filter& f, Condition& condition, std::uint32_t at = 0) {
  const auto& n = f.nodes[at];
  if (n.kind != filter_node::op::group) return condition(at);
  for (auto c : n.must)
    if (!evaluate_filter(f, condition, c)) return false;
  for (auto c : n.must_not)
    if (evaluate_filter(f, condition, c)) return false;
  if (n.should.empty()) return true;
  for (auto c : n.should)
    if (evaluate_filter(f, condition, c)) return true;
  return false;
}

// What a payload index of a metadata field holds (API.md, "Payload indexes").
enum class field_type : std::uint8_t { keyword = 1, integer = 2, floating = 3, boolean = 4 };
// "keyword", "integer", "float", "bool".
const char* field_type_name(field_type t);
// The type a name gives; false when it names none.
bool parse_field_type(std::string_view name, field_type& out);

struct field_def {
  std::string name;
  field_type type = field_type::keyword;
};
inline bool operator==(const field_def& a, const field_def& b) {
  return a.name == b.name && a.type == b.type;
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, field_def& x) {
  return f(x.name, x.type);
}

// Checks what a parser or the wire handed over: indexes in range and pointing
// forward (so no cycles), depth and size within filter_limits, every condition
// well formed. Returns an empty string when it holds, else what is wrong.
std::string filter_problem(const metadata_filter& f);

// Evaluates one filter against stored metadata (the JSON text of an object, or
// empty for none). Keeps a parser of its own: one per thread, not shared.
class filter_matcher {
 public:
  explicit filter_matcher(const metadata_filter& f);
  ~filter_matcher();
  filter_matcher(const filter_matcher&) = delete;
  filter_matcher& operator=(const filter_matcher&) = delete;

  bool matches(std::string_view metadata_json);

  // For matchers that answer some conditions themselves: loads the metadata, after
  // which holds(node) answers one condition node of the filter on it.
  void load(std::string_view metadata_json);
  bool holds(std::uint32_t node) const;

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace quiver
