// GET /v1/indexes/{name}/snapshot and POST /v1/indexes/{name}/restore.
//
// A backup is every shard primary's snapshot (one taken for the backup when the
// newest does not cover every applied write), read in checksummed chunks into a
// scratch file while writes go on, framed with a manifest (backup_file.hpp),
// then sent as the reply's body. A restore checks the whole uploaded file first
// (framing, manifest, every shard's checksum) and then rebuilds the index
// through the ordinary write path: it is created like any index (placed and
// replicated as the cluster places a create; the shard count may differ) and
// the snapshots' records are upserted a page at a time, under the tenant's
// quotas. A restore that fails after the create drops what it made.

#include <simdjson.h>

#include <charconv>
#include <chrono>
#include <future>
#include <optional>

#include "actors/index/shard_index.hpp"
#include "common/crc32c.hpp"
#include "common/detail/json_writer.hpp"
#include "common/env.hpp"
#include "daemons/gateway/backup_file.hpp"
#include "daemons/gateway/detail/handlers.hpp"
#include "daemons/gateway/detail/transfers.hpp"

namespace quiver::gateway {

namespace {

constexpr std::uint32_t restore_page = 1000;
constexpr std::uint64_t chunk_bytes = 4u << 20;
// A shard's snapshot replaced this often while it was read (heavy writes take
// snapshots often) fails the backup with 503.
constexpr int backup_attempts = 5;

// Waits for one router call; only on a transfer thread.
template <class R, class Call>
expected<R> wait(Call&& call) {
  auto p = std::make_shared<std::promise<expected<R>>>();
  auto f = p->get_future();
  call([p](expected<R> r) { p->set_value(std::move(r)); });
  return f.get();
}

status shutting_down() { return make_status(errc::unavailable, "the gateway is shutting down"); }

expected<backup_manifest> write_backup(services& s, const tenant_id& tenant,
                                       const std::string& index, const std::string& path) {
  auto& router = s.router;
  auto d = wait<index_description>([&](auto done) {
    router.describe_index({tenant, index}, std::move(done));
  });
  if (!d) return std::move(d).error();
  auto fields = wait<list_fields_reply>([&](auto done) {
    router.list_fields({tenant, index}, std::move(done));
  });
  if (!fields) return std::move(fields).error();
  auto w = backup_writer::create(env::posix(), path);
  if (!w) return std::move(w).error();
  auto& writer = **w;
  for (std::uint32_t shard = 0; shard < d->params.shards; ++shard) {
    for (int attempt = 0;; ++attempt) {
      auto prep = wait<backup_prepare_reply>([&](auto done) {
        router.backup_prepare({tenant, index, shard}, std::move(done));
      });
      if (!prep) return std::move(prep).error();
      if (attempt == 0) {
        writer.begin_shard(shard, prep->seq.value);
      } else if (auto st = writer.restart_shard(prep->seq.value); !st.ok()) {
        return st;
      }
      bool replaced = false;
      for (std::uint64_t offset = 0; offset < prep->bytes && !replaced;) {
        if (s.jobs.stopping()) return shutting_down();
        auto chunk = wait<snapshot_chunk>([&](auto done) {
          router.backup_chunk({tenant, index, shard, prep->seq, offset, chunk_bytes},
                              std::move(done));
        });
        if (!chunk && chunk.error().code == errc::not_found) {
          replaced = true;
          break;
        }
        if (!chunk) return std::move(chunk).error();
        if (chunk->bytes.empty() || chunk->offset != offset || chunk->total != prep->bytes ||
            crc32c(chunk->bytes.data(), chunk->bytes.size()) != chunk->crc)
          return make_status(errc::unavailable, "shard " + std::to_string(shard) +
                                                    ": a damaged snapshot chunk arrived; retry");
        if (auto st = writer.append(chunk->bytes); !st.ok()) return st;
        offset += chunk->bytes.size();
      }
      if (!replaced) break;
      if (attempt + 1 == backup_attempts)
        return make_status(errc::unavailable, "shard " + std::to_string(shard) +
                                                  "'s snapshot was replaced " +
                                                  std::to_string(backup_attempts) +
                                                  " times while it was read (heavy writes); retry");
    }
    writer.end_shard();
  }
  backup_manifest m;
  m.params = d->params;
  for (auto& f : fields->fields) m.fields.push_back(f.field);
  m.created_unix_ms =
      static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                     std::chrono::system_clock::now().time_since_epoch())
                                     .count());
  m.build = "quiver";
  if (auto st = writer.finish(m); !st.ok()) return st;
  return m;
}

struct restore_options {
  std::optional<std::uint32_t> shards, replicas;
};

struct restore_result {
  std::uint64_t restored = 0;
  backup_manifest manifest;
  index_params params;
};

// Rebuilds one shard's snapshot's records into the new index, a page at a time.
status restore_shard(services& s, const tenant_id& tenant, const index_params& p,
                     const std::string& file, const backup_shard& sh, std::uint64_t& restored) {
  auto& e = env::posix();
  auto tmp = s.jobs.scratch_path("restore-shard");
  auto st = e.copy_range(file, sh.offset, sh.bytes, tmp);
  auto loaded =
      st.ok() ? shard_index::load_snapshot(e, tmp) : expected<std::unique_ptr<shard_index>>(st);
  e.remove(tmp);
  if (!loaded)
    return make_status(errc::invalid_argument,
                       "shard " + std::to_string(sh.shard) +
                           " of the backup does not load: " + loaded.error().message);
  auto& shard = **loaded;
  if (shard.params().dimension != p.dimension || shard.params().distance != p.distance)
    return make_status(errc::invalid_argument,
                       "shard " + std::to_string(sh.shard) +
                           " of the backup holds another dimension or distance than its manifest");
  std::string after;
  for (;;) {
    if (s.jobs.stopping()) return shutting_down();
    auto page = shard.ids_after(after, restore_page);
    if (page.ids.empty()) break;
    upsert_request r{tenant, p.name, {}};
    for (auto& id : page.ids)
      if (auto rec = shard.get(id))
        r.items.push_back({std::move(rec->id), std::move(rec->vector), std::move(rec->metadata)});
    auto n = r.items.size();
    auto up =
        wait<upsert_reply>([&](auto done) { s.router.upsert(std::move(r), std::move(done)); });
    if (!up) return std::move(up).error();
    restored += n;
    if (!page.more) break;
    after = page.ids.back();
  }
  return status::success();
}

