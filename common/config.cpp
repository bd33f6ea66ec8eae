#include "common/config.hpp"

#include <toml++/toml.h>

#include <cstdlib>
#include <functional>
#include <map>

#include "common/index_params.hpp"

namespace quiver {

namespace {

status config_error(const std::string& message) {
  return make_status(errc::invalid_argument, "config: " + message);
}

template <class T>
status read_int(const toml::node& n, const std::string& key, T& out, std::int64_t lo,
                std::int64_t hi) {
  auto v = n.value<std::int64_t>();
  if (!v || *v < lo || *v > hi)
    return config_error(key + " must be an integer between " + std::to_string(lo) + " and " +
                        std::to_string(hi));
  out = static_cast<T>(*v);
  return status::success();
}

status read_str(const toml::node& n, const std::string& key, std::string& out) {
  auto v = n.value<std::string>();
  if (!v) return config_error(key + " must be a string");
  out = *v;
  return status::success();
}

status read_bool(const toml::node& n, const std::string& key, bool& out) {
  auto v = n.value<bool>();
  if (!v) return config_error(key + " must be a boolean");
  out = *v;
  return status::success();
}

// One [embedders.NAME] table.
status read_embedder(const std::string& name, const toml::table& t, embedder_config& e) {
  e.name = name;
  auto prefix = "embedders." + name + ".";
  for (auto& [key, value] : t) {
    auto k = std::string(key.str());
    auto full = prefix + k;
    status st = status::success();
    if (k == "kind")
      st = read_str(value, full, e.kind);
    else if (k == "model")
      st = read_str(value, full, e.model);
    else if (k == "url")
      st = read_str(value, full, e.url);
    else if (k == "api")
      st = read_str(value, full, e.api);
    else if (k == "api_key_env")
      st = read_str(value, full, e.api_key_env);
    else if (k == "dimension")
      st = read_int(value, full, e.dimension, 1, index_limits::max_dimension);
    else if (k == "batch_size")
      st = read_int(value, full, e.batch_size, 1, 4096);
    else if (k == "timeout_ms")
      st = read_int(value, full, e.timeout_ms, 10, 120000);
    else if (k == "retries")
      st = read_int(value, full, e.retries, 0, 5);
    else
      return config_error("unknown key '" + full + "'");
    if (!st.ok()) return st;
  }
  return status::success();
}

status validate_embedder(const embedder_config& e) {
  auto where = "embedders." + e.name;
  if (!embedder_name_ok(e.name))
    return config_error("embedder name '" + e.name +
                        "' must be 1-64 of a-z, 0-9, '_', '.', '-', starting with a letter or "
                        "digit");
  if (e.name == "hash-v1") return config_error("hash-v1 is built in; name the embedder otherwise");
  if (e.kind == "fasttext") {
    if (e.model.empty()) return config_error(where + ".model must name a fastText .bin file");
  } else if (e.kind == "http") {
    if (e.url.rfind("http://", 0) != 0)
      return config_error(where + ".url must be an http:// URL of the embedding endpoint");
    if (e.api != "ollama" && e.api != "openai")
      return config_error(where + ".api must be \"ollama\" or \"openai\"");
    if (e.model.empty()) return config_error(where + ".model must name the server's model");
    if (e.dimension == 0)
      return config_error(where + ".dimension must be set: the size of the vectors it answers");
  } else {
    return config_error(where + ".kind must be \"fasttext\" or \"http\"");
  }
  return status::success();
}

}  // namespace

expected<quiver_config> load_config(const std::string& path) {
  toml::table root;
  try {
    root = toml::parse_file(path);
  } catch (const toml::parse_error& e) {
    return config_error(path + ": " + std::string(e.description()));
  }
  quiver_config c;
  using reader = std::function<status(const toml::node&, const std::string&)>;
  std::map<std::string, reader> keys{
      {"server.host", [&](auto& n, auto& k) { return read_str(n, k, c.server.host); }},
      {"server.port", [&](auto& n, auto& k) { return read_int(n, k, c.server.port, 0, 65535); }},
      {"server.io_threads",
       [&](auto& n, auto& k) { return read_int(n, k, c.server.io_threads, 1, 256); }},
      {"server.max_body_bytes",
       [&](auto& n, auto& k) { return read_int(n, k, c.server.max_body_bytes, 1, 1ll << 32); }},
      {"server.max_batch",
       [&](auto& n, auto& k) { return read_int(n, k, c.server.max_batch, 1, 1000000); }},
      {"server.request_timeout_ms",
       [&](auto& n, auto& k) { return read_int(n, k, c.server.request_timeout_ms, 1, 3600000); }},
      {"server.idle_timeout_s",
       [&](auto& n, auto& k) { return read_int(n, k, c.server.idle_timeout_s, 1, 86400); }},
      {"server.max_connections",
       [&](auto& n, auto& k) { return read_int(n, k, c.server.max_connections, 1, 1000000); }},
      {"server.scratch_dir",
       [&](auto& n, auto& k) { return read_str(n, k, c.server.scratch_dir); }},
      {"server.max_restore_bytes",
       [&](auto& n, auto& k) {
         return read_int(n, k, c.server.max_restore_bytes, 1, std::int64_t(1) << 50);
       }},
      {"server.max_transfers",
       [&](auto& n, auto& k) { return read_int(n, k, c.server.max_transfers, 1, 64); }},
      {"server.matrix_cache_bytes",
       [&](auto& n, auto& k) {
         return read_int(n, k, c.server.matrix_cache_bytes, 0, std::int64_t(1) << 40);
       }},
      {"server.allow_insecure",
       [&](auto& n, auto& k) { return read_bool(n, k, c.server.allow_insecure); }},
      {"actors.scheduler_policy",
       [&](auto& n, auto& k) { return read_str(n, k, c.actors.scheduler_policy); }},
      {"actors.max_threads",
       [&](auto& n, auto& k) { return read_int(n, k, c.actors.max_threads, 1, 256); }},
      {"actors.search_workers",
       [&](auto& n, auto& k) { return read_int(n, k, c.actors.search_workers, 1, 256); }},
      {"actors.write_nice",
       [&](auto& n, auto& k) { return read_int(n, k, c.actors.write_nice, 0, 19); }},
      {"actors.direct_reads",
       [&](auto& n, auto& k) { return read_bool(n, k, c.actors.direct_reads); }},
      {"actors.insert_threads",
       [&](auto& n, auto& k) { return read_int(n, k, c.actors.insert_threads, 1, 256); }},
      {"storage.data_dir", [&](auto& n, auto& k) { return read_str(n, k, c.storage.data_dir); }},
      {"storage.fsync", [&](auto& n, auto& k) { return read_str(n, k, c.storage.fsync); }},
      {"storage.group_window_us",
       [&](auto& n, auto& k) { return read_int(n, k, c.storage.group_window_us, 0, 2000); }},
      {"storage.segment_bytes",
       [&](auto& n, auto& k) {
         return read_int(n, k, c.storage.segment_bytes, 1 << 16, 1ll << 34);
       }},
      {"storage.snapshot_every_records",
       [&](auto& n, auto& k) {
         return read_int(n, k, c.storage.snapshot_every_records, 0, 1ll << 40);
       }},
      {"storage.snapshot_replay_budget_ms",
       [&](auto& n, auto& k) {
         return read_int(n, k, c.storage.snapshot_replay_budget_ms, 0, 86400000);
       }},
      {"storage.snapshot_interval_s",
       [&](auto& n, auto& k) {
         return read_int(n, k, c.storage.snapshot_interval_s, 0, 86400 * 7);
       }},
      {"auth.admin_key", [&](auto& n, auto& k) { return read_str(n, k, c.auth.admin_key); }},
      {"auth.key_cache_ms",
       [&](auto& n, auto& k) { return read_int(n, k, c.auth.key_cache_ms, 0, 3600000); }},
      {"log.level", [&](auto& n, auto& k) { return read_str(n, k, c.log.level); }},
      {"etcd.endpoints", [&](auto& n, auto& k) { return read_str(n, k, c.etcd.endpoints); }},
      {"etcd.prefix", [&](auto& n, auto& k) { return read_str(n, k, c.etcd.prefix); }},
      {"etcd.dial_timeout_ms",
       [&](auto& n, auto& k) { return read_int(n, k, c.etcd.dial_timeout_ms, 10, 600000); }},
      {"etcd.request_timeout_ms",
       [&](auto& n, auto& k) { return read_int(n, k, c.etcd.request_timeout_ms, 10, 600000); }},
      {"etcd.retries", [&](auto& n, auto& k) { return read_int(n, k, c.etcd.retries, 0, 10); }},
      {"etcd.watch_idle_timeout_ms",
       [&](auto& n, auto& k) {
         return read_int(n, k, c.etcd.watch_idle_timeout_ms, 100, 3600000);
       }},
      {"etcd.node_lease_s",
       [&](auto& n, auto& k) { return read_int(n, k, c.etcd.node_lease_s, 2, 3600); }},
      {"etcd.controller_lease_s",
       [&](auto& n, auto& k) { return read_int(n, k, c.etcd.controller_lease_s, 2, 3600); }},
      {"etcd.ca", [&](auto& n, auto& k) { return read_str(n, k, c.etcd.ca); }},
      {"etcd.cert", [&](auto& n, auto& k) { return read_str(n, k, c.etcd.cert); }},
      {"etcd.key", [&](auto& n, auto& k) { return read_str(n, k, c.etcd.key); }},
      {"tls.cert", [&](auto& n, auto& k) { return read_str(n, k, c.tls.cert); }},
      {"tls.key", [&](auto& n, auto& k) { return read_str(n, k, c.tls.key); }},
      {"tls.client_ca", [&](auto& n, auto& k) { return read_str(n, k, c.tls.client_ca); }},
      {"peer_tls.cert", [&](auto& n, auto& k) { return read_str(n, k, c.peer_tls.cert); }},
      {"peer_tls.key", [&](auto& n, auto& k) { return read_str(n, k, c.peer_tls.key); }},
      {"peer_tls.ca", [&](auto& n, auto& k) { return read_str(n, k, c.peer_tls.ca); }},
  };
  for (auto& [section, node] : root) {
    auto* table = node.as_table();
    if (!table)
      return config_error("top-level key '" + std::string(section.str()) + "' must be a table");
    if (section.str() == "embedders") {
      for (auto& [name, value] : *table) {
        auto* t = value.as_table();
        if (!t)
          return config_error("embedders." + std::string(name.str()) +
                              " must be a table ([embedders." + std::string(name.str()) + "])");
        embedder_config e;
        if (auto st = read_embedder(std::string(name.str()), *t, e); !st.ok()) return st;
        c.server.embedders.push_back(std::move(e));
      }
      continue;
    }
    for (auto& [key, value] : *table) {
      auto full = std::string(section.str()) + "." + std::string(key.str());
      auto it = keys.find(full);
      if (it == keys.end()) return config_error("unknown key '" + full + "'");
      if (auto st = it->second(value, full); !st.ok()) return st;
    }
  }
  apply_environment(c);
  if (auto st = validate_config(c); !st.ok()) return st;
  return c;
}

void apply_environment(quiver_config& c) {
  if (!c.auth.admin_key.empty()) return;
  if (const char* key = std::getenv("QUIVER_ADMIN_KEY")) c.auth.admin_key = key;
}

bool is_loopback_host(const std::string& host) {
  return host == "localhost" || host == "::1" || host.rfind("127.", 0) == 0;
}

status validate_config(const quiver_config& c) {
  if (c.actors.scheduler_policy != "sharing" && c.actors.scheduler_policy != "stealing")
    return config_error("actors.scheduler_policy must be \"sharing\" or \"stealing\"");
  static const char* levels[] = {"trace", "debug", "info", "warn", "error", "critical", "off"};
  bool level_ok = false;
  for (auto* l : levels) level_ok |= c.log.level == l;
  if (!level_ok)
    return config_error("log.level must be one of trace, debug, info, warn, error, off");
  if (c.actors.write_nice < 0 || c.actors.write_nice > 19)
    return config_error("actors.write_nice must be between 0 and 19");
  if (c.storage.data_dir.empty()) return config_error("storage.data_dir must not be empty");
  if (c.storage.fsync != "always" && c.storage.fsync != "group" && c.storage.fsync != "none")
    return config_error("storage.fsync must be \"always\", \"group\" or \"none\"");
  if (c.storage.group_window_us > 2000)
    return config_error("storage.group_window_us must be at most 2000");
  if (!c.auth.admin_key.empty() && c.auth.admin_key.size() < 16)
    return config_error("auth.admin_key must be at least 16 characters");
  if (c.etcd.prefix.empty() || c.etcd.prefix.front() != '/')
    return config_error("etcd.prefix must start with '/'");
  if (c.tls.cert.empty() != c.tls.key.empty())
    return config_error("tls.cert and tls.key go together: set both for HTTPS, or neither");
  if (!c.tls.client_ca.empty() && c.tls.cert.empty())
    return config_error("tls.client_ca needs tls.cert and tls.key");
  if (auto& p = c.peer_tls; (p.cert.empty() != p.key.empty()) || (p.cert.empty() != p.ca.empty()))
    return config_error(
        "peer_tls.cert, peer_tls.key and peer_tls.ca go together: set all three "
        "for mutual TLS between daemons, or none");
  if (c.etcd.cert.empty() != c.etcd.key.empty())
    return config_error("etcd.cert and etcd.key go together");
  if (!c.etcd.cert.empty() && c.etcd.ca.empty())
    return config_error("etcd.cert needs etcd.ca (the CA of the members' certificates)");
  for (const auto& e : c.server.embedders)
    if (auto st = validate_embedder(e); !st.ok()) return st;
  if (!is_loopback_host(c.server.host) && c.auth.admin_key.empty() && !c.server.allow_insecure)
    return config_error("refusing to serve " + c.server.host +
                        " without auth; set auth.admin_key (or QUIVER_ADMIN_KEY), or "
                        "server.allow_insecure = true to override");
  return status::success();
}

}  // namespace quiver
