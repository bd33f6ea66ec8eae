#include "actors/controller/catalog_store.hpp"

#include <algorithm>
#include <functional>
#include <optional>

namespace quiver {
namespace {

// etcd refuses transactions of more than 128 operations by default.
constexpr std::size_t max_ops_per_txn = 100;

status not_leading() {
  return make_status(errc::stale_epoch, "this process is not the cluster's controller");
}

status unreadable(const std::string& key, status st) {
  st.message = key + ": " + st.message;
  return st;
}

// What one write changes: the operations besides the catalog record's (none:
// nothing to write), and what the cache becomes once they hold.
struct catalog_plan {
  std::vector<etcd::operation> ops;
  std::uint64_t next_incarnation = 0;
  std::function<void(catalog_store::contents&)> apply;
};

}  // namespace

catalog_store::catalog_store(etcd::client& etcd, metadata_store& leader)
    : etcd_(etcd), leader_(leader) {}

expected<catalog_store::contents> catalog_store::load() {
  const auto& keys = leader_.keys();
  auto r = etcd_.txn(
      {}, {etcd::operation::get(keys.catalog()), etcd::operation::get_prefix(keys.tenants()),
           etcd::operation::get_prefix(keys.indexes())});
  if (!r) return r.error();
  if (r->ranges.size() != 3) return make_status(errc::internal, "etcd: a short catalog read");
  contents out;
  std::uint64_t next = 1;
  std::int64_t revision = 0;
  if (!r->ranges[0].kvs.empty()) {
    auto& kv = r->ranges[0].kvs.front();
    auto rec = decode_catalog_record(kv.value);
    if (!rec) return unreadable(kv.key, rec.error());
    out.present = true;
    next = rec->next_incarnation;
    revision = kv.mod_revision;
  }
  for (auto& kv : r->ranges[1].kvs) {
    auto rec = decode_tenant_record(kv.value);
    if (!rec) return unreadable(kv.key, rec.error());
    if (keys.tenant(rec->name) != kv.key)
      return unreadable(kv.key, make_status(errc::internal, "a tenant record under another name"));
    out.tenants.push_back(std::move(*rec));
  }
  for (auto& kv : r->ranges[2].kvs) {
    auto rec = decode_index_record(kv.value);
    if (!rec) return unreadable(kv.key, rec.error());
    auto rest = kv.key.substr(keys.indexes().size());
    auto slash = rest.find('/');
    if (slash == std::string::npos || rest.substr(slash + 1) != rec->params.name)
      return unreadable(kv.key, make_status(errc::internal, "an index record under another name"));
    out.indexes.push_back({tenant_id{rest.substr(0, slash)}, rec->params, rec->incarnation});
  }
  cache_ = out;
  next_incarnation_ = next;
  catalog_revision_ = revision;
  return out;
}

status catalog_store::import(const std::vector<tenant_record>& tenants,
                             const std::vector<catalog_entry>& indexes) {
  if (!leader_.leading()) return not_leading();
  auto loaded = load();
  if (!loaded) return loaded.error();
  if (loaded->present) return status::success();
  const auto& keys = leader_.keys();
  std::vector<etcd::operation> puts;
  std::uint64_t next = 1;
  for (auto& t : tenants) puts.push_back(etcd::operation::put(keys.tenant(t.name), encode(t)));
  for (auto& e : indexes) {
    puts.push_back(etcd::operation::put(keys.index(e.tenant.value, e.params.name),
                                        encode(index_record{e.params, e.incarnation})));
    next = std::max(next, e.incarnation + 1);
  }
  // The catalog record goes last: until it is written, the import is not done and
  // a controller after a crash here imports again (the puts are idempotent).
  puts.push_back(etcd::operation::put(keys.catalog(), encode(catalog_record{next})));
  auto absent = etcd::compare::absent(keys.catalog());
  for (std::size_t at = 0; at < puts.size(); at += max_ops_per_txn) {
    std::vector<etcd::operation> batch(
        puts.begin() + static_cast<std::ptrdiff_t>(at),
        puts.begin() + static_cast<std::ptrdiff_t>(std::min(puts.size(), at + max_ops_per_txn)));
    auto r =
        etcd_.txn({leader_.leadership(), absent}, batch, {etcd::operation::get(keys.controller())});
    if (!r) return r.error();
    if (r->succeeded) continue;
    if (r->ranges.empty() || !leader_.still_leading(r->ranges[0])) return not_leading();
    break;  // another controller imported it first
  }
  auto after = load();
  if (!after) return after.error();
  if (!after->present) return make_status(errc::internal, "the catalog import left no record");
  return status::success();
}

template <class Attempt>
status catalog_store::write(Attempt attempt) {
  const auto& keys = leader_.keys();
  for (int round = 0; round < 2; ++round) {
    if (!leader_.leading()) return not_leading();
    expected<catalog_plan> plan = attempt();
    if (!plan) return plan.error();
    if (plan->ops.empty()) return status::success();
    auto next = std::max(plan->next_incarnation, next_incarnation_);
    auto ops = plan->ops;
    ops.push_back(etcd::operation::put(keys.catalog(), encode(catalog_record{next})));
    auto r = etcd_.txn(
        {leader_.leadership(), etcd::compare::mod_revision_is(keys.catalog(), catalog_revision_)},
        ops, {etcd::operation::get(keys.controller())});
    if (!r) return r.error();
    if (r->succeeded) {
      catalog_revision_ = r->revision;
      next_incarnation_ = next;
      cache_.present = true;
      plan->apply(cache_);
      return status::success();
    }
    if (r->ranges.empty() || !leader_.still_leading(r->ranges[0])) return not_leading();
    // Another writer changed the catalog: decide again on what it holds now.
    if (auto reloaded = load(); !reloaded) return reloaded.error();
  }
  return make_status(errc::unavailable, "the catalog keeps changing; try again");
}

const catalog_entry* catalog_store::find(const tenant_id& tenant, const std::string& name) const {
  for (auto& e : cache_.indexes)
    if (e.tenant == tenant && e.params.name == name) return &e;
  return nullptr;
}

const tenant_record* catalog_store::find_tenant(const std::string& name) const {
  for (auto& t : cache_.tenants)
    if (t.name == name) return &t;
  return nullptr;
}

expected<std::pair<catalog_entry, bool>> catalog_store::create_index(const tenant_id& tenant,
                                                                     const index_params& params) {
  if (auto st = validate_index_name(tenant.value); !st.ok())
    return make_status(errc::invalid_argument, "tenant name: " + st.message);
  if (auto st = validate_params(params); !st.ok()) return st;
  std::optional<std::pair<catalog_entry, bool>> out;
  auto st = write([&]() -> expected<catalog_plan> {
    if (auto* e = find(tenant, params.name)) {
      if (e->params != params)
        return make_status(errc::index_exists,
                           "index '" + params.name + "' exists with other parameters");
      out.emplace(*e, false);
      return catalog_plan{};
    }
    if (tenant != default_tenant()) {
      auto* t = find_tenant(tenant.value);
      if (t == nullptr) return make_status(errc::not_found, "no tenant '" + tenant.value + "'");
      auto max = t->quotas.max_indexes;
      auto owned = static_cast<std::uint64_t>(
          std::count_if(cache_.indexes.begin(), cache_.indexes.end(),
                        [&](const catalog_entry& e) { return e.tenant == tenant; }));
      if (max > 0 && owned >= max) {
        auto q = make_status(errc::quota_exceeded, "tenant '" + tenant.value + "' owns " +
                                                       std::to_string(owned) + " of " +
                                                       std::to_string(max) + " indexes");
        q.details.emplace_back("max_indexes", static_cast<std::int64_t>(max));
        return q;
      }
    }
    catalog_entry entry{tenant, params, next_incarnation_};
    catalog_plan plan;
    plan.ops.push_back(etcd::operation::put(leader_.keys().index(tenant.value, params.name),
                                            encode(index_record{params, entry.incarnation})));
    plan.next_incarnation = entry.incarnation + 1;
    plan.apply = [entry, &out](contents& c) {
      c.indexes.push_back(entry);
      out.emplace(entry, true);
    };
    return plan;
  });
  if (!st.ok()) return st;
  if (!out) return make_status(errc::internal, "a create that neither wrote nor found the index");
  return *out;
}

status catalog_store::drop_index(const tenant_id& tenant, const std::string& name) {
  return write([&]() -> expected<catalog_plan> {
    if (find(tenant, name) == nullptr)
      return make_status(errc::index_not_found, "no index '" + name + "'");
    catalog_plan plan;
    plan.ops.push_back(etcd::operation::erase(leader_.keys().index(tenant.value, name)));
    plan.apply = [tenant, name](contents& c) {
      c.indexes.erase(std::remove_if(c.indexes.begin(), c.indexes.end(),
                                     [&](const catalog_entry& e) {
                                       return e.tenant == tenant && e.params.name == name;
                                     }),
                      c.indexes.end());
    };
    return plan;
  });
}

status catalog_store::create_tenant(const tenant_record& t) {
  if (auto st = validate_index_name(t.name); !st.ok())
    return make_status(errc::invalid_argument, "tenant name: " + st.message);
  if (t.key_hash.size() != 64) return make_status(errc::internal, "a key hash is 64 hex digits");
  return write([&]() -> expected<catalog_plan> {
    if (find_tenant(t.name) != nullptr)
      return make_status(errc::tenant_exists, "tenant '" + t.name + "' exists");
    catalog_plan plan;
    plan.ops.push_back(etcd::operation::put(leader_.keys().tenant(t.name), encode(t)));
    plan.apply = [t](contents& c) { c.tenants.push_back(t); };
    return plan;
  });
}

status catalog_store::set_tenant_key(const std::string& name, const std::string& key_hash) {
  if (key_hash.size() != 64) return make_status(errc::internal, "a key hash is 64 hex digits");
  return write([&]() -> expected<catalog_plan> {
    const auto* found = find_tenant(name);
    if (found == nullptr) return make_status(errc::not_found, "no tenant '" + name + "'");
    auto t = *found;
    t.key_hash = key_hash;
    catalog_plan plan;
    plan.ops.push_back(etcd::operation::put(leader_.keys().tenant(name), encode(t)));
    plan.apply = [t](contents& c) {
      for (auto& x : c.tenants)
        if (x.name == t.name) x = t;
    };
    return plan;
  });
}

status catalog_store::drop_tenant(const std::string& name) {
  return write([&]() -> expected<catalog_plan> {
    if (find_tenant(name) == nullptr)
      return make_status(errc::not_found, "no tenant '" + name + "'");
    catalog_plan plan;
    plan.ops.push_back(etcd::operation::erase(leader_.keys().tenant(name)));
    plan.ops.push_back(etcd::operation::erase_prefix(leader_.keys().indexes_of(name)));
    plan.apply = [name](contents& c) {
      c.tenants.erase(std::remove_if(c.tenants.begin(), c.tenants.end(),
                                     [&](const tenant_record& t) { return t.name == name; }),
                      c.tenants.end());
      c.indexes.erase(
          std::remove_if(c.indexes.begin(), c.indexes.end(),
                         [&](const catalog_entry& e) { return e.tenant.value == name; }),
          c.indexes.end());
    };
    return plan;
  });
}

}  // namespace quiver
