#pragma once

#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

namespace quiver::bench {

// Embedding-like vectors: low intrinsic dimension, clustered, normalized.
// Recipe (seeded, reproducible): `clusters` centres in a latent space of
// `latent` dims ~ N(0, 1); a point is a centre plus N(0, spread^2) latent noise,
// lifted to `dim` dims by one fixed Gaussian matrix, plus N(0, ambient^2) noise in
// every ambient dim, then L2-normalized. Queries are fresh draws of the same
// process, not dataset points.
struct dataset_recipe {
  std::size_t n = 100000;
  std::size_t queries = 500;
  std::size_t dim = 768;
  // Calibrated so that raw hnswlib (M=16, ef_construction=200) reaches recall@10 of
  // about 0.86 at ef=20, as hard as real text embeddings; latent 32 with tight
  // clusters reached 0.995 there and would hide recall bugs.
  std::size_t latent = 256;
  std::size_t clusters = 200;
  float spread = 1.5f;
  float ambient = 0.02f;
  std::uint64_t seed = 42;
};

struct dataset {
  std::vector<float> base;     // n x dim, row-major
  std::vector<float> queries;  // queries x dim
};

inline dataset make_dataset(const dataset_recipe& r) {
  std::mt19937_64 rng(r.seed);
  std::normal_distribution<float> g;
  std::vector<float> lift(r.latent * r.dim);
  for (auto& x : lift) x = g(rng) / std::sqrt(float(r.latent));
  std::vector<float> centres(r.clusters * r.latent);
  for (auto& x : centres) x = g(rng);
  std::uniform_int_distribution<std::size_t> pick(0, r.clusters - 1);
  auto draw = [&](float* out) {
    std::vector<float> z(r.latent);
    auto c = pick(rng);
    for (std::size_t j = 0; j < r.latent; ++j) z[j] = centres[c * r.latent + j] + r.spread * g(rng);
    double norm = 0;
    for (std::size_t d = 0; d < r.dim; ++d) {
      float v = r.ambient * g(rng);
      for (std::size_t j = 0; j < r.latent; ++j) v += z[j] * lift[j * r.dim + d];
      out[d] = v;
      norm += double(v) * v;
    }
    auto inv = float(1 / std::sqrt(norm));
    for (std::size_t d = 0; d < r.dim; ++d) out[d] *= inv;
  };
  dataset ds;
  ds.base.resize(r.n * r.dim);
  ds.queries.resize(r.queries * r.dim);
  for (std::size_t i = 0; i < r.n; ++i) draw(&ds.base[i * r.dim]);
  for (std::size_t i = 0; i < r.queries; ++i) draw(&ds.queries[i * r.dim]);
  return ds;
}

}  // namespace quiver::bench
