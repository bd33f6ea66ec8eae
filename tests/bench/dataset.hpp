#pragma once

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <functional>
#include <queue>
#include <random>
#include <thread>
#include <utility>
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

// Helpers of every benchmark: medians, a thread pool loop, a fixed hash, exact answers.

inline double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

inline void parallel_for(std::size_t n, unsigned threads,
                         const std::function<void(std::size_t)>& f) {
  std::atomic<std::size_t> next{0};
  std::vector<std::thread> pool;
  for (unsigned t = 0; t < threads; ++t)
    pool.emplace_back([&] {
      for (auto i = next++; i < n; i = next++) f(i);
    });
  for (auto& t : pool) t.join();
}

// A fixed 64-bit mix (murmur3's finalizer): metadata values spread evenly over ids.
inline std::uint64_t mix64(std::uint64_t x) {
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdULL;
  x ^= x >> 33;
  x *= 0xc4ceb9fe1a85ec53ULL;
  return x ^ (x >> 33);
}

// The exact k nearest base points (cosine on normalized vectors) of query `q` among
// those `accept` takes, nearest first.
inline std::vector<std::size_t> exact_top_k(const dataset& ds, const dataset_recipe& r,
                                            std::size_t q, std::size_t k,
                                            const std::function<bool(std::size_t)>& accept) {
  std::priority_queue<std::pair<float, std::size_t>> top;
  const float* qv = &ds.queries[q * r.dim];
  for (std::size_t i = 0; i < r.n; ++i) {
    if (accept && !accept(i)) continue;
    const float* v = &ds.base[i * r.dim];
    float dot = 0;
    for (std::size_t d = 0; d < r.dim; ++d) dot += qv[d] * v[d];
    float dist = 1 - dot;
    if (top.size() < k) {
      top.emplace(dist, i);
    } else if (dist < top.top().first) {
      top.pop();
      top.emplace(dist, i);
    }
  }
  std::vector<std::size_t> out(top.size());
  for (auto j = out.size(); j-- > 0; top.pop()) out[j] = top.top().second;
  return out;
}

// The 1% of base points least similar to the queries' mean direction: filter
// matches that sit far from every query.
inline std::vector<bool> far_from_queries(const dataset& ds, const dataset_recipe& r) {
  std::vector<float> mean(r.dim, 0);
  for (std::size_t q = 0; q < r.queries; ++q)
    for (std::size_t d = 0; d < r.dim; ++d) mean[d] += ds.queries[q * r.dim + d];
  std::vector<std::pair<float, std::size_t>> sim(r.n);
  for (std::size_t i = 0; i < r.n; ++i) {
    float s = 0;
    for (std::size_t d = 0; d < r.dim; ++d) s += ds.base[i * r.dim + d] * mean[d];
    sim[i] = {s, i};
  }
  std::sort(sim.begin(), sim.end());
  std::vector<bool> far(r.n, false);
  for (std::size_t i = 0; i < std::max<std::size_t>(1, r.n / 100); ++i) far[sim[i].second] = true;
  return far;
}

}  // namespace quiver::bench
