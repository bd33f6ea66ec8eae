// quiverctl import-seed: rebuilds an index of the seed's Go vectord in Quiver
// from its two persisted streams.
//
// The envelope is JSON: {"version": 1|2, "params": {"name", "dimension", "m",
// "ef_search", "distance"}, "metadata": {id: raw JSON, ...}, "ids"?: [id, ...]}
// (v2 lists every id, with or without metadata). The graph is coder/hnsw
// v0.6.1's Export stream; "varint" is Go's signed (zigzag) varint:
//   varint encoding version (1), varint M, float64 Ml, varint EfSearch,
//   string distance ("cosine" | "euclidean"), varint layer count, then per
//   layer: varint node count, per node: string key, vector, varint neighbour
//   count, that many string keys;
//   string = varint length + bytes; vector = varint length + float32 LE each.
// Layer 0 holds every node; the upper layers repeat some of them.

#include <simdjson.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <map>
#include <random>
#include <unordered_map>
#include <unordered_set>

#include "tools/ctl/cli.hpp"
#include "tools/ctl/commands.hpp"
#include "tools/ctl/import.hpp"
#include "tools/load/wire.hpp"

namespace quiver::ctl {

namespace {

ctl_error bad(const std::string& path, const std::string& why) {
  return ctl_error(exit_bad_input, path + ": " + why);
}

// Buffered reads of the graph stream, each checked against the file's end.
class stream_reader {
 public:
  explicit stream_reader(const std::string& path)
      : path_(path), f_(std::fopen(path.c_str(), "rb")) {
    if (!f_) throw bad(path, std::strerror(errno));
  }
  ~stream_reader() { std::fclose(f_); }
  stream_reader(const stream_reader&) = delete;
  stream_reader& operator=(const stream_reader&) = delete;

  void bytes(void* out, std::size_t n) {
    if (std::fread(out, 1, n, f_) != n)
      throw bad(path_, "cut short at byte " + std::to_string(at_));
    at_ += n;
  }
  std::int64_t varint() {
    std::uint64_t u = 0;
    for (int shift = 0;; shift += 7) {
      if (shift > 63) throw bad(path_, "a varint overflows at byte " + std::to_string(at_));
      unsigned char b;
      bytes(&b, 1);
      u |= std::uint64_t(b & 0x7f) << shift;
      if (!(b & 0x80)) break;
    }
    return static_cast<std::int64_t>(u >> 1) ^ -static_cast<std::int64_t>(u & 1);
  }
  std::size_t length(std::size_t max, const char* what) {
    auto v = varint();
    if (v < 0 || std::uint64_t(v) > max)
      throw bad(path_, std::string("a ") + what + " of " + std::to_string(v) + " at byte " +
                           std::to_string(at_) + " is out of range");
    return static_cast<std::size_t>(v);
  }
  std::string string() {
    std::string s(length(1 << 20, "string length"), '\0');
    if (!s.empty()) bytes(s.data(), s.size());
    return s;
  }
  bool at_end() { return std::fgetc(f_) == EOF; }
  std::uint64_t offset() const { return at_; }

