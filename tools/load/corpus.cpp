#include "tools/load/corpus.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "tools/load/wire.hpp"

namespace quiver::load {
namespace {

constexpr std::array<const char*, 24> kRoles = {"forklift_operator", "warehouse_associate",
                                                "picker_packer",     "shipping_clerk",
                                                "receiving_clerk",   "inventory_analyst",
                                                "truck_driver",      "dispatcher",
                                                "line_cook",         "prep_cook",
                                                "dishwasher",        "server",
                                                "barista",           "cashier",
                                                "retail_associate",  "stocker",
                                                "security_guard",    "janitor",
                                                "electrician",       "plumber",
                                                "hvac_technician",   "welder",
                                                "machine_operator",  "quality_inspector"};
constexpr std::array<const char*, 30> kCities = {
    "chicago",   "houston",      "phoenix",    "dallas",     "austin",      "denver",
    "atlanta",   "miami",        "seattle",    "portland",   "boston",      "detroit",
    "memphis",   "nashville",    "louisville", "milwaukee",  "kansas_city", "omaha",
    "tulsa",     "el_paso",      "fresno",     "sacramento", "san_jose",    "columbus",
    "charlotte", "indianapolis", "baltimore",  "richmond",   "raleigh",     "tampa"};
constexpr std::array<const char*, 32> kSkills = {
    "forklift",      "pallet_jack",   "rf_scanner",  "inventory", "shipping",
    "receiving",     "cdl_a",         "cdl_b",       "routing",   "food_safety",
    "knife_skills",  "grill",         "espresso",    "pos",       "customer_service",
    "merchandising", "cash_handling", "patrol",      "cctv",      "cleaning",
    "wiring",        "conduit",       "pipefitting", "brazing",   "refrigeration",
    "mig",           "tig",           "cnc",         "lathe",     "blueprints",
    "qa_sampling",   "six_sigma"};
constexpr std::array<const char*, 10> kCerts = {
    "osha_10",   "osha_30", "forklift_cert", "servsafe",   "cdl",
    "first_aid", "epa_608", "aws_d1_1",      "guard_card", "hazmat"};
constexpr std::array<const char*, 5> kAvailability = {"full_time", "part_time", "weekends",
                                                      "nights", "on_call"};
constexpr std::array<const char*, 4> kStatus = {"active", "active", "inactive", "pending"};
constexpr std::array<const char*, 20> kFirst = {
    "ana", "ben",  "carla", "dev",  "elena", "farid", "grace", "hugo", "iris", "jamal",
    "kim", "luis", "maya",  "noah", "olga",  "pedro", "quinn", "rosa", "sam",  "tariq"};
constexpr std::array<const char*, 20> kLast = {
    "adams", "baker", "chen",  "diaz",   "evans", "fox",   "garcia", "hill",  "ito",  "jones",
    "khan",  "lopez", "moore", "nguyen", "ortiz", "patel", "reyes",  "smith", "tran", "young"};

std::uint64_t mix(std::uint64_t x) {  // splitmix64 finalizer
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

struct stream {
  std::uint64_t s;
  std::uint64_t next() { return s = mix(s); }
  std::size_t below(std::size_t n) { return static_cast<std::size_t>(next() % n); }
};

stream profile_stream(std::uint64_t seed, std::uint64_t key) { return {mix(seed ^ mix(key))}; }

void json_array(std::string& out, const std::vector<std::string>& v) {
  out += '[';
  for (std::size_t i = 0; i < v.size(); ++i) {
    if (i) out += ',';
    append_string(out, v[i]);
  }
  out += ']';
}

}  // namespace

std::string corpus_id(std::uint64_t key) {
  char buf[24];
  std::snprintf(buf, sizeof buf, "w%07llu", static_cast<unsigned long long>(key));
  return buf;
}

std::int64_t corpus_key(const std::string& id) {
  if (id.size() < 2 || id[0] != 'w') return -1;
  std::int64_t k = 0;
  for (std::size_t i = 1; i < id.size(); ++i) {
    if (id[i] < '0' || id[i] > '9' || i > 12) return -1;
    k = k * 10 + (id[i] - '0');
  }
  return k;
}

corpus_model::corpus_model(corpus_recipe r) : r_(r) {
  std::mt19937_64 rng(r_.seed);
  std::normal_distribution<float> g;
  lift_.resize(r_.latent * r_.dim);
  for (auto& x : lift_) x = g(rng) / std::sqrt(float(r_.latent));
  role_centres_.resize(kRoles.size() * r_.latent);
  for (auto& x : role_centres_) x = r_.role_scale * g(rng);
  city_offsets_.resize(kCities.size() * r_.latent);
  for (auto& x : city_offsets_) x = r_.city_scale * g(rng);
}

profile corpus_model::profile_for(std::uint64_t key) const {
  auto s = profile_stream(r_.seed, key);
  profile p;
  p.id = corpus_id(key);
  auto first = kFirst[s.below(kFirst.size())], last = kLast[s.below(kLast.size())];
  p.name = std::string(first) + " " + last;
  auto role = s.below(kRoles.size());
  p.role = kRoles[role];
  p.city = kCities[s.below(kCities.size())];
  // Skills lean on the role: two from the role's neighbourhood, one at random.
  p.skills = {kSkills[(role + s.below(3)) % kSkills.size()],
              kSkills[(role + 3 + s.below(3)) % kSkills.size()], kSkills[s.below(kSkills.size())]};
  for (std::size_t i = 0, n = s.below(3); i < n; ++i)
    p.certifications.push_back(kCerts[s.below(kCerts.size())]);
  p.availability = kAvailability[s.below(kAvailability.size())];
  char phone[20];
  std::snprintf(phone, sizeof phone, "555-%03zu-%04zu", s.below(1000), s.below(10000));
  p.phone = phone;
  p.email = std::string(first) + "." + last + std::to_string(key) + "@example.com";
  p.status = kStatus[s.below(kStatus.size())];
  return p;
}

void corpus_model::vector_for(std::uint64_t key, float* out) const {
  // Role and city come from the same stream as the profile, so neighbours share them.
  auto s = profile_stream(r_.seed, key);
  s.next();
  s.next();
  auto role = s.below(kRoles.size());
  auto city = s.below(kCities.size());
  std::mt19937_64 rng(mix(r_.seed + 0x5eed) ^ mix(key));
  std::normal_distribution<float> g;
  std::vector<float> z(r_.latent);
  for (std::size_t j = 0; j < r_.latent; ++j)
    z[j] = role_centres_[role * r_.latent + j] + city_offsets_[city * r_.latent + j] +
           r_.spread * g(rng);
  for (std::size_t d = 0; d < r_.dim; ++d) out[d] = r_.ambient * g(rng);
  for (std::size_t j = 0; j < r_.latent; ++j) {
    const float* row = &lift_[j * r_.dim];
    for (std::size_t d = 0; d < r_.dim; ++d) out[d] += z[j] * row[d];
  }
  double norm = 0;
  for (std::size_t d = 0; d < r_.dim; ++d) norm += double(out[d]) * out[d];
  auto inv = float(1 / std::sqrt(norm));
  for (std::size_t d = 0; d < r_.dim; ++d) out[d] *= inv;
}

std::vector<float> corpus_model::vector_for(std::uint64_t key) const {
  std::vector<float> v(r_.dim);
  vector_for(key, v.data());
  return v;
}

std::string profile_text(const profile& p) {
  auto words = [](std::string s) {
    std::replace(s.begin(), s.end(), '_', ' ');
    return s;
  };
  auto list = [&](const std::vector<std::string>& v) {
    std::string out;
    for (const auto& x : v) out += (out.empty() ? "" : ", ") + words(x);
    return out;
  };
  auto out = words(p.role) + " in " + words(p.city) + "; skills: " + list(p.skills);
  if (!p.certifications.empty()) out += "; certified: " + list(p.certifications);
  return out + "; " + words(p.availability);
}

std::string profile_json(const profile& p) {
  std::string out = "{\"id\":";
  append_string(out, p.id);
  out += ",\"name\":";
  append_string(out, p.name);
  out += ",\"role\":";
  append_string(out, p.role);
  out += ",\"skills\":";
  json_array(out, p.skills);
  out += ",\"city\":";
  append_string(out, p.city);
  out += ",\"certifications\":";
  json_array(out, p.certifications);
  out += ",\"availability\":";
  append_string(out, p.availability);
  out += ",\"phone\":";
  append_string(out, p.phone);
  out += ",\"email\":";
  append_string(out, p.email);
  out += ",\"status\":";
  append_string(out, p.status);
  out += '}';
  return out;
}

void write_vector_file(const std::string& path, const std::vector<float>& rows, std::size_t dim) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  std::uint32_t version = 1, d = static_cast<std::uint32_t>(dim);
  std::uint64_t count = rows.size() / dim;
  f.write("QVEC", 4);
  f.write(reinterpret_cast<const char*>(&version), 4);
  f.write(reinterpret_cast<const char*>(&d), 4);
  f.write(reinterpret_cast<const char*>(&count), 8);
  f.write(reinterpret_cast<const char*>(rows.data()), std::streamsize(rows.size() * 4));
  if (!f) throw std::runtime_error("cannot write " + path);
}

vector_file::vector_file(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw std::runtime_error("cannot open " + path + ": " + std::strerror(errno));
  struct stat st {};
  ::fstat(fd, &st);
  map_len_ = static_cast<std::size_t>(st.st_size);
  if (map_len_ < 20) {
    ::close(fd);
    throw std::runtime_error(path + ": too short for a vector file");
  }
  map_ = ::mmap(nullptr, map_len_, PROT_READ, MAP_PRIVATE, fd, 0);
  ::close(fd);
  if (map_ == MAP_FAILED) throw std::runtime_error("cannot map " + path);
  auto* b = static_cast<const char*>(map_);
  std::uint32_t version = 0, d = 0;
  std::uint64_t count = 0;
  std::memcpy(&version, b + 4, 4);
  std::memcpy(&d, b + 8, 4);
  std::memcpy(&count, b + 12, 8);
  if (std::memcmp(b, "QVEC", 4) != 0 || version != 1 || d == 0 || 20 + count * d * 4 != map_len_) {
    ::munmap(map_, map_len_);
    throw std::runtime_error(path + ": not a version-1 vector file of the right length");
  }
  dim_ = d;
  count_ = count;
  data_ = reinterpret_cast<const float*>(b + 20);
}

vector_file::~vector_file() {
  if (map_) ::munmap(map_, map_len_);
}

void write_corpus(const std::string& dir, const corpus_recipe& r, std::size_t n,
                  std::size_t queries, unsigned threads,
                  void (*progress)(std::size_t, std::size_t)) {
  std::filesystem::create_directories(dir);
  corpus_model model(r);
  std::vector<float> rows(n * r.dim);
  std::vector<std::thread> pool;
  std::atomic<std::size_t> done{0};
  threads = std::max(1u, threads);
  for (unsigned t = 0; t < threads; ++t)
    pool.emplace_back([&, t] {
      for (std::size_t i = t; i < n; i += threads) {
        model.vector_for(i, &rows[i * r.dim]);
        done.fetch_add(1, std::memory_order_relaxed);
      }
    });
  while (progress && done.load() < n) {
    progress(done.load(), n);
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  for (auto& t : pool) t.join();
  if (progress) progress(n, n);
  write_vector_file(dir + "/vectors.f32", rows, r.dim);
  std::vector<float> qrows(queries * r.dim);
  for (std::size_t i = 0; i < queries; ++i) model.vector_for(n + i, &qrows[i * r.dim]);
  write_vector_file(dir + "/queries.f32", qrows, r.dim);
  std::ofstream jsonl(dir + "/corpus.jsonl", std::ios::trunc);
  for (std::size_t i = 0; i < n; ++i) jsonl << profile_json(model.profile_for(i)) << '\n';
  std::ofstream info(dir + "/recipe.json", std::ios::trunc);
  info << "{\"version\":1,\"seed\":" << r.seed << ",\"dim\":" << r.dim << ",\"n\":" << n
       << ",\"queries\":" << queries << "}\n";
  if (!jsonl || !info) throw std::runtime_error("cannot write the corpus into " + dir);
}

corpus_info read_corpus_info(const std::string& dir) {
  std::ifstream f(dir + "/recipe.json");
  if (!f) throw std::runtime_error(dir + "/recipe.json not found: generate the corpus first");
  std::stringstream ss;
  ss << f.rdbuf();
  auto text = ss.str();
  auto field = [&](const char* name) -> std::uint64_t {
    auto key = std::string("\"") + name + "\":";
    auto at = text.find(key);
    if (at == std::string::npos) throw std::runtime_error(dir + "/recipe.json lacks " + name);
    return std::stoull(text.substr(at + key.size()));
  };
  corpus_info info;
  info.recipe.seed = field("seed");
  info.recipe.dim = field("dim");
  info.n = field("n");
  info.queries = field("queries");
  return info;
}

}  // namespace quiver::load