expected<restore_result> run_restore(services& s, const tenant_id& tenant,
                                     const std::string& target, const std::string& file,
                                     const restore_options& opt) {
  auto m = verify_backup(env::posix(), file);
  if (!m) return std::move(m).error();
  restore_result out;
  out.manifest = *m;
  auto& p = out.params;
  p = m->params;
  p.name = target;
  if (opt.shards) p.shards = *opt.shards;
  if (opt.replicas) p.replicas = *opt.replicas;
  if (auto st = validate_params(p); !st.ok()) return st;
  auto& router = s.router;
  auto existing = wait<index_description>([&](auto done) {
    router.describe_index({tenant, target}, std::move(done));
  });
  if (existing)
    return make_status(errc::index_exists, "index '" + target +
                                               "' exists; a restore creates its index: drop it "
                                               "first or restore under another name");
  if (existing.error().code != errc::index_not_found) return std::move(existing).error();
  auto created = wait<create_index_reply>([&](auto done) {
    router.create_index({tenant, p}, std::move(done));
  });
  if (!created) return std::move(created).error();
  if (!created->created)
    return make_status(errc::index_exists, "index '" + target + "' was created meanwhile");
  auto undo = [&](status st) {
    wait<bool>([&](auto done) { router.drop_index({tenant, target}, std::move(done)); });
    st.message = "restore stopped and its index was dropped: " + st.message;
    return st;
  };
  for (auto& f : m->fields) {
    auto r = wait<field_index_reply>([&](auto done) {
      router.field_index({tenant, target, f, false}, std::move(done));
    });
    if (!r) return undo(r.error());
  }
  for (auto& sh : m->shards) {
    if (sh.bytes == 0) continue;
    if (auto st = restore_shard(s, tenant, p, file, sh, out.restored); !st.ok()) return undo(st);
  }
  return out;
}

bool parse_count(std::string_view v, std::uint32_t& out) {
  auto [ptr, ec] = std::from_chars(v.data(), v.data() + v.size(), out);
  return ec == std::errc() && ptr == v.data() + v.size();
}

}  // namespace

void backup_index(services& s, const context_ptr& ctx, const route_args& a) {
  if (!a.query.empty())
    return ctx->fail(make_status(errc::invalid_argument, "a backup takes no query parameters"));
  if (!s.jobs.acquire())
    return ctx->fail(make_status(errc::unavailable, "every backup and restore slot is busy (" +
                                                        std::to_string(s.config.max_transfers) +
                                                        "); retry later"),
                     5);
  auto& jobs = s.jobs;
  auto posted = jobs.run([&s, ctx, name = a.params[0]] {
    auto path = s.jobs.scratch_path("backup");
    auto m = write_backup(s, ctx->tenant, name, path);
    if (!m) {
      env::posix().remove(path);
      s.jobs.release();
      return ctx->fail(m.error());
    }
    // The slot stays taken until the file is sent: scratch space is bounded by the slots.
    ctx->reply_file(200, path, "application/octet-stream",
                    {{"Content-Disposition", "attachment; filename=\"" + name + ".qvbackup\""}},
                    s.jobs.hold());
  });
  if (!posted) {
    jobs.release();
    ctx->fail(shutting_down());
  }
}

void restore_index(services& s, const context_ptr& ctx, const route_args& a) {
  restore_options opt;
  auto query = parse_query(a.query);
  if (!query) return ctx->fail(query.error());
  for (auto& [key, value] : *query) {
    std::uint32_t n = 0;
    if (key != "shards" && key != "replicas")
      return ctx->fail(
          make_status(errc::invalid_argument, "unknown query parameter '" + key + "'"));
    if (!parse_count(value, n))
      return ctx->fail(make_status(errc::invalid_argument, key + " must be a positive integer"));
    (key == "shards" ? opt.shards : opt.replicas) = n;
  }
  auto posted = s.jobs.run([&s, ctx, opt, target = a.params[0]] {
    auto r = run_restore(s, ctx->tenant, target, ctx->req.body_file, opt);
    if (!r) return ctx->fail(r.error());
    auto& m = r->manifest;
    detail::json_writer w;
    w.begin_object();
    w.key("name");
    w.string(target);
    w.key("restored");
    w.uinteger(r->restored);
    w.key("shards");
    w.uinteger(r->params.shards);
    w.key("replicas");
    w.uinteger(r->params.replicas);
    w.key("source");
    w.begin_object();
    w.key("index");
    w.string(m.params.name);
    w.key("created_unix_ms");
    w.uinteger(m.created_unix_ms);
    w.key("seqs");
    w.begin_array();
    for (auto& sh : m.shards) w.uinteger(sh.seq);
    w.end_array();
    w.end_object();
    w.end_object();
    auto body = w.take();
    ctx->reply(201, std::move(body), "application/json");
  });
  if (!posted) ctx->fail(shutting_down());
}

}  // namespace quiver::gateway
