// The coordinator's catalog on etcd: every change is written to etcd first (by
// the elected controller, fenced), then mirrored at storage, which holds the
// indexes' logs and needs to know them (under etcd's incarnations).

#include <spdlog/spdlog.h>
#include <caf/all.hpp>

#include <optional>
#include <set>

#include "actors/registry/detail/on_worker.hpp"
#include "actors/registry/detail/registry_state.hpp"
#include "actors/wire/caf_error.hpp"

namespace quiver::registry_detail {

bool catalog_in_etcd(registry_actor* self) {
  const auto& m = self->state.coordination.metadata;
  return m && m->catalog;
}

namespace {

// Runs a catalog write on the worker; a write that found the lease gone ends
// this process's leadership.
template <class T>
void write_on_worker(registry_actor* self, std::function<T(catalog_store&)> job,
                     std::function<void(T&)> done) {
  struct outcome {
    std::optional<T> value;
    bool leading = true;
  };
  on_worker<outcome>(
      self,
      [job](controller_metadata& m) {
        outcome o;
        o.value.emplace(job(*m.catalog));
        o.leading = m.store->leading();
        return o;
      },
      [self, done](outcome& o) {
        if (!o.leading) lose_lead(self, "a catalog write found the controller key gone");
        done(*o.value);
      });
}

// Storage learns of an index of the catalog (idempotent).
void mirror_create(registry_actor* self, const catalog_entry& e, std::function<void(status)> done) {
  if (!self->state.env->persistence) return done(status::success());  // no storage here
  self->request(self->state.env->persistence, self->state.env->timeout,
                catalog_create_request{e.tenant, e.params, e.incarnation})
      .then([done](catalog_create_reply&) { done(status::success()); },
            [done](caf::error& err) { done(from_caf_error(err)); });
}

void mirror_drop(registry_actor* self, const tenant_id& tenant, const std::string& name,
                 std::function<void(status)> done) {
  if (!self->state.env->persistence) return done(status::success());
  self->request(self->state.env->persistence, self->state.env->timeout,
                catalog_drop_request{tenant, name})
      .then([done](bool) { done(status::success()); },
            [done](caf::error& err) {
              auto st = from_caf_error(err);
              done(st.code == errc::index_not_found ? status::success() : st);
            });
}

}  // namespace

void create_in_catalog(registry_actor* self, const tenant_id& tenant, const index_params& params,
                       std::function<void(expected<catalog_create_reply>)> done) {
  using result = expected<std::pair<catalog_entry, bool>>;
  write_on_worker<result>(
      self, [tenant, params](catalog_store& c) { return c.create_index(tenant, params); },
      [self, done](result& r) {
        if (!r) return done(r.error());
        // Mirrored whether or not this call created it: a create retried after a
        // failed mirror completes it.
        catalog_create_reply reply{r->first, r->second};
        mirror_create(self, reply.entry, [done, reply](status st) {
          if (!st.ok()) return done(st);
          done(reply);
        });
      });
}

void drop_from_catalog(registry_actor* self, const tenant_id& tenant, const std::string& name,
                       std::function<void(status)> done) {
  write_on_worker<status>(
      self, [tenant, name](catalog_store& c) { return c.drop_index(tenant, name); },
      [self, tenant, name, done](status& st) {
        if (!st.ok()) return done(st);
        // Dropped for good once etcd says so; storage's files follow (if that
        // fails they stay, unserved, until the name is created again).
        mirror_drop(self, tenant, name, [tenant, name](status s) {
          if (!s.ok())
            spdlog::warn("dropped index {}/{}, but storage kept it: {}", tenant.value, name,
                         s.message);
        });
        done(status::success());
      });
}

void change_catalog(registry_actor* self, std::function<status(catalog_store&)> job,
                    std::function<void(status)> done) {
  write_on_worker<status>(self, std::move(job), std::move(done));
}

void adopt_catalog(registry_actor* self, catalog_store::contents catalog,
                   std::function<void()> then) {
  if (!self->state.env->persistence) {
    apply_catalog(self, catalog.tenants, catalog.indexes);
    return then();
  }
  auto retry = [self, catalog, then](const status& why) {
    spdlog::warn("cannot mirror etcd's catalog at storage yet ({}); trying again", why.message);
    self->delayed_send(self, std::chrono::seconds(1), coordinator_call{[self, catalog, then] {
                         adopt_catalog(self, catalog, then);
                       }});
  };
  self->request(self->state.env->persistence, self->state.env->timeout, catalog_list_request{})
      .then(
          [self, catalog, then, retry](std::vector<catalog_entry>& stored) {
            std::set<std::pair<std::string, std::string>> wanted;
            for (auto& e : catalog.indexes) wanted.insert({e.tenant.value, e.params.name});
            struct pending {
              std::size_t left = 0;
              status failure;
            };
            auto p = std::make_shared<pending>();
            auto finish = [self, p, catalog, then, retry](status st) {
              if (!st.ok() && p->failure.ok()) p->failure = st;
              if (--p->left > 0) return;
              if (!p->failure.ok()) return retry(p->failure);
              apply_catalog(self, catalog.tenants, catalog.indexes);
              then();
            };
            // Indexes storage holds and etcd does not are kept, not dropped: a
            // drop whose mirror failed leaves files behind, but a storaged pointed
            // at another cluster's etcd (or prefix) must not lose its data.
            for (auto& e : stored)
              if (!wanted.count({e.tenant.value, e.params.name}))
                spdlog::warn(
                    "storage holds index {}/{}@{}, which etcd's catalog does not: not served, "
                    "its files kept (is this storaged pointed at its own cluster's etcd prefix?)",
                    e.tenant.value, e.params.name, e.incarnation);
            p->left = 1 + catalog.indexes.size();
            // A newer incarnation replaces the older one at storage.
            for (auto& e : catalog.indexes) mirror_create(self, e, finish);
            finish(status::success());
          },
          [retry](caf::error& e) { retry(from_caf_error(e)); });
}

}  // namespace quiver::registry_detail
