// The original six load scenarios of configs/load.toml: searches checked
// against the corpus's ground truth, writes read back, swaps with excluded ids,
// repeated queries, small-index churn and batch ingests checked by the ledger.

#include <simdjson.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <random>
#include <unordered_map>

#include "tools/load/engine_detail.hpp"

namespace quiver::load::run_detail {

std::string vuser::vector_path(const std::string& index, const std::string& id) const {
  return "/v1/indexes/" + index + "/vectors/" + encode_path_segment(id);
}

std::string vuser::check_corpus_hits(const std::vector<hit>& hits, const float* q) const {
  for (auto& h : hits) {
    auto key = corpus_key(h.id);
    if (key < 0 || std::size_t(key) >= e_.base().size()) return "unknown id " + h.id;
    if (h.meta_id != h.id) return "metadata of " + h.meta_id + " returned for " + h.id;
    auto want = cosine_distance(q, e_.base().row(std::size_t(key)), e_.base().dim());
    if (std::abs(want - h.distance) > kDistanceTolerance)
      return "distance of " + h.id + " is " + std::to_string(h.distance) + ", expected " +
             std::to_string(want);
  }
  return {};
}

void vuser::cold_search(done_fn done) {
  auto qi = std::uniform_int_distribution<std::size_t>(0, e_.queries().size() - 1)(rng_);
  const float* q = e_.queries().row(qi);
  auto k = e_.opt().k;
  call(method::post, "/v1/indexes/" + e_.opt().index + "/search",
       search_body(e_.query_json(qi), k, 0, {}, true), [this, q, k, done](http_result r) {
         if (r.status != 200) return done(from_status(r, "search"));
         std::vector<hit> hits;
         auto err = parse_hits(parser_, r.body, k, hits);
         if (err.empty() && hits.size() != k) err = "fewer than k results from the corpus";
         if (err.empty()) err = check_corpus_hits(hits, q);
         done(err.empty() ? outcome::pass() : outcome::bad("cold_search: " + err));
       });
}

void vuser::profile_swap(done_fn done) {
  auto qi = std::uniform_int_distribution<std::size_t>(0, e_.queries().size() - 1)(rng_);
  const float* q = e_.queries().row(qi);
  auto k = e_.opt().k;
  auto path = "/v1/indexes/" + e_.opt().index + "/search";
  call(method::post, path, search_body(e_.query_json(qi), k, 0, {}, true),
       [this, q, qi, k, path, done](http_result r) {
         if (r.status != 200) return done(from_status(r, "search"));
         auto first = std::make_shared<std::vector<hit>>();
         auto err = parse_hits(parser_, r.body, k, *first);
         if (err.empty()) err = check_corpus_hits(*first, q);
         if (!err.empty()) return done(outcome::bad("profile_swap: " + err));
         std::vector<std::string> exclude;
         for (auto& h : *first) exclude.push_back(h.id);
         call(method::post, path, search_body(e_.query_json(qi), k, 0, exclude, true),
              [this, q, k, first, done](http_result r) {
                if (r.status != 200) return done(from_status(r, "search excluding"));
                std::vector<hit> second;
                auto err = parse_hits(parser_, r.body, k, second);
                if (err.empty() && second.size() != k) err = "fewer than k results after excluding";
                if (err.empty()) err = check_corpus_hits(second, q);
                for (auto& h : second)
                  for (auto& f : *first)
                    if (err.empty() && h.id == f.id) err = "excluded id " + h.id + " came back";
                done(err.empty() ? outcome::pass() : outcome::bad("profile_swap: " + err));
              });
       });
}

void vuser::repeat_query(done_fn done) {
  auto qi = std::uniform_int_distribution<std::size_t>(0, e_.queries().size() - 1)(rng_);
  repeat_step(nullptr, qi, 5, std::move(done));
}

void vuser::repeat_step(std::shared_ptr<std::vector<hit>> first, std::size_t qi, int left,
                        done_fn done) {
  if (left == 0) return done(outcome::pass());
  auto k = e_.opt().k;
  call(method::post, "/v1/indexes/" + e_.opt().index + "/search",
       search_body(e_.query_json(qi), k, 0, {}, false),
       [this, first, qi, left, k, done](http_result r) {
         if (r.status != 200) return done(from_status(r, "search"));
         auto hits = std::make_shared<std::vector<hit>>();
         auto err = parse_hits(parser_, r.body, k, *hits);
         if (!err.empty()) return done(outcome::bad("repeat_query: " + err));
         if (first) {
           bool same = first->size() == hits->size();
           for (std::size_t i = 0; same && i < hits->size(); ++i)
             same = (*first)[i].id == (*hits)[i].id &&
                    std::abs((*first)[i].distance - (*hits)[i].distance) < 1e-6;
           if (!same)
             return done(outcome::bad("repeat_query: the same query gave different results"));
         }
         repeat_step(first ? first : hits, qi, left - 1, done);
       });
}

void vuser::write(method m, const std::string& index, const std::string& id, const id_state& next,
                  std::string body, std::function<void(outcome)> done) {
  e_.led().begin(index, id);
  auto path = vector_path(index, id);
  call(m, path, std::move(body), [this, m, index, id, next, done](http_result r) {
    if (r.status == 200) {
      e_.led().acknowledged(index, id, next);
      return done(outcome::pass());
    }
    // A 4xx changed nothing; anything else may or may not have applied.
    if (r.status < 400 || r.status >= 500) e_.led().uncertain(index, id, next);
    done(from_status(r, m == method::del ? "delete" : "put"));
  });
}

void vuser::read_back(const std::string& index, const std::string& id, const id_state& want,
                      done_fn done) {
  call(method::get, vector_path(index, id), {}, [this, id, want, done](http_result r) {
    if (!want.present) {
      if (r.status == 404) return done(outcome::pass());
      if (r.status == 200) return done(outcome::bad("deleted id " + id + " still readable"));
      return done(from_status(r, "get"));
    }
    if (r.status == 404) return done(outcome::bad("acknowledged id " + id + " not found"));
    if (r.status != 200) return done(from_status(r, "get"));
    try {
      auto doc = parser_.parse(r.body);
      const auto& want_v = e_.vector(want.vector_key);
      auto got = read_vector(doc["vector"]);
      if (got.size() != want_v.size() || !same_vector(got.data(), want_v.data(), got.size()))
        return done(outcome::bad("vector of " + id + " differs from the one written"));
      if (simdjson::minify(doc["metadata"]) != want.metadata)
        return done(outcome::bad("metadata of " + id + " differs from the one written"));
    } catch (const simdjson::simdjson_error& e) {
      return done(outcome::bad("malformed get answer for " + id + ": " + excerpt(r.body)));
    }
    done(outcome::pass());
  });
}

void vuser::upsert_then_read(done_fn done) {
  auto key = e_.fresh_key();
  auto id = "u" + e_.nonce() + "-" + std::to_string(idx_) + "-" + std::to_string(serial_++);
  auto p = e_.model().profile_for(key);
  p.id = id;
  id_state next{true, key, profile_json(p)};
  auto vec = e_.vector(key);
  auto& index = e_.write_index();
  write(method::put, index, id, next, put_body(vec, next.metadata),
        [this, id, next, vec, index, done](outcome o) {
          if (o.kind != outcome::ok) return done(o);
          read_back(index, id, next, [this, id, next, vec, index, done](outcome o) {
            if (o.kind != outcome::ok) return done(o);
            find_own(index, id, vec, 0, [this, id, index, done](outcome o) {
              if (o.kind != outcome::ok) return done(o);
              std::uniform_real_distribution<double> u(0, 1);
              if (u(rng_) >= e_.opt().delete_after_read) return done(o);
              write(method::del, index, id, id_state{}, {}, [this, id, index, done](outcome o) {
                if (o.kind != outcome::ok) return done(o);
                read_back(index, id, id_state{}, done);
              });
            });
          });
        });
}

// Searches `index` with a record's own vector: it must come back at distance ~0.
// HNSW is approximate, so a miss at the index's ef is retried once with a wide ef
// (noted in the report); a miss there too is a failure.
void vuser::find_own(const std::string& index, const std::string& id, const std::vector<float>& vec,
                     int ef, done_fn done) {
  auto k = e_.opt().k;
  call(method::post, "/v1/indexes/" + index + "/search",
       search_body(vec.data(), vec.size(), k, ef, {}, false),
       [this, index, id, vec, ef, k, done](http_result r) {
         if (r.status != 200) return done(from_status(r, "search"));
         std::vector<hit> hits;
         auto err = parse_hits(parser_, r.body, k, hits);
         if (!err.empty()) return done(outcome::bad("upsert_then_read: " + err));
         bool found = std::any_of(hits.begin(), hits.end(),
                                  [&](const hit& h) { return h.id == id && h.distance < 1e-4; });
         if (found) {
           auto o = outcome::pass();
           if (ef) o.note = "own vector found only with ef=" + std::to_string(ef);
           return done(o);
         }
         if (ef == 0) return find_own(index, id, vec, kWideEf, done);
         done(outcome::bad("upsert_then_read: its own vector did not find " + id));
       });
}

void vuser::batch_ingest(done_fn done) {
  auto n = std::uniform_int_distribution<std::size_t>(e_.opt().batch_min, e_.opt().batch_max)(rng_);
  auto items = std::make_shared<std::vector<std::pair<std::string, id_state>>>();
  std::string body = "{\"items\":[";
  for (std::size_t i = 0; i < n; ++i) {
    auto key = e_.fresh_key();
    auto id = "b" + e_.nonce() + "-" + std::to_string(idx_) + "-" + std::to_string(serial_++);
    auto p = e_.model().profile_for(key);
    p.id = id;
    id_state st{true, key, profile_json(p)};
    if (i) body += ',';
    body += "{\"id\":";
    append_string(body, id);
    body += ",\"vector\":";
    auto v = e_.model().vector_for(key);
    append_floats(body, v.data(), v.size());
    body += ",\"metadata\":" + st.metadata + "}";
    e_.led().begin(e_.write_index(), id);
    items->emplace_back(id, std::move(st));
  }
  body += "]}";
  auto& index = e_.write_index();
  call(method::post, "/v1/indexes/" + index + "/vectors", std::move(body),
       [this, items, index, n, done](http_result r) {
         for (auto& [id, st] : *items) {
           if (r.status == 200)
             e_.led().acknowledged(index, id, st);
           else if (r.status >= 500 || r.status == 0)
             e_.led().uncertain(index, id, st);
         }
         if (r.status != 200) return done(from_status(r, "batch upsert"));
         if (json_uint(r.body, "upserted") != n)
           return done(outcome::bad("batch_ingest: answer does not count " + std::to_string(n) +
                                    " upserts: " + excerpt(r.body)));
         // Spot-check one item of the batch.
         auto& [id, st] = (*items)[std::uniform_int_distribution<std::size_t>(0, n - 1)(rng_)];
         read_back(index, id, st, [items, done](outcome o) {
           if (o.kind == outcome::wrong) o.why = "batch_ingest: " + o.why;
           done(o);
         });
       });
}

// The seed's playbook pattern on a small shared index: record a new id, replace
// one, delete one, then search with k above the index's size, which must return
// exactly this user's live ids (their distances brute-forced here).
void vuser::small_index_churn(done_fn done) {
  if (!leftover_indexes_.empty()) return drop_leftovers(done);
  if (!small_uncertain_.empty()) return resolve_small(small_uncertain_, done);
  std::uniform_real_distribution<double> u(0, 1);
  if (u(rng_) < e_.opt().tiny_index_probability) return tiny_index(done);
  auto& index = e_.small_index();
  auto key = e_.fresh_key();
  auto id = small_prefix() + std::to_string(serial_++);
  auto meta = "{\"playbook\":\"" + id + "\",\"step\":\"record\"}";
  id_state st{true, key, meta};
  auto on_write = [this, id, st](outcome o) {
    if (o.kind == outcome::ok) {
      if (st.present)
        small_live_[id] = st;
      else
        small_live_.erase(id);
    } else if (o.kind != outcome::error) {
      small_uncertain_.push_back(id);
    }
    return o;
  };
  write(method::put, index, id, st, put_body(e_.vector(key), meta),
        [this, on_write, index, done](outcome o) {
          if ((o = on_write(o)).kind != outcome::ok) return done(o);
          // Replace a random live id (vector and metadata).
          auto it = small_live_.begin();
          std::advance(it,
                       std::uniform_int_distribution<std::size_t>(0, small_live_.size() - 1)(rng_));
          auto rid = it->first;
          auto key = e_.fresh_key();
          id_state rst{true, key, "{\"playbook\":\"" + rid + "\",\"step\":\"replace\"}"};
          auto on_replace = [this, rid, rst](outcome o) {
            if (o.kind == outcome::ok)
              small_live_[rid] = rst;
            else if (o.kind != outcome::error)
              small_uncertain_.push_back(rid);
            return o;
          };
          write(method::put, index, rid, rst, put_body(e_.vector(key), rst.metadata),
                [this, on_replace, index, done](outcome o) {
                  if ((o = on_replace(o)).kind != outcome::ok) return done(o);
                  trim_small(done);
                });
        });
}

// Deletes random live ids down to the per-user cap (interrupted runs can leave more),
// then searches: the exhaustive search relies on the index staying small.
void vuser::trim_small(done_fn done) {
  if (small_live_.size() <= e_.opt().small_live_per_user) return small_search(done);
  auto it = small_live_.begin();
  std::advance(it, std::uniform_int_distribution<std::size_t>(0, small_live_.size() - 1)(rng_));
  auto did = it->first;
  write(method::del, e_.small_index(), did, id_state{}, {}, [this, did, done](outcome o) {
    if (o.kind == outcome::ok)
      small_live_.erase(did);
    else if (o.kind != outcome::error)
      small_uncertain_.push_back(did);
    if (o.kind != outcome::ok) return done(o);
    trim_small(done);
  });
}

void vuser::small_search(done_fn done) {
  if (small_live_.empty()) return done(outcome::pass());
  auto it = small_live_.begin();
  std::advance(it, std::uniform_int_distribution<std::size_t>(0, small_live_.size() - 1)(rng_));
  auto q = e_.vector(it->second.vector_key);
  // k above the index's size (every user's live ids) so the answer is exhaustive.
  auto k = e_.opt().concurrency * (e_.opt().small_live_per_user + 1) + 16;
  auto qid = it->first;
  call(method::post, "/v1/indexes/" + e_.small_index() + "/search",
       search_body(q.data(), q.size(), k, int(k), {}, false),
       [this, q, k, qid, done](http_result r) {
         if (r.status != 200) return done(from_status(r, "search"));
         std::vector<hit> hits;
         auto err = parse_hits(parser_, r.body, k, hits);
         if (err.empty() && (hits.empty() || hits[0].distance > 1e-4))
           err = "its own vector did not come first";
         std::size_t own = 0;
         auto prefix = small_prefix();
         for (auto& h : hits) {
           if (!err.empty()) break;
           if (h.id.rfind(prefix, 0) != 0) continue;
           auto live = small_live_.find(h.id);
           if (live == small_live_.end()) {
             err = "deleted id " + h.id + " returned";
             break;
           }
           ++own;
           const auto& v = e_.vector(live->second.vector_key);
           auto want = cosine_distance(q.data(), v.data(), v.size());
           if (std::abs(want - h.distance) > kDistanceTolerance)
             err = "distance of " + h.id + " is stale (" + std::to_string(h.distance) +
                   ", expected " + std::to_string(want) + ")";
         }
         if (err.empty() && own != small_live_.size())
           err = std::to_string(small_live_.size() - own) +
                 " live ids missing from an exhaustive search";
         done(err.empty() ? outcome::pass() : outcome::bad("small_index_churn: " + err));
       });
}

// After an interrupted write: read the ids back, check each against the ledger's
// possible states, and continue from what the server holds.
void vuser::resolve_small(std::vector<std::string> ids, done_fn done) {
  if (ids.empty()) {
    small_uncertain_.clear();
    return done(outcome::pass());
  }
  auto id = ids.back();
  ids.pop_back();
  auto& index = e_.small_index();
  call(method::get, vector_path(index, id), {}, [this, id, ids, index, done](http_result r) {
    id_state seen;
    if (r.status == 200) {
      try {
        auto doc = parser_.parse(r.body);
        seen.present = true;
        seen.metadata = simdjson::minify(doc["metadata"]);
        auto got = read_vector(doc["vector"]);
        bool matched = false;
        for (auto& st : e_.led().possible(index, id))
          if (st.present && st.metadata == seen.metadata && got.size() == e_.model().recipe().dim &&
              same_vector(got.data(), e_.vector(st.vector_key).data(), got.size())) {
            seen.vector_key = st.vector_key;
            matched = true;
          }
        if (!matched)
          return done(
              outcome::bad("small_index_churn: " + id + " holds a state no write produced"));
      } catch (const simdjson::simdjson_error&) {
        return done(outcome::bad("malformed get answer: " + excerpt(r.body)));
      }
    } else if (r.status != 404) {
      return done(from_status(r, "get"));
    }
    if (!e_.led().resolve(index, id, seen))
      return done(outcome::bad("small_index_churn: acknowledged write to " + id + " lost"));
    if (seen.present)
      small_live_[id] = seen;
    else
      small_live_.erase(id);
    resolve_small(ids, done);
  });
}

// Drops the tiny indexes an interrupted run of tiny_index left behind.
void vuser::drop_leftovers(done_fn done) {
  if (leftover_indexes_.empty()) return done(outcome::pass());
  auto name = leftover_indexes_.back();
  call(method::del, "/v1/indexes/" + name, {}, [this, done](http_result r) {
    if (r.status != 200 && r.status != 404) return done(from_status(r, "drop a leftover index"));
    leftover_indexes_.pop_back();
    drop_leftovers(done);
  });
}

// The seed's crash: delete the last node of an index, then search and write again.
void vuser::tiny_index(done_fn done) {
  auto name = e_.opt().index + "_tiny_" + e_.nonce() + "_" + std::to_string(idx_) + "_" +
              std::to_string(serial_++);
  auto dim = e_.model().recipe().dim;
  auto key = e_.fresh_key();
  auto v = std::make_shared<std::vector<float>>(e_.model().vector_for(key));
  std::string create = "{\"name\":\"" + name + "\",\"dimension\":" + std::to_string(dim) +
                       replicas_field(e_.opt().replicas) + "}";
  auto base = "/v1/indexes/" + name;
  auto put = put_body(*v, "{\"step\":\"only\"}");
  auto search = search_body(v->data(), v->size(), 5, 0, {}, false);
  auto step = std::make_shared<std::function<void(int)>>();
  // Steps: create, put, delete (the last node), search (empty), put, search (found), drop.
  // The pending request holds the chain; the function itself holds only a weak ref.
  *step = [this, weak = std::weak_ptr<std::function<void(int)>>(step), base, create, put, search,
           done](int i) {
    auto self = weak.lock();
    auto next = [this, self, i, base, done](http_result r, const char* what, bool ok) {
      if (r.status == 0 || r.status >= 500 || !ok)
        leftover_indexes_.push_back(base.substr(base.rfind('/') + 1));
      if (r.status == 0 || r.status >= 500 || (!ok && r.status >= 400))
        return done(from_status(r, what));
      if (!ok)
        return done(outcome::bad(std::string("small_index_churn (tiny): ") + what + ": " +
                                 excerpt(r.body)));
      if (i == 6) return done(outcome::pass());
      (*self)(i + 1);
    };
    auto hits_are = [this](const http_result& r, std::size_t n) {
      std::vector<hit> hits;
      return r.status == 200 && parse_hits(parser_, r.body, 5, hits).empty() && hits.size() == n &&
             (n == 0 || hits[0].id == "only");
    };
    switch (i) {
      case 0:
        return call(method::post, "/v1/indexes", create,
                    [next](http_result r) { next(r, "create", r.status == 201); });
      case 1:
      case 4:
        return call(method::put, base + "/vectors/only", put,
                    [next](http_result r) { next(r, "put", r.status == 200); });
      case 2:
        return call(method::del, base + "/vectors/only", {}, [this, next](http_result r) {
          next(r, "delete the last node", r.status == 200 && json_bool(r.body, "deleted"));
        });
      case 3:
        return call(method::post, base + "/search", search, [next, hits_are](http_result r) {
          next(r, "search an emptied index", hits_are(r, 0));
        });
      case 5:
        return call(method::post, base + "/search", search, [next, hits_are](http_result r) {
          next(r, "search after re-adding", hits_are(r, 1));
        });
      default:
        return call(method::del, base, {},
                    [next](http_result r) { next(r, "drop", r.status == 200); });
    }
  };
  (*step)(0);
}

}  // namespace quiver::load::run_detail
