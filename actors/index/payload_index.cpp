#include "actors/index/payload_index.hpp"

#include <simdjson.h>

#include <algorithm>
#include <cmath>
#include <limits>

namespace quiver {

namespace {

using element = simdjson::dom::element;
using etype = simdjson::dom::element_type;

constexpr std::uint32_t no_code = std::numeric_limits<std::uint32_t>::max();
// Integers a double holds exactly compare the same either way.
constexpr double exact_limit = 9007199254740992.0;  // 2^53

enum class answer { no, yes, unknown };

}  // namespace

struct payload_indexes::column {
  enum : std::uint8_t { missing = 0, value = 1, other = 2, array = 3 };

  explicit column(field_type t) : type(t) {}

  field_type type;
  std::vector<std::uint8_t> state;                                 // by label
  std::vector<std::uint32_t> codes;                                // keyword: dictionary code
  std::vector<std::int64_t> ints;                                  // integer
  std::vector<double> reals;                                       // float
  std::vector<std::uint8_t> flags;                                 // bool
  std::unordered_map<label_t, std::vector<std::uint32_t>> arrays;  // keyword: arrays of strings
  // The keyword dictionary; a code nothing refers to any more is reused.
  std::unordered_map<std::string, std::uint32_t> code_of;
  std::vector<std::string> value_of;
  std::vector<std::uint32_t> refs;
  std::vector<std::uint32_t> free_codes;

  void grow(label_t l) {
    if (l < state.size()) return;
    auto n = std::max<std::size_t>(l + 1, state.size() * 2);
    state.resize(n, missing);
    switch (type) {
      case field_type::keyword:
        codes.resize(n, no_code);
        break;
      case field_type::integer:
        ints.resize(n, 0);
        break;
      case field_type::floating:
        reals.resize(n, 0);
        break;
      case field_type::boolean:
        flags.resize(n, 0);
        break;
    }
  }

  std::uint32_t intern(std::string_view s) {
    auto it = code_of.find(std::string(s));
    if (it != code_of.end()) {
      ++refs[it->second];
      return it->second;
    }
    std::uint32_t c;
    if (!free_codes.empty()) {
      c = free_codes.back();
      free_codes.pop_back();
      value_of[c] = std::string(s);
      refs[c] = 1;
    } else {
      c = static_cast<std::uint32_t>(value_of.size());
      value_of.emplace_back(s);
      refs.push_back(1);
    }
    code_of.emplace(value_of[c], c);
    return c;
  }

  void release(std::uint32_t c) {
    if (--refs[c] > 0) return;
    code_of.erase(value_of[c]);
    value_of[c].clear();
    value_of[c].shrink_to_fit();
    free_codes.push_back(c);
  }

  void unset(label_t l) {
    if (l >= state.size()) return;
    if (type == field_type::keyword) {
      if (state[l] == value) release(codes[l]);
      if (state[l] == array) {
        auto it = arrays.find(l);
        for (auto c : it->second) release(c);
        arrays.erase(it);
      }
    }
    state[l] = missing;
  }

  // The label's value of the field: null (absent or JSON null) is missing.
  void put(label_t l, const element* e) {
    grow(l);
    unset(l);
    if (!e || e->type() == etype::NULL_VALUE) return;
    auto t = e->type();
    state[l] = other;
    switch (type) {
      case field_type::keyword:
        if (t == etype::STRING) {
          codes[l] = intern(e->get_string().value_unsafe());
          state[l] = value;
        } else if (t == etype::ARRAY) {
          simdjson::dom::array items = e->get_array().value_unsafe();
          std::vector<std::uint32_t> held;
          for (auto x : items)
            if (x.type() != etype::STRING) {
              for (auto c : held) release(c);
              return;  // other: not only strings
            } else {
              held.push_back(intern(x.get_string().value_unsafe()));
            }
          arrays[l] = std::move(held);
          state[l] = array;
        }
        return;
      case field_type::integer:
        if (t == etype::INT64) {
          ints[l] = e->get_int64().value_unsafe();
          state[l] = value;
        }
        return;
      case field_type::floating:
        if (t == etype::DOUBLE) {
          reals[l] = e->get_double().value_unsafe();
          state[l] = value;
        } else if (t == etype::INT64) {
          auto x = e->get_int64().value_unsafe();
          if (std::fabs(double(x)) < exact_limit) {
            reals[l] = double(x);
            state[l] = value;
          }
        }
        return;
      case field_type::boolean:
        if (t == etype::BOOL) {
          flags[l] = e->get_bool().value_unsafe() ? 1 : 0;
          state[l] = value;
        }
        return;
    }
  }

