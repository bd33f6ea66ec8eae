#include "tools/ctl/import.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <simdjson.h>
#include <boost/asio/steady_timer.hpp>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>

#include "tools/ctl/cli.hpp"
#include "tools/ctl/commands.hpp"
#include "tools/load/wire.hpp"

namespace quiver::ctl {

namespace {

namespace fs = std::filesystem;
using clock_type = std::chrono::steady_clock;

std::uint64_t fnv1a(const std::string& s) {
  std::uint64_t h = 1469598103934665603ull;
  for (unsigned char c : s) h = (h ^ c) * 1099511628211ull;
  return h;
}

// The records an earlier run had sent, or 0.
std::size_t read_checkpoint(const std::string& path, std::size_t total) {
  std::ifstream in(path);
  std::string magic;
  std::size_t version = 0, done = 0, was_total = 0;
  if (!(in >> magic >> version >> done >> was_total)) return 0;
  if (magic != "quiverctl-import" || version != 1 || was_total != total || done > total) return 0;
  return done;
}

void write_checkpoint(const std::string& path, std::size_t done, std::size_t total) {
  auto tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << "quiverctl-import 1 " << done << " " << total << "\n";
    if (!out) return;  // a checkpoint is a convenience: an import goes on without one
  }
  std::error_code ec;
  fs::rename(tmp, path, ec);
}

class progress_bar {
 public:
  progress_bar(bool on, std::size_t total, std::size_t start)
      : on_(on), tty_(::isatty(2) != 0), total_(total), start_done_(start) {}

  void update(std::size_t done, bool force = false) {
    if (!on_) return;
    auto now = clock_type::now();
    double elapsed = std::chrono::duration<double>(now - start_).count();
    double rate = elapsed > 0 ? double(done - start_done_) / elapsed : 0;
    double eta = rate > 0 ? double(total_ - done) / rate : 0;
    double pct = total_ ? 100.0 * double(done) / double(total_) : 100.0;
    if (tty_) {
      if (!force && now - last_ < std::chrono::milliseconds(100)) return;
      constexpr int width = 30;
      int filled = total_ ? static_cast<int>(width * done / total_) : width;
      std::fprintf(stderr, "\r[%.*s%.*s] %zu/%zu %3.0f%%  %.0f rec/s  ETA %.0f s   ", filled,
                   "##############################", width - filled,
                   "------------------------------", done, total_, pct, rate, eta);
    } else {
      int decile = static_cast<int>(pct / 10);
      if ((!force && decile <= last_decile_) || done == last_done_) return;
      last_decile_ = decile;
      last_done_ = done;
      std::fprintf(stderr, "%zu/%zu %3.0f%%  %.0f rec/s  ETA %.0f s\n", done, total_, pct, rate,
                   eta);
    }
    last_ = now;
  }
  void finish() {
    if (on_ && tty_) std::fprintf(stderr, "\n");
  }

 private:
  bool on_, tty_;
  std::size_t total_, start_done_;
  clock_type::time_point start_ = clock_type::now(), last_{};
  int last_decile_ = -1;
  std::size_t last_done_ = std::size_t(-1);
};

}  // namespace

std::string default_checkpoint(const std::string& url, const std::string& index,
                               const std::string& file, const std::string& how) {
  std::error_code ec;
  auto abs = fs::weakly_canonical(file, ec).string();
  struct stat st {};
  ::stat(file.c_str(), &st);
  auto key = url + "\n" + index + "\n" + abs + "\n" + std::to_string(st.st_size) + "\n" +
             std::to_string(st.st_mtim.tv_sec) + "." + std::to_string(st.st_mtim.tv_nsec) + "\n" +
             how;
  fs::path dir;
  if (const char* state = std::getenv("XDG_STATE_HOME"); state && *state) {
    dir = fs::path(state) / "quiverctl";
  } else if (const char* home = std::getenv("HOME"); home && *home) {
    dir = fs::path(home) / ".local/state/quiverctl";
  } else {
    return {};
  }
  fs::create_directories(dir, ec);
  if (ec) return {};
  char name[40];
  std::snprintf(name, sizeof name, "import-%016llx", static_cast<unsigned long long>(fnv1a(key)));
  return (dir / name).string();
}