 private:
  std::string path_;
  std::FILE* f_;
  std::uint64_t at_ = 0;
};

struct seed_graph {
  std::string distance;
  std::int64_t m = 0, ef_search = 0;
  std::size_t dimension = 0;
  std::vector<std::string> ids;                     // layer 0, in stream order
  std::vector<float> vectors;                       // ids.size() × dimension
  std::unordered_map<std::string, std::size_t> at;  // id -> row
};

seed_graph read_graph(const std::string& path) {
  stream_reader in(path);
  seed_graph g;
  auto version = in.varint();
  if (version != 1)
    throw bad(path, "encoding version " + std::to_string(version) +
                        "; coder/hnsw v0.6.1 writes 1 (is this the graph file?)");
  g.m = in.varint();
  double ml = 0;
  in.bytes(&ml, 8);
  g.ef_search = in.varint();
  g.distance = in.string();
  auto layers = in.length(64, "layer count");
  for (std::size_t l = 0; l < layers; ++l) {
    auto nodes = in.length(std::size_t(1) << 32, "node count");
    for (std::size_t i = 0; i < nodes; ++i) {
      auto key = in.string();
      auto dim = in.length(1 << 20, "vector length");
      if (l == 0) {
        if (g.ids.empty()) g.dimension = dim;
        if (dim != g.dimension)
          throw bad(path, "node " + key + " has " + std::to_string(dim) +
                              " components, the first " + std::to_string(g.dimension));
        if (!g.at.emplace(key, g.ids.size()).second)
          throw bad(path, "node " + key + " appears twice in layer 0");
        g.ids.push_back(key);
        auto row = g.vectors.size();
        g.vectors.resize(row + dim);
        if (dim) in.bytes(g.vectors.data() + row, dim * 4);
      } else {
        if (!g.at.count(key))
          throw bad(path,
                    "layer " + std::to_string(l) + " holds node " + key + ", layer 0 does not");
        std::vector<float> skip(dim);
        if (dim) in.bytes(skip.data(), dim * 4);
      }
      auto neighbours = in.length(1 << 20, "neighbour count");
      for (std::size_t n = 0; n < neighbours; ++n) in.string();
    }
  }
  if (!in.at_end())
    throw bad(path, "has bytes after its last layer (at byte " + std::to_string(in.offset()) + ")");
  return g;
}

struct seed_envelope {
  std::int64_t version = 0;
  std::string name, distance;
  std::int64_t dimension = 0, m = 0, ef_search = 0;
  std::map<std::string, std::string> metadata;  // raw JSON objects, as written
  std::vector<std::string> null_metadata;       // ids whose metadata is null
  std::vector<std::string> ids;
  bool has_ids = false;
};

seed_envelope read_envelope(const std::string& path) {
  simdjson::padded_string json;
  if (simdjson::padded_string::load(path).get(json) != simdjson::SUCCESS)
    throw bad(path, "cannot be read");
  simdjson::ondemand::parser parser;
  seed_envelope e;
  try {
    auto doc = parser.iterate(json);
    for (auto field : doc.get_object()) {
      std::string_view key = field.unescaped_key();
      auto value = field.value();
      if (key == "version") {
        e.version = value.get_int64();
      } else if (key == "params") {
        for (auto p : value.get_object()) {
          std::string_view k = p.unescaped_key();
          if (k == "name")
            e.name = std::string(std::string_view(p.value().get_string()));
          else if (k == "dimension")
            e.dimension = p.value().get_int64();
          else if (k == "m")
            e.m = p.value().get_int64();
          else if (k == "ef_search")
            e.ef_search = p.value().get_int64();
          else if (k == "distance")
            e.distance = std::string(std::string_view(p.value().get_string()));
        }
      } else if (key == "metadata") {
        if (value.is_null()) continue;
        for (auto m : value.get_object()) {
          std::string id(std::string_view(m.unescaped_key()));
          auto v = m.value();
          if (v.is_null()) {
            e.null_metadata.push_back(id);
            continue;
          }
          if (v.type() != simdjson::ondemand::json_type::object)
            throw bad(path,
                      "the metadata of " + id + " is not a JSON object; Quiver keeps objects only");
          simdjson::ondemand::object obj = v.get_object();
          e.metadata.emplace(id, std::string(std::string_view(obj.raw_json())));
        }
      } else if (key == "ids") {
        if (value.is_null()) continue;
        e.has_ids = true;
        for (auto id : value.get_array()) e.ids.emplace_back(std::string_view(id.get_string()));
      }
    }
  } catch (const simdjson::simdjson_error& err) {
    throw bad(path, std::string("not a seed envelope (") + err.what() + ")");
  }
  if (e.version < 1 || e.version > 2)
    throw bad(path, "envelope version " + std::to_string(e.version) + "; the seed wrote 1 and 2");
  return e;
}

// The records to send, in memory: ids, vectors, raw metadata or none.
class seed_source final : public record_source {
 public:
  seed_source(const seed_graph& g, std::vector<std::size_t> rows,
              const std::map<std::string, std::string>& metadata)
      : g_(g), rows_(std::move(rows)), metadata_(metadata) {}
  std::size_t size() const override { return rows_.size(); }
  std::size_t dimension() const override { return g_.dimension; }
  const char* content_type() const override { return "application/json"; }
  std::string describe() const override {
    return std::to_string(rows_.size()) + " records of dimension " + std::to_string(g_.dimension) +
           " (seed envelope and coder/hnsw graph)";
  }
  void validate(std::size_t dimension, const std::string& distance) override {
    if (dimension != g_.dimension)
      throw ctl_error(exit_bad_input, "the index has dimension " + std::to_string(dimension) +
                                          ", the seed's graph " + std::to_string(g_.dimension));
    for (auto r : rows_) {
      auto* v = row(r);
      for (std::size_t c = 0; c < g_.dimension; ++c)
        if (!std::isfinite(v[c]))
          throw ctl_error(exit_bad_input, "vector " + g_.ids[r] + ": component " +
                                              std::to_string(c) + " is not finite");
      if (auto why = vector_problem(v, g_.dimension, distance); !why.empty())
        throw ctl_error(exit_bad_input, "vector " + g_.ids[r] + ": " + why);
      if (auto why = id_problem(g_.ids[r]); !why.empty())
        throw ctl_error(exit_bad_input, "vector " + g_.ids[r] + ": " + why);
    }
  }
  std::string body(std::size_t from, std::size_t to) const override {
    std::string out = "{\"items\":[";
    for (auto i = from; i < to; ++i) {
      if (i > from) out += ',';
      auto& id = g_.ids[rows_[i]];
      auto m = metadata_.find(id);
      out +=
          json_item(id, row(rows_[i]), g_.dimension, m == metadata_.end() ? nullptr : &m->second);
    }
    out += "]}";
    return out;
  }
  const float* row(std::size_t r) const { return g_.vectors.data() + r * g_.dimension; }
  const std::vector<std::size_t>& rows() const { return rows_; }

