// The seed harness's six workflows, over the corpus's text index (hash-v1
// embeddings of each profile's text) through the matrix tier: each checks its
// answers against what the harness knows of the corpus.
//
//   seed_outreach  matrix search, an email drafted to the top hit, its check
//   seed_fill      active candidates for a role and city, the fill check of
//                  them against a skill, the fill recorded in a playbook
//   seed_swap      the same search excluding the first answer's ids
//   seed_repeat    one search five times: identical results (the cache)
//   seed_sms       an SMS drafted to a worker: phone numbers are not SSNs
//   seed_playbook  a pick recorded as filled rises in the next search

#include <algorithm>
#include <cmath>
#include <set>

#include "tools/load/engine_detail.hpp"

namespace quiver::load::run_detail {

namespace {

constexpr std::size_t kSeedK = 10;
constexpr std::size_t kFillSlots = 3;
constexpr std::size_t kSmsLimit = 160;  // one GSM-7 segment: the corpus's text is ASCII

struct matrix_hit {
  std::string id;
  std::string index;
  double distance = 0;
  double boost = 0;
  std::string meta_id;
};

struct matrix_answer {
  std::vector<matrix_hit> hits;
  bool cached = false;
  bool playbook_skipped = false;  // the playbook could not be read (recovering)
  std::string results;            // the bytes of "results", as sent
};

// Parses a matrix search answer and checks what holds for every one: at most
// k hits, no id twice, ascending distances among hits of the same boost.
// Returns what is wrong, or "".
std::string parse_matrix(simdjson::dom::parser& p, const std::string& body, std::size_t k,
                         matrix_answer& out) {
  try {
    auto doc = p.parse(body);
    out.cached = bool(doc["cached"]);
    bool skipped = false;
    if (!doc["playbook_skipped"].get(skipped)) out.playbook_skipped = skipped;
    for (auto r : doc["results"].get_array()) {
      matrix_hit h;
      h.id = std::string(std::string_view(r["id"]));
      h.index = std::string(std::string_view(r["index"]));
      h.distance = double(r["distance"]);
      double boost = 0;
      if (!r["boost"].get(boost)) h.boost = boost;
      std::string_view mid;
      if (!r["metadata"]["id"].get(mid)) h.meta_id = std::string(mid);
      out.hits.push_back(std::move(h));
    }
  } catch (const simdjson::simdjson_error& e) {
    return std::string("malformed matrix answer (") + e.what() + "): " + excerpt(body);
  }
  if (out.hits.size() > k) return "more than k results";
  // Hits the playbook moved by the same boost keep their order by distance.
  std::set<std::string> seen;
  for (std::size_t i = 0; i < out.hits.size(); ++i) {
    if (!seen.insert(out.hits[i].id).second) return "duplicate id " + out.hits[i].id;
    for (std::size_t j = 0; j < i; ++j)
      if (out.hits[j].boost == out.hits[i].boost &&
          out.hits[i].distance < out.hits[j].distance - 1e-7)
        return "distances not ascending among hits boosted alike";
  }
  auto head = body.find("\"results\":"), tail = body.rfind(",\"cached\":");
  if (head == std::string::npos || tail == std::string::npos || tail < head)
    return "no results array in: " + excerpt(body);
  out.results = body.substr(head + 10, tail - head - 10);
  return {};
}

std::string json_string(const std::string& s) {
  std::string out;
  append_string(out, s);
  return out;
}

std::string matrix_body(const std::string& index, const std::string& text, std::size_t k,
                        const std::vector<std::string>& exclude, const std::string& extra) {
  std::string b = "{\"indexes\":[" + json_string(index) + "],\"text\":" + json_string(text) +
                  ",\"k\":" + std::to_string(k);
  if (!exclude.empty()) {
    b += ",\"exclude_ids\":[";
    for (std::size_t i = 0; i < exclude.size(); ++i) b += (i ? "," : "") + json_string(exclude[i]);
    b += "]";
  }
  return b + extra + "}";
}

std::string words(std::string s) {
  std::replace(s.begin(), s.end(), '_', ' ');
  return s;
}

std::string joined(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& x : v) out += (out.empty() ? "" : ", ") + x;
  return out;
}

}  // namespace