std::optional<index_shape> find_index(session& s, const std::string& index) {
  auto r = s.call(method::get, "/v1/indexes/" + load::encode_path_segment(index));
  if (r.status == 404) return std::nullopt;
  if (r.status != 200)
    throw ctl_error(exit_code_for(r),
                    describe_failure(r, "reading index " + index, s.options().url));
  simdjson::dom::parser p;
  simdjson::dom::element doc;
  std::uint64_t dim = 0, count = 0;
  std::string_view distance;
  if (p.parse(r.body).get(doc) != simdjson::SUCCESS || doc["dimension"].get(dim) ||
      doc["distance"].get(distance))
    throw ctl_error(exit_failed, "the server's description of " + index + " is unreadable");
  if (doc["count"].get(count) != simdjson::SUCCESS) count = 0;
  index_shape out;
  out.dimension = dim;
  out.distance = std::string(distance);
  out.count = count;
  return out;
}

index_shape prepare_index(session& s, const std::string& index, record_source& src,
                          const std::string& create_body, const std::string& create_distance,
                          bool quiet) {
  if (auto found = find_index(s, index)) {
    src.validate(found->dimension, found->distance);
    return *found;
  }
  if (create_body.empty())
    throw ctl_error(exit_not_found, "there is no index " + index +
                                        ": pass --create (with --distance, --shards ...) or "
                                        "create it with `quiverctl indexes create`");
  src.validate(src.dimension(), create_distance);
  auto r = s.call(method::post, "/v1/indexes", create_body);
  if (r.status != 201 && r.status != 200)
    throw ctl_error(exit_code_for(r),
                    describe_failure(r, "creating index " + index, s.options().url));
  if (!quiet) std::fprintf(stderr, "created index %s\n", index.c_str());
  auto created = find_index(s, index);
  if (!created) throw ctl_error(exit_failed, "index " + index + " vanished after it was created");
  return *created;
}

std::size_t send_records(session& s, const record_source& src, const import_plan& plan) {
  const std::size_t total = src.size();
  std::size_t start = 0;
  if (!plan.checkpoint.empty() && !plan.restart) start = read_checkpoint(plan.checkpoint, total);
  if (start > 0 && plan.progress)
    std::fprintf(stderr,
                 "resuming at record %zu of %zu: an earlier run was interrupted (--restart "
                 "starts over)\n",
                 start, total);
  const std::size_t batches = (total - start + plan.batch - 1) / plan.batch;
  std::vector<bool> acked(batches, false);
  std::size_t next = 0, prefix = 0, in_flight = 0, done = start;
  std::string failure;
  int failure_code = exit_failed;
  progress_bar bar(plan.progress, total, start);
  auto& ioc = s.io();
  auto path = "/v1/indexes/" + load::encode_path_segment(plan.index) + "/vectors";
  auto range = [&](std::size_t b) {
    auto from = start + b * plan.batch;
    return std::make_pair(from, std::min(total, from + plan.batch));
  };
  std::vector<std::unique_ptr<load::http_connection>> conns;
  std::function<void(load::http_connection*)> send_next;
  std::function<void(load::http_connection*, std::size_t, clock_type::time_point)> attempt;
  attempt = [&](load::http_connection* c, std::size_t b, clock_type::time_point give_up) {
    auto [from, to] = range(b);
    c->request(
        method::post, path, src.body(from, to),
        [&, c, b, give_up, from = from, to = to](http_result r) {
          if (transient(r) && failure.empty() && clock_type::now() < give_up) {
            auto t = std::make_shared<boost::asio::steady_timer>(
                ioc, retry_delay(r, std::chrono::milliseconds(r.status == 0 ? 1000 : 200)));
            t->async_wait([&, t, c, b, give_up](const boost::system::error_code&) {
              attempt(c, b, give_up);
            });
            return;
          }
          --in_flight;
          if (r.status != 200) {
            if (failure.empty()) {
              failure = describe_failure(
                  r, "records " + std::to_string(from) + ".." + std::to_string(to - 1),
                  s.options().url);
              failure_code = exit_code_for(r);
            }
            return;
          }
          acked[b] = true;
          done += to - from;
          while (prefix < batches && acked[prefix]) ++prefix;
          if (!plan.checkpoint.empty())
            write_checkpoint(plan.checkpoint, std::min(total, start + prefix * plan.batch), total);
          bar.update(done);
          send_next(c);
        },
        src.content_type());
  };
  send_next = [&](load::http_connection* c) {
    if (next >= batches || !failure.empty()) return;
    ++in_flight;
    attempt(c, next++, clock_type::now() + s.options().retry_for);
  };
  for (std::size_t i = 0; i < plan.parallel; ++i) {
    conns.push_back(s.connect(std::chrono::seconds(600)));
    send_next(conns.back().get());
  }
  ioc.restart();
  ioc.run();
  bar.update(done, true);
  bar.finish();
  if (!failure.empty()) {
    auto resumed = std::min(total, start + prefix * plan.batch);
    throw ctl_error(failure_code, failure + "\nimport stopped: " + std::to_string(resumed) +
                                      " of " + std::to_string(total) +
                                      " records are in; run the same command again to go on");
  }
  if (!plan.checkpoint.empty()) {
    std::error_code ec;
    fs::remove(plan.checkpoint, ec);
  }
  return total - start;
}

