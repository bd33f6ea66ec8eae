#include "tools/load/report.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace quiver::load {

namespace {

std::string fmt(const char* f, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}

std::string json_str(const std::string& s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
  }
  return out + "\"";
}

std::string num(double v) {
  if (!std::isfinite(v)) return "null";
  return fmt("%.4f", v);
}

// The members of a JSON object of counts, without its braces.
void json_counts(std::ostream& o, const std::map<std::string, std::size_t>& m) {
  bool first = true;
  for (auto& [key, n] : m) {
    o << (first ? "" : ",") << json_str(key) << ":" << n;
    first = false;
  }
}

void json_strings(std::ostream& o, const std::vector<std::string>& v) {
  o << "[";
  for (std::size_t i = 0; i < v.size(); ++i) o << (i ? "," : "") << json_str(v[i]);
  o << "]";
}

bool have_gnuplot() { return std::system("command -v gnuplot >/dev/null 2>&1") == 0; }

}  // namespace

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  auto i = static_cast<std::size_t>(std::ceil(p * double(v.size())));
  return v[std::min(v.size() - 1, i == 0 ? 0 : i - 1)];
}

std::size_t run_report::total_scenarios() const {
  std::size_t n = 0;
  for (auto& [_, s] : scenarios) n += s.count;
  return n;
}

std::size_t run_report::total_failed() const {
  std::size_t n = 0;
  for (auto& [_, s] : scenarios) n += s.failed;
  return n;
}

std::string summary_table(const run_report& r) {
  std::ostringstream o;
  char line[256];
  std::snprintf(line, sizeof line, "%-20s %10s %8s %8s %9s %9s %9s %9s\n", "scenario", "count",
                "fail %", "intr.", "p50 ms", "p90 ms", "p99 ms", "max ms");
  o << line;
  for (auto& [name, s] : r.scenarios) {
    double fail = s.count ? 100.0 * double(s.failed) / double(s.count) : 0;
    std::snprintf(line, sizeof line, "%-20s %10zu %7.2f%% %8zu %9.2f %9.2f %9.2f %9.2f\n",
                  name.c_str(), s.count, fail, s.interrupted, percentile(s.latencies_ms, 0.5),
                  percentile(s.latencies_ms, 0.9), percentile(s.latencies_ms, 0.99),
                  percentile(s.latencies_ms, 1.0));
    o << line;
  }
  auto total = r.total_scenarios();
  std::snprintf(line, sizeof line, "TOTAL %zu scenarios in %.1f s = %.1f scenarios/s, %zu failed\n",
                total, r.elapsed_s, r.elapsed_s > 0 ? double(total) / r.elapsed_s : 0,
                r.total_failed());
  o << line;
  for (auto& [name, s] : r.scenarios) {
    for (auto& [reason, n] : s.failures)
      o << "  " << name << " failure x" << n << ": " << reason << "\n";
    for (auto& e : s.examples) o << "    e.g. " << e << "\n";
    for (auto& [note, n] : s.notes) o << "  " << name << " note x" << n << ": " << note << "\n";
  }
  if (!r.chaos.empty()) {
    o << "chaos events:\n";
    for (auto& e : r.chaos) {
      std::snprintf(line, sizeof line, "  t=%7.2fs %-4s %-10s recovered in %s", e.at_s,
                    e.action.c_str(), e.target.c_str(),
                    e.ready_s < 0 ? "never" : fmt("%.2f s", e.recovery_s()).c_str());
      o << line;
      for (auto& [status, n] : e.errors_by_status) o << "  [" << status << "]x" << n;
      o << "\n";
    }
  }
  if (r.verify) {
    auto& v = *r.verify;
    o << "ledger: " << v.ids_checked << " ids checked, " << v.acknowledged_writes
      << " acknowledged writes, " << v.uncertain_writes << " with unknown outcome, LOST " << v.lost
      << ", unreadable " << v.unreadable << "\n";
    for (auto& e : v.examples) o << "  " << e << "\n";
  }
  if (!r.recall.empty()) {
    std::vector<double> rs;
    for (auto& s : r.recall) rs.push_back(s.recall);
    o << "recall@10 under churn: first " << fmt("%.4f", r.recall.front().recall) << ", last "
      << fmt("%.4f", r.recall.back().recall) << ", median " << fmt("%.4f", percentile(rs, 0.5))
      << ", min " << fmt("%.4f", *std::min_element(rs.begin(), rs.end())) << " over "
      << r.recall.size() << " samples\n";
  }
  for (auto& [d, rss] : r.rss_bytes)
    o << "peak RSS " << d << ": " << fmt("%.1f MB", double(rss) / 1e6) << "\n";
  return o.str();
}

