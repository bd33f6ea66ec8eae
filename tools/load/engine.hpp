#pragma once
// The load harness proper: virtual users (one asynchronous state machine each, all
// on one io thread) run weighted, self-verifying scenarios against Quiver's REST
// API; every write goes into a ledger verified at the end.

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "tools/load/client.hpp"
#include "tools/load/report.hpp"

namespace quiver::load {

class chaos_monkey;

// Scenario names, in report order.
extern const std::vector<std::string> kScenarios;

struct load_options {
  std::vector<endpoint> targets;
  std::size_t concurrency = 50;
  double duration_s = 60;
  std::uint64_t seed = 1;
  std::string corpus_dir;
  std::string index = "workers";          // the corpus index (read-only during a run)
  std::map<std::string, double> weights;  // scenario -> weight (missing: 0)
  std::size_t k = 10;
  std::size_t batch_min = 100, batch_max = 1000;  // batch_ingest sizes
  double delete_after_read = 0.5;                 // upsert_then_read deletes its record this often
  // With --ingest, this share of the corpus is also loaded into the write index, so
  // that its writes and searches cost from the start what they cost at corpus scale.
  double write_preload = 0;
  std::size_t small_live_per_user = 2;       // small_index_churn: live ids per virtual user
  double tiny_index_probability = 0.02;      // small_index_churn: the delete-the-last-node variant
  std::chrono::milliseconds timeout{10000};  // per request
  double grace_s = 2;                        // a recovery window lasts this long past readiness
  std::size_t replicas = 0;                  // of every index it creates (0: the server's default)
  // The seed scenarios: the text index's dimension (hash-v1), and how often a
  // playbook scenario drops its user's playbook afterwards (small-index churn).
  std::size_t text_dim = 384;
  double playbook_drop_probability = 0.02;
  bool progress = true;
};

// The index the writing scenarios use (beside the read-only corpus index).
std::string write_index_name(const load_options& opt);
// The corpus's text index (the seed scenarios search it by text), and whether
// any of them is in the mix.
std::string text_index_name(const load_options& opt);
bool uses_text_index(const load_options& opt);

// `,"replicas":N` for an index creation body, or nothing for the server's default.
std::string replicas_field(std::size_t replicas);

// Creates `index` (if missing) and loads the corpus into it in batches, with a
// progress line (rate, ETA). An index that already holds the whole corpus is left
// as is. `limit` (0: all) loads only the first records. With `text_dim` the
// vectors are each profile's text (profile_text) embedded with hash-v1 at that
// dimension, not the corpus file's. Throws with the server's answer on failure.
void ingest(const std::vector<endpoint>& targets, const std::string& corpus_dir,
            const std::string& index, std::size_t batch, std::size_t shards, bool progress,
            std::size_t limit = 0, std::size_t replicas = 0, std::size_t text_dim = 0);

// Runs the scenarios for `duration_s`, then verifies the ledger. `chaos` (may be
// null) is consulted to tell interruptions from failures and counts errors per
// recovery window; its events are not copied into the report here.
run_report run_load(const load_options& opt, chaos_monkey* chaos,
                    std::chrono::steady_clock::time_point t0);

struct recall_options {
  std::vector<endpoint> targets;
  std::string corpus_dir;
  std::string index = "churn";
  std::size_t live = 20000;  // vectors kept live (initial load, then churn around it)
  std::size_t writers = 4;   // concurrent churn writers
  double duration_s = 60;
  double sample_every_s = 2;
  std::size_t sample_queries = 20;
  std::uint64_t seed = 1;
  std::chrono::milliseconds timeout{10000};
  bool progress = true;
};

// Recall under churn: loads `live` vectors, then upserts/replaces/deletes while a
// sampler compares search results with brute force over the harness's own copy.
run_report run_recall(const recall_options& opt);

}  // namespace quiver::load