std::uint64_t vuser::seed_query(std::string& text) {
  auto n = e_.info().n;
  auto key = std::uniform_int_distribution<std::uint64_t>(0, n - 1)(rng_);
  auto p = e_.model().profile_for(key);
  text = words(p.role) + " " + words(p.city);
  if (std::uniform_int_distribution<int>(0, 1)(rng_)) text += " " + words(p.skills[0]);
  return key;
}

std::string vuser::playbook_name() const {
  return "seed-" + e_.nonce() + "-" + std::to_string(idx_);
}

// Checks hits of the text index: corpus ids, their own metadata, and (for the
// first) the distance hash-v1 gives the query and the profile's text.
std::string check_text_hits(engine& e, const std::vector<matrix_hit>& hits,
                            const std::string& query) {
  for (const auto& h : hits) {
    auto key = corpus_key(h.id);
    if (key < 0 || std::size_t(key) >= e.info().n) return "unknown id " + h.id;
    if (h.meta_id != h.id) return "metadata of " + h.meta_id + " returned for " + h.id;
    if (h.index != e.text_index()) return "hit of index " + h.index;
  }
  if (hits.empty()) return {};
  auto q = e.embedder().embed(query);
  auto t = e.embedder().embed(profile_text(e.model().profile_for(corpus_key(hits[0].id))));
  if (!q || !t) return "the harness cannot embed its own texts";
  auto want = cosine_distance(q->data(), t->data(), q->size());
  if (std::abs(want - hits[0].distance) > kDistanceTolerance)
    return "distance of " + hits[0].id + " is " + std::to_string(hits[0].distance) +
           ", hash-v1 gives " + std::to_string(want);
  return {};
}

void vuser::seed_outreach(done_fn done) {
  auto text = std::make_shared<std::string>();
  seed_query(*text);
  call(method::post, "/v1/matrix/search", matrix_body(e_.text_index(), *text, kSeedK, {}, {}),
       [this, text, done](http_result r) {
         if (r.status != 200) return done(from_status(r, "matrix search"));
         matrix_answer a;
         auto err = parse_matrix(parser_, r.body, kSeedK, a);
         if (err.empty() && a.hits.size() != kSeedK) err = "fewer than k results";
         if (err.empty()) err = check_text_hits(e_, a.hits, *text);
         if (!err.empty()) return done(outcome::bad("seed_outreach: " + err));
         auto p = std::make_shared<profile>(e_.model().profile_for(corpus_key(a.hits[0].id)));
         std::string body = "{\"index\":" + json_string(e_.text_index()) +
                            ",\"id\":" + json_string(p->id) +
                            ",\"channel\":\"email\",\"subject\":\"Shift in {{city}}\","
                            "\"template\":\"Hi {{name}}, a {{role}} shift fits your {{skills}} "
                            "experience. Reply to confirm.\"}";
         call(method::post, "/v1/matrix/outreach", body, [this, p, done](http_result r) {
           if (r.status != 200) return done(from_status(r, "outreach"));
           auto want_body = "Hi " + p->name + ", a " + p->role + " shift fits your " +
                            joined(p->skills) + " experience. Reply to confirm.";
           auto want_subject = "Shift in " + p->city;
           std::string_view to, subject, draft;
           bool ok = false;
           auto doc = parser_.parse(r.body);
           if (doc.error() || doc["ok"].get(ok) || doc["draft"]["to"].get(to) ||
               doc["draft"]["subject"].get(subject) || doc["draft"]["body"].get(draft))
             return done(outcome::bad("seed_outreach: malformed draft " + excerpt(r.body)));
           if (!ok || to != p->email || subject != want_subject || draft != want_body)
             return done(outcome::bad("seed_outreach: draft for " + p->id +
                                      " is not the template filled: " + excerpt(r.body)));
           std::string check = "{\"to\":" + json_string(std::string(to)) +
                               ",\"subject\":" + json_string(std::string(subject)) +
                               ",\"body\":" + json_string(std::string(draft)) + "}";
           call(method::post, "/v1/validate/email", check, [this, done](http_result r) {
             if (r.status != 200) return done(from_status(r, "validate email"));
             if (!json_bool(r.body, "ok"))
               return done(
                   outcome::bad("seed_outreach: a valid email was refused: " + excerpt(r.body)));
             done(outcome::pass());
           });
         });
       });
}

