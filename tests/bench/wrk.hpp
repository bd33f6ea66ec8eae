#pragma once
// Drives wrk (Debian's package), the standard load generator, with pre-rendered
// request bodies: one wrk thread, keep-alive connections, a Lua script that
// cycles through the bodies and prints its summary on one parseable line.

#include <fmt/format.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace bench {

struct wrk_result {
  double rps = 0;  // requests answered per second (any status)
  double p50_ms = 0, p99_ms = 0;
  std::size_t requests = 0;
  std::size_t socket_errors = 0;  // connect, read, write, timeout
  std::size_t status_errors = 0;  // answers other than 2xx/3xx
};

struct wrk_job {
  std::uint16_t port = 0;
  std::string path;  // e.g. /v1/indexes/bench/search
  std::string content_type = "application/json";
  const std::vector<std::string>* bodies = nullptr;
  unsigned connections = 50;
  double seconds = 10;
  std::string workdir;  // bodies and the script go here (made if missing)
  std::string wrk = "wrk";
};

inline std::string wrk_script(const wrk_job& job) {
  // Requests are formatted once in init(); request() only hands them out.
  return fmt::format(R"lua(local reqs = {{}}
local n = {n}
local i = 0
init = function(args)
  for j = 0, n - 1 do
    local f = assert(io.open("{dir}/body-" .. j, "rb"))
    local body = f:read("*a")
    f:close()
    reqs[j + 1] = wrk.format("POST", "{path}", {{["Content-Type"] = "{type}"}}, body)
  end
end
request = function()
  i = i % n + 1
  return reqs[i]
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("WRK %d %d %d %d %d %d\n", summary.requests, summary.duration,
    e.connect + e.read + e.write + e.timeout, e.status,
    latency:percentile(50), latency:percentile(99)))
end
)lua",
                     fmt::arg("n", job.bodies->size()), fmt::arg("dir", job.workdir),
                     fmt::arg("path", job.path), fmt::arg("type", job.content_type));
}

inline wrk_result run_wrk(const wrk_job& job) {
  if (!job.bodies || job.bodies->empty()) throw std::invalid_argument("wrk: no bodies");
  std::filesystem::create_directories(job.workdir);
  for (std::size_t j = 0; j < job.bodies->size(); ++j) {
    std::ofstream f(job.workdir + "/body-" + std::to_string(j), std::ios::binary);
    f << (*job.bodies)[j];
  }
  auto script = job.workdir + "/bench.lua";
  std::ofstream(script) << wrk_script(job);
  auto cmd = fmt::format("{} -t1 -c{} -d{}s --timeout 10s -s {} http://127.0.0.1:{}{} 2>&1",
                         job.wrk, job.connections, job.seconds, script, job.port, job.path);
  std::FILE* p = popen(cmd.c_str(), "r");
  if (!p) throw std::runtime_error("cannot run " + cmd);
  char line[512];
  std::string out;
  wrk_result r;
  bool parsed = false;
  while (std::fgets(line, sizeof line, p)) {
    out += line;
    unsigned long long req = 0, dur_us = 0, sock = 0, status = 0, p50 = 0, p99 = 0;
    if (std::sscanf(line, "WRK %llu %llu %llu %llu %llu %llu", &req, &dur_us, &sock, &status, &p50,
                    &p99) == 6) {
      r.requests = req;
      r.rps = dur_us ? double(req) / (double(dur_us) / 1e6) : 0;
      r.socket_errors = sock;
      r.status_errors = status;
      r.p50_ms = double(p50) / 1000;
      r.p99_ms = double(p99) / 1000;
      parsed = true;
    }
  }
  if (pclose(p) != 0 || !parsed) throw std::runtime_error("wrk failed: " + cmd + "\n" + out);
  return r;
}

}  // namespace bench