std::string to_json(const run_report& r) {
  std::ostringstream o;
  o << "{\"version\":1,\"mode\":" << json_str(r.mode) << ",\"command\":" << json_str(r.command)
    << ",\"seed\":" << r.seed << ",\"concurrency\":" << r.concurrency
    << ",\"duration_s\":" << num(r.duration_s) << ",\"elapsed_s\":" << num(r.elapsed_s)
    << ",\"targets\":[";
  for (std::size_t i = 0; i < r.targets.size(); ++i) o << (i ? "," : "") << json_str(r.targets[i]);
  auto total = r.total_scenarios();
  o << "],\"total_scenarios\":" << total
    << ",\"scenarios_per_s\":" << num(r.elapsed_s > 0 ? double(total) / r.elapsed_s : 0)
    << ",\"total_failed\":" << r.total_failed() << ",\"scenarios\":{";
  bool first = true;
  for (auto& [name, s] : r.scenarios) {
    o << (first ? "" : ",") << json_str(name) << ":{\"count\":" << s.count
      << ",\"failed\":" << s.failed << ",\"interrupted\":" << s.interrupted
      << ",\"fail_pct\":" << num(s.count ? 100.0 * double(s.failed) / double(s.count) : 0)
      << ",\"p50_ms\":" << num(percentile(s.latencies_ms, 0.5))
      << ",\"p90_ms\":" << num(percentile(s.latencies_ms, 0.9))
      << ",\"p99_ms\":" << num(percentile(s.latencies_ms, 0.99))
      << ",\"max_ms\":" << num(percentile(s.latencies_ms, 1.0)) << ",\"failures\":{";
    json_counts(o, s.failures);
    o << "},\"notes\":{";
    json_counts(o, s.notes);
    o << "},\"examples\":";
    json_strings(o, s.examples);
    o << "}";
    first = false;
  }
  o << "},\"chaos\":[";
  for (std::size_t i = 0; i < r.chaos.size(); ++i) {
    auto& e = r.chaos[i];
    o << (i ? "," : "") << "{\"target\":" << json_str(e.target)
      << ",\"action\":" << json_str(e.action) << ",\"at_s\":" << num(e.at_s)
      << ",\"back_s\":" << num(e.back_s) << ",\"ready_s\":" << num(e.ready_s)
      << ",\"recovery_s\":" << num(e.recovery_s()) << ",\"errors_by_status\":{";
    std::map<std::string, std::size_t> by_status;
    for (auto& [status, n] : e.errors_by_status) by_status[std::to_string(status)] = n;
    json_counts(o, by_status);
    o << "}}";
  }
  o << "]";
  if (r.verify) {
    auto& v = *r.verify;
    o << ",\"ledger\":{\"ids_checked\":" << v.ids_checked
      << ",\"acknowledged_writes\":" << v.acknowledged_writes
      << ",\"uncertain_writes\":" << v.uncertain_writes << ",\"lost\":" << v.lost
      << ",\"unreadable\":" << v.unreadable << ",\"examples\":";
    json_strings(o, v.examples);
    o << "}";
  }
  o << ",\"recall\":[";
  for (std::size_t i = 0; i < r.recall.size(); ++i)
    o << (i ? "," : "") << "{\"at_s\":" << num(r.recall[i].at_s)
      << ",\"recall_at_10\":" << num(r.recall[i].recall) << ",\"live\":" << r.recall[i].live
      << ",\"queries\":" << r.recall[i].queries << "}";
  o << "],\"rss_bytes\":{";
  json_counts(o, r.rss_bytes);
  o << "},\"timeseries\":[";
  for (std::size_t i = 0; i < r.seconds.size(); ++i) {
    auto& s = r.seconds[i];
    o << (i ? "," : "") << "{\"t\":" << i << ",\"scenarios\":" << s.scenarios
      << ",\"failed\":" << s.failed << ",\"interrupted\":" << s.interrupted
      << ",\"requests\":" << s.requests << ",\"request_errors\":" << s.request_errors
      << ",\"p99_ms\":" << num(percentile(s.latencies_ms, 0.99)) << "}";
  }
  o << "]}\n";
  return o.str();
}

