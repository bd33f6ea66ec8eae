#include "actors/storage/storage_engine.hpp"

#include <spdlog/spdlog.h>

#include <set>
#include <sstream>

#include "common/body_codec.hpp"
#include "common/parse.hpp"
#include "common/response_codec.hpp"

namespace quiver {

namespace {

constexpr char catalog_dir_name[] = "/catalog";
constexpr char indexes_dir_name[] = "/indexes";

// Names become path components: they must not be able to leave the data dir.
status check_names(const tenant_id& tenant, const std::string& index) {
  if (auto st = validate_index_name(tenant.value); !st.ok())
    return make_status(errc::invalid_argument, "tenant name: " + st.message);
  return validate_index_name(index);
}

status stale_epoch(const shard_ref& ref, std::uint64_t epoch, std::uint64_t current) {
  return make_status(errc::stale_epoch, "shard " + ref.tenant.value + "/" + ref.index + "/" +
                                            std::to_string(ref.shard.value) + ": epoch " +
                                            std::to_string(epoch) + " is stale (current " +
                                            std::to_string(current) + ")");
}

}  // namespace

storage_engine::storage_engine(env& e, storage_options options)
    : env_(e), options_(std::move(options)) {}

expected<std::unique_ptr<storage_engine>> storage_engine::open(env& e, storage_options options) {
  std::unique_ptr<storage_engine> s(new storage_engine(e, std::move(options)));
  log_recovery report;
  auto log = shard_log::open(e, s->options_.data_dir + catalog_dir_name, {}, &report);
  if (!log) return std::move(log).error();
  s->catalog_log_ = std::move(*log);
  if (report.truncated_bytes > 0) {
    spdlog::warn("catalog log: cut a damaged tail of {} bytes ({})", report.truncated_bytes,
                 report.tail_problem);
    ++s->counters_.torn_tails_repaired;
    s->counters_.torn_bytes_truncated += report.truncated_bytes;
  }
  status bad_record;
  auto st = s->catalog_log_->read(seq_no{}, [&](log_record&& r) {
    index_key key{r.tenant.value, r.id};
    if (r.type == log_record_type::create_index) {
      s->catalog_[key] = catalog_entry{r.tenant, r.params, r.epoch != 0 ? r.epoch : r.seq.value};
    } else if (r.type == log_record_type::drop_index) {
      s->catalog_.erase(key);
    } else if (auto applied = s->apply_tenant_record(r); !applied.ok() && bad_record.ok()) {
      bad_record = applied;
    }
  });
  if (!st.ok()) return st;
  if (!bad_record.ok()) return bad_record;
  if (auto st2 = s->remove_stale_dirs(); !st2.ok()) return st2;
  return s;
}

std::string storage_engine::index_dir(const tenant_id& tenant, const std::string& name,
                                      std::uint64_t incarnation) const {
  return options_.data_dir + indexes_dir_name + "/" + tenant.value + "/" + name + "@" +
         std::to_string(incarnation);
}

std::string storage_engine::shard_dir(const shard_ref& ref) const {
  return index_dir(ref.tenant, ref.index, ref.incarnation) + "/" + std::to_string(ref.shard.value);
}

namespace {
// A dropped shard's directory, renamed aside until it is removed.
constexpr char dropped_suffix[] = ".dropped";
}  // namespace

// Directories of dropped indexes and shards whose removal a crash interrupted.
status storage_engine::remove_stale_dirs() {
  auto root = options_.data_dir + indexes_dir_name;
  if (auto st = env_.create_dirs(root); !st.ok()) return st;
  std::set<std::string> live;
  for (auto& [key, entry] : catalog_)
    live.insert(key.first + "/" + key.second + "@" + std::to_string(entry.incarnation));
  auto tenants = env_.list(root);
  if (!tenants) return std::move(tenants).error();
  for (auto& t : *tenants) {
    auto names = env_.list(root + "/" + t);
    if (!names) continue;
    for (auto& n : *names) {
      auto dir = root + "/" + t + "/" + n;
      if (live.count(t + "/" + n)) {
        if (auto shards = env_.list(dir))
          for (auto& shard : *shards)
            if (shard.size() > sizeof dropped_suffix - 1 &&
                shard.compare(shard.size() - (sizeof dropped_suffix - 1), std::string::npos,
                              dropped_suffix) == 0)
              if (auto st = env_.remove_all(dir + "/" + shard); !st.ok()) return st;
        continue;
      }
      spdlog::info("removing files of dropped index {}/{}", t, n);
      if (auto st = env_.remove_all(dir); !st.ok()) return st;
    }
  }
  return status::success();
}

status storage_engine::apply_tenant_record(log_record& r) {
  const auto& name = r.tenant.value;
  switch (r.type) {
    case log_record_type::create_tenant: {
      auto quotas = parse_quotas_json(r.metadata);
      if (!quotas)
        return make_status(
            errc::internal,
            "catalog: tenant '" + name + "' has unreadable quotas: " + quotas.error().message);
      tenants_[name] = tenant_record{name, *quotas, r.id};
      return status::success();
    }
    case log_record_type::set_tenant_key:
      if (auto it = tenants_.find(name); it != tenants_.end()) it->second.key_hash = r.id;
      return status::success();
    case log_record_type::drop_tenant:
      tenants_.erase(name);
      for (auto it = catalog_.begin(); it != catalog_.end();)
        it = it->first.first == name ? catalog_.erase(it) : std::next(it);
      return status::success();
    default:
      return make_status(errc::internal, "catalog: unexpected record type " +
                                             std::to_string(static_cast<int>(r.type)));
  }
}

std::vector<tenant_record> storage_engine::tenants() const {
  std::vector<tenant_record> out;
  for (auto& [name, t] : tenants_) out.push_back(t);
  return out;
}

status storage_engine::create_tenant(const tenant_record& t) {
  if (auto st = validate_index_name(t.name); !st.ok())
    return make_status(errc::invalid_argument, "tenant name: " + st.message);
  if (t.key_hash.size() != 64) return make_status(errc::internal, "a key hash is 64 hex digits");
  if (tenants_.count(t.name))
    return make_status(errc::tenant_exists, "tenant '" + t.name + "' exists");
  log_record r;
  r.type = log_record_type::create_tenant;
  r.tenant = tenant_id{t.name};
  r.id = t.key_hash;
  r.metadata = render_quotas(body_format::json, t.quotas);
  if (auto st = append_catalog(r); !st.ok()) return st;
  tenants_[t.name] = t;
  return status::success();
}

status storage_engine::set_tenant_key(const std::string& name, const std::string& key_hash) {
  auto it = tenants_.find(name);
  if (it == tenants_.end()) return make_status(errc::not_found, "no tenant '" + name + "'");
  if (key_hash.size() != 64) return make_status(errc::internal, "a key hash is 64 hex digits");
  log_record r;
  r.type = log_record_type::set_tenant_key;
  r.tenant = tenant_id{name};
  r.id = key_hash;
  if (auto st = append_catalog(r); !st.ok()) return st;
  it->second.key_hash = key_hash;
  return status::success();
}

status storage_engine::drop_tenant(const std::string& name) {
  if (!tenants_.count(name)) return make_status(errc::not_found, "no tenant '" + name + "'");
  log_record r;
  r.type = log_record_type::drop_tenant;
  r.tenant = tenant_id{name};
  if (auto st = append_catalog(r); !st.ok()) return st;
  if (auto st = apply_tenant_record(r); !st.ok()) return st;
  close_shards(name, {});
  // Durable from here on; a crash before the files are gone leaves them to the
  // next open, which removes what the catalog does not hold.
  auto dir = options_.data_dir + indexes_dir_name + "/" + name;
  if (auto st = env_.remove_all(dir); !st.ok())
    spdlog::warn("dropped tenant {}: {}", name, st.message);
  return status::success();
}

void storage_engine::close_shards(const std::string& tenant, const std::string& name) {
  for (auto s = shards_.begin(); s != shards_.end();) {
    bool match = std::get<0>(s->first) == tenant && (name.empty() || std::get<1>(s->first) == name);
    s = match ? shards_.erase(s) : std::next(s);
  }
}

std::vector<catalog_entry> storage_engine::catalog() const {
  std::vector<catalog_entry> out;
  for (auto& [key, entry] : catalog_) out.push_back(entry);
  return out;
}

status storage_engine::append_catalog(log_record r) {
  if (!catalog_log_->failure().ok()) {
    // Broken by an earlier failure (a full disk): read anew, torn tail cut.
    auto log = shard_log::open(env_, options_.data_dir + catalog_dir_name);
    if (!log) return std::move(log).error();
    catalog_log_ = std::move(*log);
  }
  r.seq = seq_no{catalog_log_->last_seq().value + 1};
  if (auto st = catalog_log_->append({r}); !st.ok()) return st;
  ++counters_.syncs;
  return catalog_log_->sync();
}

expected<std::pair<catalog_entry, bool>> storage_engine::create_index(const tenant_id& tenant,
                                                                      const index_params& params,
                                                                      std::uint64_t incarnation) {
  if (auto st = check_names(tenant, params.name); !st.ok()) return st;
  if (auto st = validate_params(params); !st.ok()) return st;
  index_key key{tenant.value, params.name};
  if (auto it = catalog_.find(key); it != catalog_.end()) {
    if (incarnation != 0 && it->second.incarnation != incarnation) {
      // The cluster dropped and re-created it while this node did not hear.
      if (auto st = drop_index(tenant, params.name); !st.ok()) return st;
    } else if (it->second.params != params) {
      return make_status(errc::index_exists,
                         "index '" + params.name + "' exists with other parameters");
    } else {
      return std::make_pair(it->second, false);
    }
  }
  if (tenant != default_tenant() && incarnation == 0) {
    auto t = tenants_.find(tenant.value);
    if (t == tenants_.end())
      return make_status(errc::not_found, "no tenant '" + tenant.value + "'");
    auto max = t->second.quotas.max_indexes;
    if (max > 0) {
      std::uint64_t owned = 0;
      for (auto& [k, e] : catalog_) owned += k.first == tenant.value ? 1 : 0;
      if (owned >= max) {
        auto st = make_status(errc::quota_exceeded, "tenant '" + tenant.value + "' owns " +
                                                        std::to_string(owned) + " of " +
                                                        std::to_string(max) + " indexes");
        st.details.emplace_back("max_indexes", static_cast<std::int64_t>(max));
        return st;
      }
    }
  }
  log_record r;
  r.type = log_record_type::create_index;
  r.tenant = tenant;
  r.id = params.name;
  r.params = params;
  r.epoch = incarnation;
  if (auto st = append_catalog(r); !st.ok()) return st;
  catalog_entry entry{tenant, params,
                      incarnation != 0 ? incarnation : catalog_log_->last_seq().value};
  catalog_[key] = entry;
  return std::make_pair(entry, true);
}

status storage_engine::drop_index(const tenant_id& tenant, const std::string& name,
                                  std::uint64_t only) {
  index_key key{tenant.value, name};
  auto it = catalog_.find(key);
  if (only != 0 && (it == catalog_.end() || it->second.incarnation != only))
    return status::success();
  if (it == catalog_.end()) return make_status(errc::index_not_found, "no index '" + name + "'");
  log_record r;
  r.type = log_record_type::drop_index;
  r.tenant = tenant;
  r.id = name;
  if (auto st = append_catalog(r); !st.ok()) return st;
  auto incarnation = it->second.incarnation;
  catalog_.erase(it);
  close_shards(tenant.value, name);
  // The drop is durable; if removing the files fails or a crash interrupts it,
  // the next open removes them.
  auto dir = index_dir(tenant, name, incarnation);
  if (auto st = env_.remove_all(dir); !st.ok())
    spdlog::warn("dropped index {}/{}: {}", tenant.value, name, st.message);
  return status::success();
}

std::vector<shard_ref> storage_engine::stored_shards() const {
  std::vector<shard_ref> out;
  for (auto& [key, entry] : catalog_) {
    auto names = env_.list(index_dir(entry.tenant, entry.params.name, entry.incarnation));
    if (!names) continue;
    for (auto& n : *names) {
      auto shard = parse_u64(n);
      if (shard && *shard < entry.params.shards)
        out.push_back(shard_ref{entry.tenant, entry.params.name, entry.incarnation,
                                shard_id{static_cast<std::uint32_t>(*shard)}});
    }
  }
  return out;
}

status storage_engine::drop_shard(const shard_ref& ref) {
  shards_.erase(shard_key{ref.tenant.value, ref.index, ref.incarnation, ref.shard.value});
  auto dir = shard_dir(ref);
  auto aside = dir + dropped_suffix;
  if (env_.list(dir)) {
    if (auto st = env_.rename(dir, aside); !st.ok()) return st;
    auto parent = index_dir(ref.tenant, ref.index, ref.incarnation);
    if (auto st = env_.sync_dir(parent); !st.ok()) return st;
  }
  if (auto st = env_.remove_all(aside); !st.ok())
    spdlog::warn("dropped shard {}: {}", aside, st.message);  // the next open removes it
  return status::success();
}

expected<storage_engine::shard_state*> storage_engine::shard(const shard_ref& ref) {
  shard_key key{ref.tenant.value, ref.index, ref.incarnation, ref.shard.value};
  if (auto it = shards_.find(key); it != shards_.end()) {
    auto& state = it->second;
    if (state.log->failure().ok()) return &state;
    // A failed append or fsync broke the log: read it anew from the disk, cutting
    // a torn tail exactly as a restart would. Its failure stays in `failure` until
    // the writer opens the shard again.
    auto log = open_log(ref);
    if (!log) return std::move(log).error();
    state.log = std::move(*log);
    return &state;
  }
  auto entry = catalog_.find({ref.tenant.value, ref.index});
  if (entry == catalog_.end() || entry->second.incarnation != ref.incarnation ||
      ref.shard.value >= entry->second.params.shards)
    return make_status(errc::index_not_found, "no shard " + std::to_string(ref.shard.value) +
                                                  " of index '" + ref.index + "'");
  auto dir = shard_dir(ref);
  auto log = open_log(ref);
  if (!log) return std::move(log).error();
  shard_state state;
  state.log = std::move(*log);
  if (auto text = env_.read_file(dir + "/EPOCH")) {
    auto epoch = parse_u64(*text);
    if (!epoch) return make_status(errc::internal, dir + "/EPOCH is damaged");
    state.epoch = *epoch;
  }
  if (auto text = env_.read_file(dir + "/EPOCHS")) {
    std::istringstream in(*text);
    std::string e, first;
    while (in >> e >> first) {
      auto ev = parse_u64(e);
      auto fv = parse_u64(first);
      if (!ev || !fv) return make_status(errc::internal, dir + "/EPOCHS is damaged");
      state.epochs.push_back({*ev, seq_no{*fv}});
    }
  } else {
    state.epochs_known = state.log->last_seq().value == 0;
  }
  return &shards_.emplace(key, std::move(state)).first->second;
}

expected<std::unique_ptr<shard_log>> storage_engine::open_log(const shard_ref& ref) {
  auto dir = shard_dir(ref);
  log_recovery report;
  auto log = shard_log::open(env_, dir + "/log", options_.log, &report);
  if (!log) return std::move(log).error();
  if (report.truncated_bytes > 0) {
    spdlog::warn("shard log {}: cut a damaged tail of {} bytes ({}); {} records kept", dir,
                 report.truncated_bytes, report.tail_problem, report.records);
    ++counters_.torn_tails_repaired;
    counters_.torn_bytes_truncated += report.truncated_bytes;
  }
  return log;
}

status storage_engine::bump_epoch(const shard_ref& ref, shard_state& state,
                                  std::uint64_t at_least) {
  std::uint64_t next = std::max(state.epoch + 1, at_least);
  if (auto st = write_file_atomically(env_, shard_dir(ref) + "/EPOCH", std::to_string(next));
      !st.ok())
    return st;
  state.epoch = next;
  return status::success();
}

// A log from before EPOCHS: its records say where each epoch starts (read once).
status storage_engine::load_epochs(const shard_ref& ref, shard_state& state) {
  if (state.epochs_known) return status::success();
  std::vector<epoch_start> found;
  auto st = state.log->read(seq_no{}, [&](log_record&& r) {
    if (found.empty() || found.back().epoch < r.epoch) found.push_back({r.epoch, r.seq});
  });
  if (!st.ok()) return st;
  state.epochs = std::move(found);
  state.epochs_known = true;
  return save_epochs(ref, state);
}

status storage_engine::save_epochs(const shard_ref& ref, const shard_state& state) {
  std::string text;
  for (auto& e : state.epochs)
    text += std::to_string(e.epoch) + " " + std::to_string(e.first.value) + "\n";
  return write_file_atomically(env_, shard_dir(ref) + "/EPOCHS", text);
}

shard_lease storage_engine::lease_of(const shard_ref& ref, const shard_state& state) const {
  shard_lease out{state.epoch, state.log->last_seq(), state.log->first_seq(), shard_dir(ref), 0};
  for (auto& e : state.epochs)
    if (e.first.value <= out.last_seq.value) out.last_epoch = e.epoch;
  return out;
}

expected<shard_lease> storage_engine::open_shard(const shard_ref& ref, open_mode mode,
                                                 std::uint64_t epoch) {
  auto s = shard(ref);
  if (!s) return std::move(s).error();
  auto& state = **s;
  if (mode == open_mode::claim) {
    if (auto st = bump_epoch(ref, state); !st.ok()) return st;
  } else if (mode == open_mode::hold && epoch < state.epoch) {
    ++counters_.stale_epoch_rejections;
    return stale_epoch(ref, epoch, state.epoch);
  } else if (mode == open_mode::hold && epoch > state.epoch) {
    // An epoch the metadata store assigned before storage heard of it (the
    // controller died between the two): adopting it fences the older writers.
    if (auto st = bump_epoch(ref, state, epoch); !st.ok()) return st;
  }
  // The writer knows where the log really ends now: its next append follows it.
  if (mode != open_mode::follow) state.failure = status::success();
  return lease_of(ref, state);
}

expected<std::uint64_t> storage_engine::fence(const shard_ref& ref, std::uint64_t at_least) {
  auto s = shard(ref);
  if (!s) return std::move(s).error();
  if (auto st = bump_epoch(ref, **s, at_least); !st.ok()) return st;
  return (*s)->epoch;
}

status storage_engine::append(const shard_ref& ref, std::uint64_t epoch,
                              const std::vector<log_record>& records) {
  auto s = shard(ref);
  if (!s) return std::move(s).error();
  auto& state = **s;
  if (epoch != state.epoch) {
    ++counters_.stale_epoch_rejections;
    return stale_epoch(ref, epoch, state.epoch);
  }
  if (records.empty()) return make_status(errc::internal, "empty append");
  // After a failed append or fsync nothing is taken (appends pipelined behind it
  // would leave a gap) until the writer has reopened the shard and knows its end.
  if (!state.failure.ok()) return state.failure;
  if (records.front().seq.value != state.log->last_seq().value + 1) {
    return make_status(errc::internal, "shard " + shard_dir(ref) + ": append at seq " +
                                           std::to_string(records.front().seq.value) +
                                           " but the log ends at " +
                                           std::to_string(state.log->last_seq().value));
  }
  if (auto st = state.log->append(records); !st.ok()) {
    state.failure = st;
    return st;
  }
  state.dirty = true;
  if (state.epochs_known) {
    bool changed = false;
    for (auto& r : records) {
      if (!state.epochs.empty() && !(state.epochs.back().epoch < r.epoch)) continue;
      state.epochs.push_back({r.epoch, r.seq});
      changed = true;
    }
    // Before the records' fsync: the history may name records a crash cuts,
    // never miss ones that stay.
    if (changed)
      if (auto st = save_epochs(ref, state); !st.ok()) {
        state.failure = st;
        return st;
      }
  }
  counters_.appended_records += records.size();
  return status::success();
}

status storage_engine::sync() {
  status first;
  for (auto& [key, state] : shards_) {
    if (!state.dirty) continue;
    ++counters_.syncs;
    // Never retried (see shard_log::sync): the shard's failure fails every append
    // the sync covered and every later one until its writer reopens it.
    state.dirty = false;
    if (auto st = state.log->sync(); !st.ok()) {
      state.failure = st;
      if (first.ok()) first = st;
    }
  }
  return first;
}

status storage_engine::failure(const shard_ref& ref) const {
  auto it = shards_.find({ref.tenant.value, ref.index, ref.incarnation, ref.shard.value});
  if (it == shards_.end()) return status::success();
  return it->second.failure;
}

expected<log_chunk> storage_engine::read(const shard_ref& ref, seq_no after,
                                         std::size_t max_bytes) {
  auto s = shard(ref);
  if (!s) return std::move(s).error();
  log_chunk chunk;
  auto more = (*s)->log->read_chunk(after, max_bytes, chunk.records);
  if (!more) return std::move(more).error();
  chunk.more = *more;
  return chunk;
}

status storage_engine::release_before(const shard_ref& ref, seq_no keep_from) {
  auto s = shard(ref);
  if (!s) return std::move(s).error();
  return (*s)->log->drop_before(keep_from);
}

expected<shard_lease> storage_engine::truncate_after(const shard_ref& ref, seq_no after) {
  auto s = shard(ref);
  if (!s) return std::move(s).error();
  auto& state = **s;
  if (state.dirty) {
    // Appends that await the group's fsync: make them durable first, so the cut
    // is the only change the log sees.
    state.dirty = false;
    if (auto st = state.log->sync(); !st.ok()) {
      state.failure = st;
      return st;
    }
  }
  if (auto st = load_epochs(ref, state); !st.ok()) return st;
  if (auto st = state.log->truncate_after(after); !st.ok()) return st;
  auto before = state.epochs.size();
  while (!state.epochs.empty() && after < state.epochs.back().first) state.epochs.pop_back();
  if (state.epochs.size() != before)
    if (auto st = save_epochs(ref, state); !st.ok()) return st;
  return lease_of(ref, state);
}

expected<epoch_end> storage_engine::end_of_epoch(const shard_ref& ref, std::uint64_t epoch) {
  auto s = shard(ref);
  if (!s) return std::move(s).error();
  auto& state = **s;
  if (auto st = load_epochs(ref, state); !st.ok()) return st;
  auto& epochs = state.epochs;
  auto last = state.log->last_seq();
  auto first = state.log->first_seq();
  if (epochs.empty()) return epoch_end{0, last, first};
  if (epoch < epochs.front().epoch)
    return epoch_end{0, seq_no{epochs.front().first.value - 1}, first};
  std::size_t i = 0;
  while (i + 1 < epochs.size() && !(epoch < epochs[i + 1].epoch)) ++i;
  auto end = i + 1 < epochs.size() ? seq_no{epochs[i + 1].first.value - 1} : last;
  return epoch_end{epochs[i].epoch, end, first};
}

expected<std::uint64_t> storage_engine::epoch_at(const shard_ref& ref, seq_no seq) {
  auto s = shard(ref);
  if (!s) return std::move(s).error();
  auto& state = **s;
  if (auto st = load_epochs(ref, state); !st.ok()) return st;
  std::uint64_t out = 0;
  for (auto& e : state.epochs)
    if (e.first.value <= seq.value) out = e.epoch;
  return out;
}

expected<shard_lease> storage_engine::restart_at(const shard_ref& ref, seq_no seq,
                                                 std::uint64_t epoch) {
  auto s = shard(ref);
  if (!s) return std::move(s).error();
  auto& state = **s;
  if (auto st = state.log->restart_at(seq); !st.ok()) return st;
  state.dirty = false;
  state.failure = status::success();
  state.epochs.clear();
  if (epoch > 0) state.epochs.push_back({epoch, seq});
  state.epochs_known = true;
  if (auto st = save_epochs(ref, state); !st.ok()) return st;
  return lease_of(ref, state);
}

}  // namespace quiver