void vuser::seed_fill(done_fn done) {
  auto text = std::make_shared<std::string>();
  auto key = seed_query(*text);
  auto skill = e_.model().profile_for(key).skills[0];
  call(
      method::post, "/v1/matrix/search",
      matrix_body(e_.text_index(), *text, kFillSlots * 2, {},
                  ",\"include_metadata\":false,\"filter\":{\"must\":[{\"key\":\"status\","
                  "\"match\":\"active\"}]}"),
      [this, text, skill, done](http_result r) {
        if (r.status != 200) return done(from_status(r, "matrix search"));
        matrix_answer a;
        auto err = parse_matrix(parser_, r.body, kFillSlots * 2, a);
        if (err.empty() && a.hits.size() < kFillSlots) err = "fewer active candidates than slots";
        auto ids = std::make_shared<std::vector<std::string>>();
        std::multiset<std::string> want;  // the fill check's codes the harness expects
        for (std::size_t i = 0; err.empty() && i < kFillSlots; ++i) {
          auto key = corpus_key(a.hits[i].id);
          if (key < 0 || std::size_t(key) >= e_.info().n) {
            err = "unknown id " + a.hits[i].id;
            break;
          }
          auto p = e_.model().profile_for(std::uint64_t(key));
          if (p.status != "active") err = "the filter let " + p.id + " (" + p.status + ") in";
          if (std::find(p.skills.begin(), p.skills.end(), skill) == p.skills.end())
            want.insert("missing_skill");
          ids->push_back(p.id);
        }
        if (!err.empty()) return done(outcome::bad("seed_fill: " + err));
        std::string body = "{\"index\":" + json_string(e_.text_index()) +
                           ",\"slots\":" + std::to_string(kFillSlots) + ",\"ids\":[";
        for (std::size_t i = 0; i < ids->size(); ++i)
          body += (i ? "," : "") + json_string((*ids)[i]);
        body += "],\"required_skills\":[" + json_string(skill) + "]}";
        call(method::post, "/v1/validate/fill", body, [this, text, ids, want, done](http_result r) {
          if (r.status != 200) return done(from_status(r, "validate fill"));
          std::multiset<std::string> got;
          auto doc = parser_.parse(r.body);
          simdjson::dom::array problems;
          if (doc.error() || doc["problems"].get(problems))
            return done(outcome::bad("seed_fill: malformed verdict " + excerpt(r.body)));
          for (auto x : problems) {
            std::string_view code;
            if (!x["code"].get(code)) got.insert(std::string(code));
          }
          if (got != want)
            return done(outcome::bad("seed_fill: verdict " + excerpt(r.body) +
                                     " is not the corpus's (" + std::to_string(want.size()) +
                                     " missing skills)"));
          // The proposal goes on record: filled when the check passed.
          std::string rec = "{\"query\":" + json_string(*text) + ",\"chosen_ids\":[";
          for (std::size_t i = 0; i < ids->size(); ++i)
            rec += (i ? "," : "") + json_string((*ids)[i]);
          rec += "],\"outcome\":\"" + std::string(want.empty() ? "filled" : "declined") + "\"}";
          call(method::post, "/v1/matrix/playbooks/" + playbook_name() + "/record", rec,
               [done](http_result r) {
                 if (r.status != 201) return done(from_status(r, "playbook record"));
                 done(outcome::pass());
               });
        });
      });
}