std::vector<std::string> write_report(const run_report& r, const std::string& dir) {
  std::filesystem::create_directories(dir);
  std::vector<std::string> files;
  auto put = [&](const std::string& name, const std::string& text) {
    std::ofstream f(dir + "/" + name, std::ios::trunc);
    f << text;
    files.push_back(dir + "/" + name);
  };
  put("report.json", to_json(r));
  put("summary.txt", summary_table(r));
  std::ostringstream ts;
  ts << "# t scenarios_per_s error_pct p99_ms\n";
  for (std::size_t i = 0; i < r.seconds.size(); ++i) {
    auto& s = r.seconds[i];
    double err = s.requests ? 100.0 * double(s.request_errors) / double(s.requests) : 0;
    ts << i << " " << s.scenarios << " " << fmt("%.3f", err) << " "
       << fmt("%.3f", percentile(s.latencies_ms, 0.99)) << "\n";
  }
  put("timeseries.csv", ts.str());
  if (!r.recall.empty()) {
    std::ostringstream rc;
    rc << "# t recall_at_10 live\n";
    for (auto& s : r.recall)
      rc << fmt("%.2f", s.at_s) << " " << fmt("%.4f", s.recall) << " " << s.live << "\n";
    put("recall.csv", rc.str());
  }

  std::ostringstream gp;
  gp << "set terminal pngcairo size 1200," << (r.recall.empty() ? 900 : 1150)
     << " font 'sans,10'\nset output '" << dir << "/plot.png'\n"
     << "set multiplot layout " << (r.recall.empty() ? 3 : 4) << ",1 title "
     << json_str("quiver-load " + r.mode + " (conc=" + std::to_string(r.concurrency) + ")" +
                 (r.chaos.empty() ? "" : " - faults: red SIGKILL, orange SIGSTOP"))
     << "\nset grid\nset xlabel 'seconds'\nunset key\n";
  for (auto& e : r.chaos)
    gp << "set arrow from " << e.at_s << ", graph 0 to " << e.at_s << ", graph 1 nohead lc rgb '"
       << (e.action == "kill" ? "red" : "orange") << "' dt 2\n";
  gp << "set ylabel 'scenarios/s'\nplot '" << dir
     << "/timeseries.csv' using 1:2 with lines lw 2 lc rgb '#1f77b4'\n"
     << "set ylabel 'errors (% of requests)'\nset yrange [0:1<*]\nplot '" << dir
     << "/timeseries.csv' using 1:3 with lines lw 2 lc rgb '#d62728'\n"
     << "set ylabel 'request p99 (ms)'\nset yrange [0:*]\nplot '" << dir
     << "/timeseries.csv' using 1:4 with lines lw 2 lc rgb '#2ca02c'\n";
  if (!r.recall.empty())
    gp << "set ylabel 'recall@10'\nset yrange [0:1.05]\nplot '" << dir
       << "/recall.csv' using 1:2 with linespoints lw 2 lc rgb '#9467bd'\n";
  gp << "unset multiplot\n";
  put("plot.gp", gp.str());
  if (!have_gnuplot()) {
    std::fprintf(stderr, "quiver-load: gnuplot not found, plot.png not drawn (plot.gp kept)\n");
  } else if (std::system(("gnuplot '" + dir + "/plot.gp'").c_str()) == 0) {
    files.push_back(dir + "/plot.png");
  } else {
    std::fprintf(stderr, "quiver-load: gnuplot failed on %s/plot.gp\n", dir.c_str());
  }
  return files;
}

}  // namespace quiver::load
