#pragma once
// A reproducible corpus shaped like the seed's worker profiles, with 768-d
// embedding-like vectors clustered by role and city. Every record and vector is
// a pure function of (seed, key), so the load harness can regenerate any vector
// it wrote instead of keeping a copy.

#include <cstdint>
#include <string>
#include <vector>

namespace quiver::load {

struct corpus_recipe {
  std::uint64_t seed = 42;
  std::size_t dim = 768;
  // Low intrinsic dimension: a point lives in a `latent`-dim space, lifted to `dim`.
  std::size_t latent = 64;
  float role_scale = 1.0f;  // spread of role centres
  float city_scale = 0.6f;  // spread of city offsets (same role, nearby cities)
  float spread = 0.8f;      // per-record latent noise
  float ambient = 0.02f;    // per-dim noise after the lift
};

struct profile {
  std::string id;
  std::string name;
  std::string role;
  std::vector<std::string> skills;
  std::string city;
  std::vector<std::string> certifications;
  std::string availability;
  std::string phone;
  std::string email;
  std::string status;
};

// Corpus records have keys 0..n-1 and ids "w" + 7 digits; keys above are free
// for queries and new records.
std::string corpus_id(std::uint64_t key);
// The key of a corpus id, or -1 when `id` is not one.
std::int64_t corpus_key(const std::string& id);

class corpus_model {
 public:
  explicit corpus_model(corpus_recipe r = {});
  const corpus_recipe& recipe() const { return r_; }

  profile profile_for(std::uint64_t key) const;
  // L2-normalized; clustered by the profile's role and city.
  void vector_for(std::uint64_t key, float* out) const;
  std::vector<float> vector_for(std::uint64_t key) const;

 private:
  corpus_recipe r_;
  std::vector<float> lift_;          // latent x dim
  std::vector<float> role_centres_;  // roles x latent
  std::vector<float> city_offsets_;  // cities x latent
};

// The metadata object of a profile as compact JSON (every field but the vector).
std::string profile_json(const profile& p);

// The profile as the text its record is embedded from for text search: role,
// city, skills, certifications and availability ("forklift operator in
// chicago; skills: forklift, osha, ...").
std::string profile_text(const profile& p);

// Binary vector file: "QVEC", u32 version (1), u32 dim, u64 count, then count x dim
// little-endian float32, row-major.
void write_vector_file(const std::string& path, const std::vector<float>& rows, std::size_t dim);

// A read-only view of a vector file (memory-mapped).
class vector_file {
 public:
  explicit vector_file(const std::string& path);
  ~vector_file();
  vector_file(const vector_file&) = delete;
  vector_file& operator=(const vector_file&) = delete;
  std::size_t dim() const { return dim_; }
  std::size_t size() const { return count_; }
  const float* row(std::size_t i) const { return data_ + i * dim_; }

 private:
  void* map_ = nullptr;
  std::size_t map_len_ = 0;
  std::size_t dim_ = 0;
  std::size_t count_ = 0;
  const float* data_ = nullptr;
};

// Writes `dir`/corpus.jsonl (one profile per line), `dir`/vectors.f32 and
// `dir`/queries.f32 (fresh draws, keys n..n+queries-1), and `dir`/recipe.json.
// `progress(done, n)` is called from the writing thread.
void write_corpus(const std::string& dir, const corpus_recipe& r, std::size_t n,
                  std::size_t queries, unsigned threads,
                  void (*progress)(std::size_t done, std::size_t n) = nullptr);

// Reads recipe.json written by write_corpus: {seed, dim, n, queries}.
struct corpus_info {
  corpus_recipe recipe;
  std::size_t n = 0;
  std::size_t queries = 0;
};
corpus_info read_corpus_info(const std::string& dir);

}  // namespace quiver::load
