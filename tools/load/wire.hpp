#pragma once
// Request bodies and answer checks shared by the harness's modes.

#include <string>
#include <string_view>
#include <vector>

namespace simdjson::dom {
class parser;
}

namespace quiver::load {

void append_floats(std::string& out, const float* v, std::size_t n);
void append_string(std::string& out, const std::string& s);  // as a JSON string
std::string search_body(const float* q, std::size_t dim, std::size_t k, int ef,
                        const std::vector<std::string>& exclude, bool metadata);
// The same with the vector already rendered as a JSON array.
std::string search_body(std::string_view vector_json, std::size_t k, int ef,
                        const std::vector<std::string>& exclude, bool metadata);
std::string put_body(const std::vector<float>& v, const std::string& metadata_json);
double cosine_distance(const float* a, const float* b, std::size_t dim);
std::string excerpt(const std::string& s);
// Whether a vector read back is the one written. A cosine index keeps the
// normalized vector and its norm, so the read-back may differ by an ulp or two.
bool same_vector(const float* got, const float* want, std::size_t n);

struct hit {
  std::string id;
  double distance = 0;
  std::string meta_id;  // metadata.id when metadata was asked for
};

// Parses {"results":[...]} and checks what holds for every search: ascending
// distances, at most k results, no duplicate ids. Returns what is wrong, or "".
std::string parse_hits(simdjson::dom::parser& p, const std::string& body, std::size_t k,
                       std::vector<hit>& out);

}  // namespace quiver::load
