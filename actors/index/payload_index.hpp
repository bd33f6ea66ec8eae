#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "common/filter.hpp"

namespace quiver {

// The payload indexes of one shard: for each indexed metadata field, a column
// holding every label's value of it in a typed form (a keyword's dictionary
// code, an integer, a float, a bool), so that a filter is evaluated without
// parsing metadata. A value the column's type does not hold (a string in an
// integer field, an array of numbers) is marked, and conditions on it are
// answered from the metadata: results never depend on which fields are indexed.
//
// Labels are shard_index's; it keeps the columns in step with its slots and
// provides the synchronization.
class payload_indexes {
 public:
  using label_t = std::size_t;
  // The metadata of a label, empty for none (or a free label).
  using metadata_of = std::function<std::string_view(label_t)>;

  payload_indexes();
  ~payload_indexes();
  payload_indexes(payload_indexes&&) noexcept;
  payload_indexes& operator=(payload_indexes&&) noexcept;

  bool empty() const { return columns_.empty(); }
  std::vector<field_def> list() const;
  // The type `field` is indexed as, or null.
  const field_type* type_of(const std::string& field) const;
  // Indexes `field` (replacing an index of another type), filled from the
  // metadata of labels [0, labels).
  void add(const field_def& def, label_t labels, const metadata_of& metadata);
  bool drop(const std::string& field);

  // A label now has this metadata (empty: none).
  void set(label_t label, std::string_view metadata_json);
  // A label was freed.
  void clear(label_t label);
  std::size_t memory_bytes() const;

  struct column;

  // Evaluates one filter over labels: columns where they answer, the metadata
  // where they do not (parsed once per label, and only then). One per query.
  class matcher {
   public:
    matcher(const payload_indexes& p, const metadata_filter& f);
    ~matcher();
    // The metadata is read only when a condition's column cannot answer.
    bool matches(label_t label, const std::string& metadata_json);
    // Whether every condition's field is indexed (evaluation is then cheap).
    bool indexed() const { return all_indexed_; }

   private:
    struct condition_plan {
      const column* col = nullptr;
      std::vector<std::uint32_t> codes;  // keyword: codes of the string values
    };
    bool general(label_t label, const std::string& metadata_json);

    const metadata_filter& filter_;
    filter_matcher json_;
    std::vector<condition_plan> plans_;  // by node
    bool all_indexed_ = true;
    bool conjunction_ = false;  // must of indexed conditions only
  };

 private:
  std::unordered_map<std::string, std::unique_ptr<column>> columns_;
};

}  // namespace quiver