  // One value equal to a filter value, as filter_matcher compares them.
  bool equal(label_t l, const filter_value& v, std::uint32_t code) const {
    switch (type) {
      case field_type::keyword:
        return v.t == filter_value::type::string && codes[l] == code;
      case field_type::integer:
        if (v.t == filter_value::type::integer) return ints[l] == v.i;
        return v.t == filter_value::type::floating && double(ints[l]) == v.f;
      case field_type::floating:
        if (v.t == filter_value::type::integer) return reals[l] == double(v.i);
        return v.t == filter_value::type::floating && reals[l] == v.f;
      case field_type::boolean:
        return v.t == filter_value::type::boolean && (flags[l] != 0) == v.b;
    }
    return false;
  }

  answer test(label_t l, const filter_node& n,
              const std::vector<std::uint32_t>& value_codes) const {
    std::uint8_t s = l < state.size() ? state[l] : std::uint8_t{missing};
    if (n.kind == filter_node::op::exists)
      return (s != missing) == n.exists ? answer::yes : answer::no;
    if (s == missing) return answer::no;
    if (s == other) return answer::unknown;
    switch (n.kind) {
      case filter_node::op::match:
      case filter_node::op::in:
        if (s == array) return answer::no;  // an array equals no scalar
        for (std::size_t i = 0; i < n.values.size(); ++i)
          if (equal(l, n.values[i], value_codes[i])) return answer::yes;
        return answer::no;
      case filter_node::op::range:
        if (type == field_type::integer)
          return within_range(n, double(ints[l])) ? answer::yes : answer::no;
        if (type == field_type::floating)
          return within_range(n, reals[l]) ? answer::yes : answer::no;
        return answer::no;  // strings, arrays of strings and bools are no numbers
      case filter_node::op::contains: {
        if (s != array) return answer::no;  // not an array
        const auto& v = n.values.front();
        if (v.t != filter_value::type::string) return answer::no;  // strings only here
        const auto& held = arrays.at(l);
        return std::find(held.begin(), held.end(), value_codes.front()) != held.end() ? answer::yes
                                                                                      : answer::no;
      }
      default:
        return answer::unknown;
    }
  }

  std::size_t memory_bytes() const {
    std::size_t bytes = state.capacity() + codes.capacity() * 4 + ints.capacity() * 8 +
                        reals.capacity() * 8 + flags.capacity();
    for (const auto& [l, held] : arrays) bytes += 48 + held.capacity() * 4;
    for (const auto& v : value_of) bytes += 2 * (v.capacity() + 32) + 8;  // value + map key
    return bytes;
  }
};

namespace {

struct parsed_metadata {
  simdjson::dom::parser parser;
  std::string padded;
  simdjson::dom::object fields;

  bool load(std::string_view json) {
    if (json.empty()) return false;
    padded.assign(json.data(), json.size());
    padded.resize(json.size() + simdjson::SIMDJSON_PADDING);
    auto doc = parser.parse(padded.data(), json.size(), false);
    return !doc.error() && !doc.get_object().get(fields);
  }
  // The field's value, or null.
  bool lookup(const std::string& key, element& out) const {
    auto v = fields.at_key(key);
    if (v.error()) return false;
    out = v.value_unsafe();
    return true;
  }
};

thread_local parsed_metadata scratch;

}  // namespace

payload_indexes::payload_indexes() = default;
payload_indexes::~payload_indexes() = default;
payload_indexes::payload_indexes(payload_indexes&&) noexcept = default;
payload_indexes& payload_indexes::operator=(payload_indexes&&) noexcept = default;

std::vector<field_def> payload_indexes::list() const {
  std::vector<field_def> out;
  for (const auto& [name, col] : columns_) out.push_back({name, col->type});
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.name < b.name; });
  return out;
}

