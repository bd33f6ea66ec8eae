// quiverctl: indexes, search, get, tenants and cluster status.

#include "tools/ctl/commands.hpp"

#include <simdjson.h>

#include <cstdio>

#include "tools/ctl/cli.hpp"
#include "tools/load/wire.hpp"

namespace quiver::ctl {

namespace {

using simdjson::dom::element;

std::string quoted(const std::string& s) {
  std::string out;
  load::append_string(out, s);
  return out;
}

std::string seg(const std::string& s) { return load::encode_path_segment(s); }

element parse(simdjson::dom::parser& p, const std::string& body) {
  element doc;
  if (p.parse(body).get(doc) != simdjson::SUCCESS)
    throw ctl_error(exit_failed, "the server's answer is not JSON: " + cell(body, 200));
  return doc;
}

// A field as table text: strings bare, anything else as JSON.
std::string text(element e, const char* key) {
  element v;
  if (e[key].get(v) != simdjson::SUCCESS) return "";
  if (v.is_string()) return std::string(v.get_string().value());
  if (v.is_null()) return "-";
  return simdjson::to_string(v);
}

std::string number_text(element e, const char* a, const char* b) {
  element v;
  if (e[a][b].get(v) != simdjson::SUCCESS) return "";
  return simdjson::to_string(v);
}

void require_yes(const args& a, const std::string& what) {
  if (!a.has("yes")) throw ctl_error(exit_usage, what + " cannot be undone: pass --yes to confirm");
}

std::vector<std::string> index_row(element d) {
  return {text(d, "name"),     text(d, "dimension"), text(d, "distance"), text(d, "shards"),
          text(d, "replicas"), text(d, "count"),     text(d, "status")};
}

const std::vector<std::string> index_header = {"NAME",     "DIMENSION", "DISTANCE", "SHARDS",
                                               "REPLICAS", "COUNT",     "STATUS"};

void print_fields(element d) {
  std::vector<std::vector<std::string>> rows;
  for (auto [key, value] : d.get_object())
    rows.push_back({std::string(key), value.is_string() ? std::string(value.get_string().value())
                                                        : cell(simdjson::to_string(value), 100)});
  print_table({"FIELD", "VALUE"}, rows);
}

int indexes_list(const args& a) {
  a.at_most(1);
  session s(a.connection());
  auto body = s.expect(method::get, "/v1/indexes", "listing indexes");
  if (a.json()) return print_json(body), exit_ok;
  simdjson::dom::parser p;
  std::vector<std::vector<std::string>> rows;
  for (auto d : parse(p, body)["indexes"].get_array()) rows.push_back(index_row(d));
  print_table(index_header, rows);
  return exit_ok;
}

int indexes_create(const args& a) {
  a.at_most(2);
  auto& name = a.word(1, "the index name: quiverctl indexes create NAME --dimension D");
  if (!a.has("dimension")) throw ctl_error(exit_usage, "--dimension is required");
  auto body = create_index_body(a, name, std::size_t(a.number("dimension", 0, 1, 1 << 20)));
  session s(a.connection());
  auto r = s.call(method::post, "/v1/indexes", body);
  if (r.status != 200 && r.status != 201)
    throw ctl_error(exit_code_for(r),
                    describe_failure(r, "creating index " + name, s.options().url));
  if (a.json()) return print_json(r.body), exit_ok;
  std::fprintf(stderr, "%s index %s\n", r.status == 201 ? "created" : "already had", name.c_str());
  simdjson::dom::parser p;
  print_table(index_header, {index_row(parse(p, r.body))});
  return exit_ok;
}

int indexes_describe(const args& a) {
  a.at_most(2);
  auto& name = a.word(1, "the index name");
  session s(a.connection());
  auto body = s.expect(method::get, "/v1/indexes/" + seg(name), "describing index " + name);
  if (a.json()) return print_json(body), exit_ok;
  simdjson::dom::parser p;
  print_fields(parse(p, body));
  return exit_ok;
}

int indexes_drop(const args& a) {
  a.at_most(2);
  auto& name = a.word(1, "the index name");
  require_yes(a, "dropping index " + name + " deletes its vectors, log and snapshots; it");
  session s(a.connection());
  auto body = s.expect(method::del, "/v1/indexes/" + seg(name), "dropping index " + name);
  if (a.json()) return print_json(body), exit_ok;
  std::printf("dropped index %s\n", name.c_str());
  return exit_ok;
}

}  // namespace

std::string create_index_body(const args& a, const std::string& name, std::size_t dimension) {
  std::string body = "{\"name\":" + quoted(name) + ",\"dimension\":" + std::to_string(dimension);
  body += ",\"distance\":" + quoted(a.get("distance", "cosine"));
  static const std::pair<const char*, const char*> knobs[] = {
      {"m", "m"},
      {"ef-construction", "ef_construction"},
      {"ef-search", "ef_search"},
      {"shards", "shards"},
      {"replicas", "replicas"}};
  for (auto [flag, field] : knobs)
    if (a.has(flag))
      body += ",\"" + std::string(field) + "\":" + std::to_string(a.number(flag, 0, 1, 1 << 20));
  if (a.has("embedder")) body += ",\"embedder\":" + quoted(a.get("embedder"));
  return body + "}";
}

int indexes_command(const words& argv) {
  args a(argv,
         {"dimension", "distance", "m", "ef-construction", "ef-search", "shards", "replicas",
          "embedder"},
         {"yes"});
  auto& verb = a.word(0, "a verb: list, create, describe or drop");
  if (verb == "list") return indexes_list(a);
  if (verb == "create") return indexes_create(a);
  if (verb == "describe") return indexes_describe(a);
  if (verb == "drop") return indexes_drop(a);
  throw ctl_error(exit_usage, "unknown verb 'indexes " + verb + "': list, create, describe, drop");
}

int search_command(const words& argv) {
  args a(argv, {"vector", "like", "text", "k", "ef", "filter", "exclude"}, {"vectors"});
  a.at_most(1);
  auto& index = a.word(0, "the index name: quiverctl search INDEX --vector '[...]'");
  if (int(a.has("vector")) + int(a.has("like")) + int(a.has("text")) != 1)
    throw ctl_error(exit_usage,
                    "give the query as --vector '[0.1, ...]', --like ID or --text '...' (one)");
  session s(a.connection());
  std::string vector = a.get("vector");
  if (a.has("like")) {
    auto id = a.get("like");
    auto body = s.expect(method::get, "/v1/indexes/" + seg(index) + "/vectors/" + seg(id),
                         "reading vector " + id);
    simdjson::dom::parser p;
    vector = simdjson::to_string(parse(p, body)["vector"]);
  }
  std::string body =
      (a.has("text") ? "{\"text\":" + quoted(a.get("text")) : "{\"vector\":" + vector) +
      ",\"k\":" + std::to_string(a.number("k", 10, 1, 10000));
  if (a.has("ef")) body += ",\"ef\":" + std::to_string(a.number("ef", 0, 1, 1 << 20));
  if (a.has("filter")) body += ",\"filter\":" + a.get("filter");
  if (a.has("vectors")) body += ",\"include_vectors\":true";
  if (a.has("exclude")) {
    body += ",\"exclude_ids\":[";
    std::string list = a.get("exclude");
    std::size_t start = 0;
    bool first = true;
    while (start <= list.size()) {
      auto end = list.find(',', start);
      if (end == std::string::npos) end = list.size();
      if (!first) body += ",";
      body += quoted(list.substr(start, end - start));
      first = false;
      start = end + 1;
    }
    body += "]";
  }
  body += "}";
  auto reply = s.expect(method::post, "/v1/indexes/" + seg(index) + "/search",
                        "searching index " + index, body);
  if (a.json()) return print_json(reply), exit_ok;
  simdjson::dom::parser p;
  std::vector<std::vector<std::string>> rows;
  std::size_t rank = 0;
  for (auto hit : parse(p, reply)["results"].get_array()) {
    rows.push_back({std::to_string(++rank), text(hit, "id"), text(hit, "distance"),
                    cell(text(hit, "metadata"), 80)});
  }
  print_table({"#", "ID", "DISTANCE", "METADATA"}, rows);
  return exit_ok;
}

int get_command(const words& argv) {
  args a(argv, {}, {});
  a.at_most(2);
  auto& index = a.word(0, "the index name: quiverctl get INDEX ID");
  auto& id = a.word(1, "the vector id: quiverctl get INDEX ID");
  session s(a.connection());
  auto body = s.expect(method::get, "/v1/indexes/" + seg(index) + "/vectors/" + seg(id),
                       "reading vector " + id + " of " + index);
  if (a.json()) return print_json(body), exit_ok;
  simdjson::dom::parser p;
  auto doc = parse(p, body);
  auto vec = doc["vector"].get_array();
  print_table({"FIELD", "VALUE"}, {{"id", text(doc, "id")},
                                   {"dimension", std::to_string(vec.value().size())},
                                   {"vector", cell(text(doc, "vector"), 100)},
                                   {"metadata", text(doc, "metadata")}});
  return exit_ok;
}

namespace {

std::vector<std::string> tenant_row(element t) {
  return {text(t, "name"),
          number_text(t, "usage", "indexes"),
          number_text(t, "usage", "vectors"),
          number_text(t, "usage", "bytes"),
          number_text(t, "quotas", "max_indexes"),
          number_text(t, "quotas", "max_vectors"),
          number_text(t, "quotas", "max_bytes"),
          number_text(t, "quotas", "max_requests_per_s")};
}

const std::vector<std::string> tenant_header = {"TENANT",    "INDEXES",     "VECTORS",
                                                "BYTES",     "MAX_INDEXES", "MAX_VECTORS",
                                                "MAX_BYTES", "MAX_REQ/S"};

int print_key(const args& a, const std::string& body, const char* what) {
  if (a.json()) return print_json(body), exit_ok;
  simdjson::dom::parser p;
  auto doc = parse(p, body);
  std::printf("%s\n", text(doc, "api_key").c_str());
  std::fprintf(stderr, "%s tenant %s; its key (above) is shown only now: keep it\n", what,
               text(doc, "name").c_str());
  return exit_ok;
}

}  // namespace

int tenants_command(const words& argv) {
  args a(argv, {"max-indexes", "max-vectors", "max-bytes", "max-requests-per-s"}, {"yes"});
  auto& verb = a.word(0, "a verb: list, create, get, drop or rotate-key");
  session s(a.connection());
  simdjson::dom::parser p;
  if (verb == "list") {
    a.at_most(1);
    auto body = s.expect(method::get, "/v1/admin/tenants", "listing tenants");
    if (a.json()) return print_json(body), exit_ok;
    std::vector<std::vector<std::string>> rows;
    for (auto t : parse(p, body)["tenants"].get_array()) rows.push_back(tenant_row(t));
    print_table(tenant_header, rows);
    return exit_ok;
  }
  a.at_most(2);
  auto& name = a.word(1, "the tenant name");
  if (verb == "create") {
    std::string quotas;
    static const std::pair<const char*, const char*> limits[] = {
        {"max-indexes", "max_indexes"},
        {"max-vectors", "max_vectors"},
        {"max-bytes", "max_bytes"},
        {"max-requests-per-s", "max_requests_per_s"}};
    for (auto [flag, field] : limits) {
      if (!a.has(flag)) continue;
      quotas += (quotas.empty() ? "" : ",") + std::string("\"") + field +
                "\":" + std::to_string(a.number(flag, 0, 0, 1ll << 62));
    }
    auto body = "{\"name\":" + quoted(name) +
                (quotas.empty() ? std::string() : ",\"quotas\":{" + quotas + "}") + "}";
    return print_key(
        a, s.expect(method::post, "/v1/admin/tenants", "creating tenant " + name, body), "created");
  }
  auto path = "/v1/admin/tenants/" + seg(name);
  if (verb == "get") {
    auto body = s.expect(method::get, path, "reading tenant " + name);
    if (a.json()) return print_json(body), exit_ok;
    print_table(tenant_header, {tenant_row(parse(p, body))});
    return exit_ok;
  }
  if (verb == "drop") {
    require_yes(a, "dropping tenant " + name + " deletes its key and every index it has; it");
    auto body = s.expect(method::del, path, "dropping tenant " + name);
    if (a.json()) return print_json(body), exit_ok;
    std::printf("dropped tenant %s\n", name.c_str());
    return exit_ok;
  }
  if (verb == "rotate-key")
    return print_key(a, s.expect(method::post, path + "/keys", "rotating the key of " + name),
                     "rotated the key of");
  throw ctl_error(exit_usage,
                  "unknown verb 'tenants " + verb + "': list, create, get, drop, rotate-key");
}

int cluster_command(const words& argv) {
  args a(argv, {}, {});
  a.at_most(1);
  auto& verb = a.word(0, "a verb: status");
  if (verb != "status") throw ctl_error(exit_usage, "unknown verb 'cluster " + verb + "': status");
  session s(a.connection());
  auto body = s.expect(method::get, "/v1/cluster", "reading the cluster's status");
  if (a.json()) return print_json(body), exit_ok;
  simdjson::dom::parser p;
  auto doc = parse(p, body);
  std::printf("mode %s, version %s\n\n", text(doc, "mode").c_str(), text(doc, "version").c_str());
  std::vector<std::vector<std::string>> nodes, shards;
  for (auto n : doc["nodes"].get_array())
    nodes.push_back({text(n, "name"), text(n, "address"), text(n, "role"), text(n, "status"),
                     text(n, "replicas")});
  print_table({"NODE", "ADDRESS", "ROLE", "STATUS", "REPLICAS"}, nodes);
  std::printf("\n");
  for (auto sh : doc["shards"].get_array()) {
    auto where = text(sh, "tenant") + "/" + text(sh, "index") + "/" + text(sh, "shard");
    for (auto r : sh["replicas"].get_array())
      shards.push_back({where, text(sh, "epoch"), text(r, "node"),
                        text(r, "primary") == "true" ? "primary" : "replica", text(r, "state"),
                        text(r, "applied_seq"), text(r, "lag"), text(r, "in_sync")});
  }
  print_table({"SHARD", "EPOCH", "NODE", "ROLE", "STATE", "APPLIED", "LAG", "IN_SYNC"}, shards);
  return exit_ok;
}

}  // namespace quiver::ctl