void vuser::seed_swap(done_fn done) {
  auto text = std::make_shared<std::string>();
  seed_query(*text);
  call(method::post, "/v1/matrix/search", matrix_body(e_.text_index(), *text, kSeedK, {}, {}),
       [this, text, done](http_result r) {
         if (r.status != 200) return done(from_status(r, "matrix search"));
         auto first = std::make_shared<matrix_answer>();
         auto err = parse_matrix(parser_, r.body, kSeedK, *first);
         if (err.empty()) err = check_text_hits(e_, first->hits, *text);
         if (!err.empty()) return done(outcome::bad("seed_swap: " + err));
         std::vector<std::string> exclude;
         for (auto& h : first->hits) exclude.push_back(h.id);
         call(method::post, "/v1/matrix/search",
              matrix_body(e_.text_index(), *text, kSeedK, exclude, {}),
              [this, text, first, done](http_result r) {
                if (r.status != 200) return done(from_status(r, "matrix search excluding"));
                matrix_answer second;
                auto err = parse_matrix(parser_, r.body, kSeedK, second);
                if (err.empty() && second.hits.size() != kSeedK)
                  err = "fewer than k results after excluding";
                if (err.empty()) err = check_text_hits(e_, second.hits, *text);
                for (auto& h : second.hits)
                  for (auto& f : first->hits)
                    if (err.empty() && h.id == f.id) err = "excluded id " + h.id + " came back";
                done(err.empty() ? outcome::pass() : outcome::bad("seed_swap: " + err));
              });
       });
}

void vuser::seed_repeat(done_fn done) {
  std::string text;
  seed_query(text);
  auto body = std::make_shared<const std::string>(
      matrix_body(e_.text_index(), text, kSeedK, {}, ",\"include_metadata\":false"));
  seed_repeat_step(body, nullptr, 5, 0, std::move(done));
}

// The text index takes no writes during a run: every repeat must answer the
// first one's results, byte for byte, and (the cache on) from the cache.
void vuser::seed_repeat_step(std::shared_ptr<const std::string> body,
                             std::shared_ptr<std::string> first, int left, int cached,
                             done_fn done) {
  if (left == 0) {
    auto o = outcome::pass();
    o.note = cached == 4 ? "repeats cached 4/4" : "repeats cached " + std::to_string(cached) + "/4";
    return done(o);
  }
  call(method::post, "/v1/matrix/search", *body,
       [this, body, first, left, cached, done](http_result r) {
         if (r.status != 200) return done(from_status(r, "matrix search"));
         matrix_answer a;
         auto err = parse_matrix(parser_, r.body, kSeedK, a);
         if (!err.empty()) return done(outcome::bad("seed_repeat: " + err));
         if (first && *first != a.results)
           return done(outcome::bad("seed_repeat: a repeat answered other results"));
         auto f = first ? first : std::make_shared<std::string>(a.results);
         seed_repeat_step(body, f, left - 1, cached + (first && a.cached ? 1 : 0), done);
       });
}

void vuser::seed_sms(done_fn done) {
  auto key = std::uniform_int_distribution<std::uint64_t>(0, e_.info().n - 1)(rng_);
  auto p = std::make_shared<profile>(e_.model().profile_for(key));
  std::string body = "{\"index\":" + json_string(e_.text_index()) +
                     ",\"id\":" + json_string(p->id) +
                     ",\"channel\":\"sms\",\"template\":\"Hi {{name}}, a {{role}} shift in "
                     "{{city}} is open tomorrow. Questions? Call {{phone}}.\"}";
  call(method::post, "/v1/matrix/outreach", body, [this, p, done](http_result r) {
    if (r.status != 200) return done(from_status(r, "outreach sms"));
    auto want = "Hi " + p->name + ", a " + p->role + " shift in " + p->city +
                " is open tomorrow. Questions? Call " + p->phone + ".";
    std::string_view text;
    bool ok = false;
    simdjson::dom::array problems;
    auto doc = parser_.parse(r.body);
    if (doc.error() || doc["ok"].get(ok) || doc["draft"]["text"].get(text) ||
        doc["problems"].get(problems))
      return done(outcome::bad("seed_sms: malformed draft " + excerpt(r.body)));
    if (text != want) return done(outcome::bad("seed_sms: draft is not the template filled"));
    std::set<std::string> codes;
    for (auto x : problems) {
      std::string_view code;
      if (!x["code"].get(code)) codes.insert(std::string(code));
    }
    if (codes.count("pii_ssn"))
      return done(outcome::bad("seed_sms: the phone number " + p->phone + " was taken for an SSN"));
    bool fits = want.size() <= kSmsLimit;
    if (ok != fits || (!fits && !codes.count("too_long")))
      return done(outcome::bad("seed_sms: a " + std::to_string(want.size()) +
                               "-character SMS got " + excerpt(r.body)));
    auto o = outcome::pass();
    if (!fits) o.note = "longer than one segment";
    done(o);
  });
}

