#include "etcd/etcd_client.hpp"

#include "common/parse.hpp"

namespace quiver::etcd {

compare compare::absent(std::string key) {
  compare c;
  c.key = std::move(key);
  c.what = target::create_revision;
  c.number = 0;
  return c;
}

compare compare::mod_revision_is(std::string key, std::int64_t revision) {
  compare c;
  c.key = std::move(key);
  c.what = target::mod_revision;
  c.number = revision;
  return c;
}

compare compare::value_is(std::string key, std::string value) {
  compare c;
  c.key = std::move(key);
  c.what = target::value;
  c.value = std::move(value);
  return c;
}

operation operation::get(std::string key) {
  operation op;
  op.what = kind::range;
  op.key = std::move(key);
  return op;
}

operation operation::get_prefix(std::string prefix) {
  operation op;
  op.what = kind::range;
  op.range_end = prefix_end(prefix);
  op.key = std::move(prefix);
  return op;
}

operation operation::put(std::string key, std::string value, std::int64_t lease) {
  operation op;
  op.what = kind::put;
  op.key = std::move(key);
  op.value = std::move(value);
  op.lease = lease;
  return op;
}

operation operation::erase(std::string key) {
  operation op;
  op.what = kind::delete_range;
  op.key = std::move(key);
  return op;
}

operation operation::erase_prefix(std::string prefix) {
  auto op = erase(std::move(prefix));
  op.range_end = prefix_end(op.key);
  return op;
}

std::string prefix_end(const std::string& prefix) {
  std::string end = prefix;
  while (!end.empty()) {
    auto& last = reinterpret_cast<unsigned char&>(end.back());
    if (last < 0xff) {
      ++last;
      return end;
    }
    end.pop_back();
  }
  return std::string(1, '\0');  // every key: etcd's "range_end = \0"
}

expected<std::vector<endpoint>> parse_endpoints(const std::string& list) {
  std::vector<endpoint> out;
  std::size_t start = 0;
  while (start <= list.size()) {
    std::size_t comma = list.find(',', start);
    std::string_view item(list.data() + start,
                          (comma == std::string::npos ? list.size() : comma) - start);
    if (item.substr(0, 7) == "http://") item.remove_prefix(7);
    if (item.substr(0, 8) == "https://") item.remove_prefix(8);
    auto hp = parse_host_port(item);
    if (!hp)
      return make_status(errc::invalid_argument,
                         "an etcd endpoint must be host:port, got '" + std::string(item) + "'");
    out.push_back(endpoint{hp->first, hp->second});
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  if (out.empty()) return make_status(errc::invalid_argument, "no etcd endpoint given");
  return out;
}

}  // namespace quiver::etcd
