// quiverctl backup and restore.

#include <simdjson.h>

#include <cstdio>
#include <thread>

#include "tools/ctl/cli.hpp"
#include "tools/ctl/commands.hpp"
#include "tools/ctl/transfer.hpp"
#include "tools/load/wire.hpp"

namespace quiver::ctl {

namespace {

http_result as_result(const transfer_result& t) {
  http_result r;
  r.status = t.status;
  r.body = t.body;
  return r;
}

// Runs `attempt` until it is not answered with a transient error, for retry_for.
template <class F>
transfer_result patiently(const connection_options& c, F&& attempt) {
  auto give_up = std::chrono::steady_clock::now() + c.retry_for;
  for (;;) {
    auto t = attempt();
    if (!transient(as_result(t)) || std::chrono::steady_clock::now() >= give_up) return t;
    std::this_thread::sleep_for(std::chrono::seconds(2));
  }
}

}  // namespace

int backup_command(const words& argv) {
  args a(argv, {}, {});
  a.at_most(2);
  auto& index = a.word(0, "the index: quiverctl backup INDEX FILE");
  auto& file = a.word(1, "the file: quiverctl backup INDEX FILE");
  auto c = a.connection();
  auto path = "/v1/indexes/" + load::encode_path_segment(index) + "/snapshot";
  auto t0 = std::chrono::steady_clock::now();
  auto t = patiently(c, [&] { return download(c, path, file); });
  if (t.status != 200) {
    auto r = as_result(t);
    throw ctl_error(exit_code_for(r), describe_failure(r, "backing up index " + index, c.url));
  }
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (a.json()) {
    std::string out = "{\"index\":";
    load::append_string(out, index);
    out += ",\"file\":";
    load::append_string(out, file);
    out += ",\"bytes\":" + std::to_string(t.bytes) + "}";
    print_json(out);
  } else {
    std::printf("backed up index %s to %s (%llu bytes, %.1f s)\n", index.c_str(), file.c_str(),
                static_cast<unsigned long long>(t.bytes), secs);
  }
  return exit_ok;
}

int restore_command(const words& argv) {
  args a(argv, {"index", "shards", "replicas"}, {});
  a.at_most(1);
  auto& file = a.word(0, "the file: quiverctl restore FILE --index NAME");
  if (!a.has("index")) throw ctl_error(exit_usage, "--index NAME is required");
  auto index = a.get("index");
  std::string query;
  for (auto knob : {"shards", "replicas"})
    if (a.has(knob))
      query += (query.empty() ? "?" : "&") + std::string(knob) + "=" +
               std::to_string(a.number(knob, 1, 1, 1024));
  auto c = a.connection();
  auto path = "/v1/indexes/" + load::encode_path_segment(index) + "/restore" + query;
  auto t = patiently(c, [&] { return upload(c, path, file); });
  if (t.status != 201) {
    auto r = as_result(t);
    throw ctl_error(exit_code_for(r), describe_failure(r, "restoring " + file, c.url));
  }
  if (a.json()) return print_json(t.body), exit_ok;
  simdjson::dom::parser p;
  simdjson::dom::element doc;
  std::uint64_t restored = 0;
  if (p.parse(t.body).get(doc) || doc["restored"].get(restored))
    throw ctl_error(exit_failed, "the server's answer is unreadable: " + t.body);
  std::printf("restored %llu vectors into index %s\n", static_cast<unsigned long long>(restored),
              index.c_str());
  return exit_ok;
}

}  // namespace quiver::ctl