void vuser::seed_playbook(done_fn done) {
  auto text = std::make_shared<std::string>();
  seed_query(*text);
  auto with_playbook =
      ",\"include_metadata\":false,\"use_playbook\":true,\"playbook\":\"" + playbook_name() + "\"";
  auto body =
      std::make_shared<std::string>(matrix_body(e_.text_index(), *text, kSeedK, {}, with_playbook));
  call(method::post, "/v1/matrix/search", *body, [this, text, body, done](http_result r) {
    if (r.status != 200) return done(from_status(r, "matrix search"));
    auto before = std::make_shared<matrix_answer>();
    auto err = parse_matrix(parser_, r.body, kSeedK, *before);
    if (err.empty() && before->hits.size() != kSeedK) err = "fewer than k results";
    if (!err.empty()) return done(outcome::bad("seed_playbook: " + err));
    // The last pick no past fill lifted: recorded as filled, it must rise.
    std::size_t at = kSeedK;
    for (std::size_t i = kSeedK; i-- > 0;)
      if (before->hits[i].boost <= 0) {
        at = i;
        break;
      }
    if (at == kSeedK) {
      auto o = outcome::pass();
      o.note = "every hit already boosted";
      return done(o);
    }
    auto pick = before->hits[at].id;
    std::string rec = "{\"query\":" + json_string(*text) + ",\"chosen_ids\":[" + json_string(pick) +
                      "],\"outcome\":\"filled\"}";
    call(
        method::post, "/v1/matrix/playbooks/" + playbook_name() + "/record", rec,
        [this, body, before, at, pick, done](http_result r) {
          if (r.status != 201) return done(from_status(r, "playbook record"));
          call(
              method::post, "/v1/matrix/search", *body,
              [this, before, at, pick, done](http_result r) {
                if (r.status != 200) return done(from_status(r, "matrix search replay"));
                matrix_answer after;
                auto err = parse_matrix(parser_, r.body, kSeedK, after);
                if (!err.empty()) return done(outcome::bad("seed_playbook: " + err));
                // A playbook shard that is recovering (a fault) is a missing answer.
                if (after.playbook_skipped)
                  return done(outcome{outcome::unavailable, "seed_playbook: playbook skipped", {}});
                std::size_t now = kSeedK;
                for (std::size_t i = 0; i < after.hits.size(); ++i)
                  if (after.hits[i].id == pick) now = i;
                // It passes the hits above it that no past fill lifted.
                bool unboosted_ahead = false;
                for (std::size_t i = 0; i < at; ++i)
                  unboosted_ahead = unboosted_ahead || before->hits[i].boost <= 0;
                bool rose =
                    now < kSeedK && after.hits[now].boost > 0 && (now < at || !unboosted_ahead);
                if (!rose)
                  return done(outcome::bad("seed_playbook: the recorded fill " + pick +
                                           " did not rise from #" + std::to_string(at) + ": " +
                                           excerpt(r.body)));
                // Now and then the playbook goes, and the next record makes it anew.
                if (std::uniform_real_distribution<double>(0, 1)(rng_) >=
                    e_.opt().playbook_drop_probability)
                  return done(outcome::pass());
                call(method::del, "/v1/matrix/playbooks/" + playbook_name(), {},
                     [done](http_result r) {
                       if (r.status != 200) return done(from_status(r, "playbook drop"));
                       auto o = outcome::pass();
                       o.note = "playbook dropped";
                       done(o);
                     });
              });
        });
  });
}

}  // namespace quiver::load::run_detail