const field_type* payload_indexes::type_of(const std::string& field) const {
  auto it = columns_.find(field);
  return it == columns_.end() ? nullptr : &it->second->type;
}

void payload_indexes::add(const field_def& def, label_t labels, const metadata_of& metadata) {
  auto col = std::make_unique<column>(def.type);
  col->grow(labels ? labels - 1 : 0);
  for (label_t l = 0; l < labels; ++l) {
    element e;
    auto json = metadata(l);
    if (scratch.load(json) && scratch.lookup(def.name, e)) col->put(l, &e);
  }
  columns_[def.name] = std::move(col);
}

bool payload_indexes::drop(const std::string& field) { return columns_.erase(field) > 0; }

void payload_indexes::set(label_t label, std::string_view metadata_json) {
  if (columns_.empty()) return;
  bool loaded = scratch.load(metadata_json);
  for (auto& [name, col] : columns_) {
    element e;
    if (loaded && scratch.lookup(name, e)) {
      col->put(label, &e);
    } else {
      col->put(label, nullptr);
    }
  }
}

void payload_indexes::clear(label_t label) {
  for (auto& [name, col] : columns_) col->unset(label);
}

std::size_t payload_indexes::memory_bytes() const {
  std::size_t bytes = 0;
  for (const auto& [name, col] : columns_) bytes += col->memory_bytes() + name.size() + 64;
  return bytes;
}

payload_indexes::matcher::matcher(const payload_indexes& p, const metadata_filter& f)
    : filter_(f), json_(f), plans_(f.nodes.size()) {
  for (std::size_t i = 0; i < f.nodes.size(); ++i) {
    const auto& n = f.nodes[i];
    if (n.kind == filter_node::op::group) continue;
    auto it = p.columns_.find(n.key);
    if (it == p.columns_.end()) {
      all_indexed_ = false;
      continue;
    }
    auto& plan = plans_[i];
    plan.col = it->second.get();
    plan.codes.assign(n.values.size(), no_code);
    if (plan.col->type != field_type::keyword) continue;
    for (std::size_t v = 0; v < n.values.size(); ++v) {
      if (n.values[v].t != filter_value::type::string) continue;
      auto c = plan.col->code_of.find(n.values[v].s);
      if (c != plan.col->code_of.end()) plan.codes[v] = c->second;
    }
  }
  if (!f.empty() && all_indexed_) {
    const auto& root = f.nodes[0];
    conjunction_ = root.should.empty() && root.must_not.empty() &&
                   std::all_of(root.must.begin(), root.must.end(), [&](std::uint32_t c) {
                     return f.nodes[c].kind != filter_node::op::group;
                   });
  }
}

payload_indexes::matcher::~matcher() = default;

bool payload_indexes::matcher::matches(label_t label, const std::string& metadata_json) {
  if (filter_.empty()) return true;
  if (conjunction_) {
    // The common shape: must [conditions on indexed fields], nothing else.
    for (auto node : filter_.nodes[0].must) {
      const auto& plan = plans_[node];
      auto a = plan.col->test(label, filter_.nodes[node], plan.codes);
      if (a == answer::no) return false;
      if (a == answer::unknown) return general(label, metadata_json);
    }
    return true;
  }
  return general(label, metadata_json);
}

bool payload_indexes::matcher::general(label_t label, const std::string& metadata_json) {
  bool loaded = false;
  auto condition = [&](std::uint32_t node) {
    const auto& plan = plans_[node];
    if (plan.col) {
      auto a = plan.col->test(label, filter_.nodes[node], plan.codes);
      if (a != answer::unknown) return a == answer::yes;
    }
    if (!loaded) {
      json_.load(metadata_json);
      loaded = true;
    }
    return json_.holds(node);
  };
  return evaluate_filter(filter_, condition);
}

}  // namespace quiver
