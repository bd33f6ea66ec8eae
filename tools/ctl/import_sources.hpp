#pragma once
// The files quiverctl imports: JSONL (one {"id", "vector", "metadata"?} per
// line), .fvecs, .bvecs and .npy (float32, C order). Each is opened cheaply (its
// size and dimension), checked whole before anything is sent, then read a batch
// at a time into request bodies.

#include <cstddef>
#include <memory>
#include <string>

namespace quiver::ctl {

struct source_options {
  std::string format;     // jsonl, fvecs, bvecs, npy; empty: from the file's extension
  std::string ids_file;   // one id per line, for the vector formats
  long id_column = -1;    // .npy: this column holds integral ids
  std::string id_prefix;  // the vector formats without ids: PREFIX + row number
};

class record_source {
 public:
  virtual ~record_source() = default;
  virtual std::size_t size() const = 0;
  virtual std::size_t dimension() const = 0;
  // Checks every record against the index (ids, dimension, finite components,
  // no zero vector under cosine, metadata an object); throws
  // ctl_error(exit_bad_input) naming the first bad record.
  virtual void validate(std::size_t dimension, const std::string& distance) = 0;
  // The body of POST /v1/indexes/{name}/vectors for records [from, to).
  virtual std::string body(std::size_t from, std::size_t to) const = 0;
  virtual const char* content_type() const = 0;
  virtual std::string describe() const = 0;  // what the file holds, for the user
};

// Throws ctl_error(exit_bad_input) for a file that cannot be read or parsed.
std::unique_ptr<record_source> open_source(const std::string& path, const source_options& opt);

// One record as a JSON batch item: an id, a vector and optional raw metadata.
std::string json_item(const std::string& id, const float* v, std::size_t dim,
                      const std::string* metadata);
// Why a vector cannot be stored under `distance`, or "".
std::string vector_problem(const float* v, std::size_t dim, const std::string& distance);
// Why a string cannot be a vector id, or "".
std::string id_problem(const std::string& id);

}  // namespace quiver::ctl