 private:
  const seed_graph& g_;
  std::vector<std::size_t> rows_;
  const std::map<std::string, std::string>& metadata_;
};

bool same_json(simdjson::dom::element a, simdjson::dom::element b) {
  using t = simdjson::dom::element_type;
  auto ta = a.type(), tb = b.type();
  auto numeric = [](t x) { return x == t::INT64 || x == t::UINT64 || x == t::DOUBLE; };
  if (numeric(ta) && numeric(tb)) return double(a) == double(b);
  if (ta != tb) return false;
  switch (ta) {
    case t::ARRAY: {
      auto x = a.get_array().value(), y = b.get_array().value();
      if (x.size() != y.size()) return false;
      auto i = x.begin(), j = y.begin();
      for (; i != x.end(); ++i, ++j)
        if (!same_json(*i, *j)) return false;
      return true;
    }
    case t::OBJECT: {
      auto x = a.get_object().value(), y = b.get_object().value();
      if (x.size() != y.size()) return false;
      for (auto [k, v] : x) {
        simdjson::dom::element w;
        if (y.at_key(k).get(w) != simdjson::SUCCESS || !same_json(v, w)) return false;
      }
      return true;
    }
    case t::STRING:
      return a.get_string().value() == b.get_string().value();
    case t::BOOL:
      return a.get_bool().value() == b.get_bool().value();
    default:
      return true;  // null
  }
}

}  // namespace

int import_seed_command(const words& argv) {
  args a(argv,
         {"index", "batch", "parallel", "shards", "replicas", "ef-construction", "check",
          "checkpoint"},
         {"restart", "no-progress"});
  a.at_most(2);
  auto& envelope_path =
      a.word(0, "the envelope: quiverctl import-seed ENVELOPE GRAPH --index NAME");
  auto& graph_path = a.word(1, "the graph: quiverctl import-seed ENVELOPE GRAPH --index NAME");
  bool progress = !a.quiet() && !a.has("no-progress");
  auto env = read_envelope(envelope_path);
  auto g = read_graph(graph_path);
  auto index = a.get("index", env.name);
  if (index.empty())
    throw ctl_error(exit_usage, "--index NAME is required (the envelope names none)");
  if (env.distance != "cosine" && env.distance != "euclidean" && !env.distance.empty())
    throw bad(envelope_path, "distance '" + env.distance + "': the seed knew cosine and euclidean");
  auto distance = env.distance.empty() ? std::string("cosine") : env.distance;
  if (g.distance != distance)
    throw ctl_error(exit_bad_input, "the envelope says " + distance + ", the graph " + g.distance +
                                        ": are these files of the same index?");
  if (!g.ids.empty() && env.dimension > 0 && std::size_t(env.dimension) != g.dimension)
    throw ctl_error(exit_bad_input, "the envelope says dimension " + std::to_string(env.dimension) +
                                        ", the graph's vectors have " +
                                        std::to_string(g.dimension));
  if (g.ids.empty()) g.dimension = static_cast<std::size_t>(env.dimension);

  // Which ids the index holds: v2 lists them; v1 knew only those with metadata,
  // and its graph still served the others, so they come along.
  std::vector<std::size_t> rows;
  std::size_t unlisted = 0, orphans = 0;
  if (env.has_ids) {
    std::unordered_set<std::string> listed;
    for (auto& id : env.ids) {
      auto it = g.at.find(id);
      if (it == g.at.end())
        throw ctl_error(exit_bad_input,
                        "the envelope lists id " + id + ", the graph has no such node");
      if (listed.insert(id).second) rows.push_back(it->second);
    }
    unlisted = g.ids.size() - rows.size();
  } else {
    for (std::size_t r = 0; r < g.ids.size(); ++r) rows.push_back(r);
    for (std::size_t r = 0; r < g.ids.size(); ++r) unlisted += env.metadata.count(g.ids[r]) ? 0 : 1;
  }
  for (auto& [id, raw] : env.metadata) orphans += g.at.count(id) ? 0 : 1;
  if (progress) {
    std::fprintf(stderr, "seed envelope v%lld: %zu ids (%zu with metadata); graph: %zu nodes, %s\n",
                 static_cast<long long>(env.version), rows.size(), env.metadata.size() - orphans,
                 g.ids.size(), g.distance.c_str());
    if (env.has_ids && unlisted)
      std::fprintf(stderr, "left out %zu graph nodes the v2 id list does not name\n", unlisted);
    if (!env.has_ids && unlisted)
      std::fprintf(stderr,
                   "%zu graph nodes have no metadata; a v1 envelope does not list them, and the "
                   "seed still served them: imported too\n",
                   unlisted);
    if (orphans)
      std::fprintf(stderr, "left out the metadata of %zu ids the graph has no vector for\n",
                   orphans);
  }

  seed_source src(g, rows, env.metadata);
  session s(a.connection());
  std::string create = "{\"name\":";
  load::append_string(create, index);
  create += ",\"dimension\":" + std::to_string(g.dimension) + ",\"distance\":\"" + distance + "\"";
  if (env.m > 0) create += ",\"m\":" + std::to_string(env.m);
  if (env.ef_search > 0) create += ",\"ef_search\":" + std::to_string(env.ef_search);
  if (a.has("ef-construction"))
    create += ",\"ef_construction\":" + std::to_string(a.number("ef-construction", 0, 1, 1 << 20));
  for (auto knob : {"shards", "replicas"})
    if (a.has(knob))
      create += ",\"" + std::string(knob) + "\":" + std::to_string(a.number(knob, 1, 1, 1024));
  create += "}";
  auto before = prepare_index(s, index, src, create, distance, !progress);
  if (before.distance != distance)
    throw ctl_error(exit_bad_input,
                    "index " + index + " uses " + before.distance + ", the seed's " + distance);

  import_plan plan;
  plan.index = index;
  plan.batch = static_cast<std::size_t>(a.number("batch", 500, 1, 10000));
  plan.parallel = static_cast<std::size_t>(a.number("parallel", 2, 1, 64));
  plan.restart = a.has("restart");
  plan.progress = progress;
  plan.checkpoint = a.has("checkpoint") ? a.get("checkpoint")
                                        : default_checkpoint(s.options().url, index, graph_path,
                                                             "seed|" + envelope_path);
  auto sent = send_records(s, src, plan);
  auto after = find_index(s, index).value_or(index_shape{});

  // The check: the count, then sampled records read back.
  std::size_t checks = static_cast<std::size_t>(a.number("check", 100, 0, 1000000));
  checks = std::min(checks, rows.size());
  std::mt19937_64 rng(rows.size());
  std::vector<std::size_t> sample(rows.size());
  for (std::size_t i = 0; i < sample.size(); ++i) sample[i] = i;
  std::shuffle(sample.begin(), sample.end(), rng);
  sample.resize(checks);
  simdjson::dom::parser p1, p2;
  std::size_t byte_exact = 0;
  for (auto i : sample) {
    auto& id = g.ids[rows[i]];
    auto body = s.expect(method::get,
                         "/v1/indexes/" + load::encode_path_segment(index) + "/vectors/" +
                             load::encode_path_segment(id),
                         "checking vector " + id);
    simdjson::dom::element doc, meta;
    if (p1.parse(body).get(doc) != simdjson::SUCCESS)
      throw ctl_error(exit_failed, "checking vector " + id + ": the answer is not JSON");
    std::vector<float> got;
    for (auto x : doc["vector"].get_array()) got.push_back(static_cast<float>(double(x)));
    if (got.size() != g.dimension || !load::same_vector(got.data(), src.row(rows[i]), g.dimension))
      throw ctl_error(exit_failed, "check failed: vector " + id + " reads back different");
    auto m = env.metadata.find(id);
    if (doc["metadata"].get(meta) != simdjson::SUCCESS)
      throw ctl_error(exit_failed, "checking vector " + id + ": the answer has no metadata field");
    if (m == env.metadata.end()) {
      if (!meta.is_null())
        throw ctl_error(exit_failed, "check failed: " + id + " has metadata the seed did not");
      continue;
    }
    simdjson::dom::element want;
    if (p2.parse(m->second).get(want) != simdjson::SUCCESS || !same_json(meta, want))
      throw ctl_error(exit_failed, "check failed: the metadata of " + id + " reads back different");
    if (simdjson::minify(meta) == m->second) ++byte_exact;
  }
  bool count_ok = after.count >= rows.size() && (before.count > 0 || after.count == rows.size());
  if (!count_ok)
    throw ctl_error(exit_failed, "check failed: index " + index + " holds " +
                                     std::to_string(after.count) + " vectors, the seed's " +
                                     std::to_string(rows.size()));
  if (a.json()) {
    std::string name;
    load::append_string(name, index);
    std::printf(
        "{\"index\":%s,\"records\":%zu,\"sent\":%zu,\"count\":%zu,\"checked\":%zu,"
        "\"metadata_byte_exact\":%zu}\n",
        name.c_str(), rows.size(), sent, after.count, checks, byte_exact);
  } else {
    std::printf(
        "imported %zu records of the seed's index into %s; it holds %zu vectors; %zu sampled "
        "records read back equal (%zu with byte-identical metadata)\n",
        rows.size(), index.c_str(), after.count, checks, byte_exact);
  }
  return exit_ok;
}

}  // namespace quiver::ctl