int import_command(const words& argv) {
  args a(argv,
         {"index", "format", "ids", "id-column", "id-prefix", "batch", "parallel", "distance",
          "shards", "replicas", "m", "ef-construction", "ef-search", "checkpoint"},
         {"create", "restart", "no-progress"});
  a.at_most(1);
  auto& file = a.word(0, "the file: quiverctl import FILE --index NAME");
  if (!a.has("index")) throw ctl_error(exit_usage, "--index NAME is required");
  source_options so;
  so.format = a.get("format");
  so.ids_file = a.get("ids");
  so.id_column = static_cast<long>(a.number("id-column", -1, 0, 1 << 20));
  so.id_prefix = a.get("id-prefix");
  import_plan plan;
  plan.index = a.get("index");
  plan.batch = static_cast<std::size_t>(a.number("batch", 500, 1, 10000));
  plan.parallel = static_cast<std::size_t>(a.number("parallel", 2, 1, 64));
  plan.restart = a.has("restart");
  plan.progress = !a.quiet() && !a.has("no-progress");

  auto src = open_source(file, so);
  session s(a.connection());
  std::string create;
  if (a.has("create")) create = create_index_body(a, plan.index, src->dimension());
  if (plan.progress) std::fprintf(stderr, "%s: %s\n", file.c_str(), src->describe().c_str());
  prepare_index(s, plan.index, *src, create, a.get("distance", "cosine"), !plan.progress);
  plan.checkpoint = a.has("checkpoint")
                        ? a.get("checkpoint")
                        : default_checkpoint(s.options().url, plan.index, file,
                                             so.format + "|" + so.ids_file + "|" +
                                                 std::to_string(so.id_column) + "|" + so.id_prefix);
  auto t0 = clock_type::now();
  auto sent = send_records(s, *src, plan);
  double secs = std::chrono::duration<double>(clock_type::now() - t0).count();
  auto after = find_index(s, plan.index).value_or(index_shape{});
  if (a.json()) {
    std::printf("{\"index\":");
    std::string name;
    load::append_string(name, plan.index);
    std::printf("%s,\"records\":%zu,\"sent\":%zu,\"seconds\":%.3f,\"count\":%zu}\n", name.c_str(),
                src->size(), sent, secs, after.count);
  } else {
    std::printf("imported %zu records into %s in %.1f s (%.0f rec/s); it holds %zu vectors\n", sent,
                plan.index.c_str(), secs, double(sent) / std::max(secs, 1e-9), after.count);
  }
  return exit_ok;
}

}  // namespace quiver::ctl
