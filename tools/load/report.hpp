#pragma once
// What a load run measured: per scenario counts and latencies, a per-second time
// series, chaos events with their recovery windows, the ledger verification and
// recall samples. Written as report.json, timeseries.csv, summary.txt and a
// gnuplot PNG.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace quiver::load {

struct scenario_stats {
  std::size_t count = 0;        // finished, whatever the outcome
  std::size_t failed = 0;       // wrong answer, or an error outside a recovery window
  std::size_t interrupted = 0;  // unavailable (no answer, 502/503/504) inside a recovery window
  std::vector<double> latencies_ms;             // of scenarios that passed
  std::map<std::string, std::size_t> failures;  // reason (numbers as #) -> count, capped
  std::vector<std::string> examples;            // the first few failures verbatim
  std::map<std::string, std::size_t> notes;     // passes worth counting (e.g. an ANN retry)
};

struct second_stats {
  std::size_t scenarios = 0;
  std::size_t failed = 0;
  std::size_t interrupted = 0;
  std::size_t requests = 0;
  std::size_t request_errors = 0;    // non-2xx/404 answers and transport errors
  std::vector<double> latencies_ms;  // of every request
};

struct chaos_event {
  std::string target;
  std::string action;                           // "kill" or "stop"
  double at_s = 0;                              // since the run started
  double back_s = -1;                           // restarted / continued
  double ready_s = -1;                          // every target's /readyz answered 200 again
  std::map<int, std::size_t> errors_by_status;  // 0: no answer
  double recovery_s() const { return ready_s < 0 ? -1 : ready_s - at_s; }
};

struct verification {
  std::size_t ids_checked = 0;
  std::size_t acknowledged_writes = 0;
  std::size_t uncertain_writes = 0;
  std::size_t lost = 0;        // an id whose state is none of the possible ones
  std::size_t unreadable = 0;  // could not be read back at all
  std::vector<std::string> examples;
};

struct recall_sample {
  double at_s = 0;
  double recall = 0;
  std::size_t live = 0;
  std::size_t queries = 0;
};

struct run_report {
  std::string command;
  std::string mode;  // "load", "chaos", "recall"
  std::uint64_t seed = 0;
  std::size_t concurrency = 0;
  double duration_s = 0;
  double elapsed_s = 0;
  std::vector<std::string> targets;
  std::map<std::string, scenario_stats> scenarios;
  std::vector<second_stats> seconds;
  std::vector<chaos_event> chaos;
  std::optional<verification> verify;
  std::vector<recall_sample> recall;
  std::map<std::string, std::size_t> rss_bytes;  // daemon -> peak RSS seen, when it ran them

  std::size_t total_scenarios() const;
  std::size_t total_failed() const;
};

double percentile(std::vector<double> v, double p);

// A table per scenario plus totals, as printed at the end of a run.
std::string summary_table(const run_report& r);
std::string to_json(const run_report& r);
// Writes report.json, summary.txt, timeseries.csv (+ recall.csv) and plot.png into
// `dir`; the PNG needs gnuplot and is skipped with a warning without it. Returns
// the files written.
std::vector<std::string> write_report(const run_report& r, const std::string& dir);

}  // namespace quiver::load
