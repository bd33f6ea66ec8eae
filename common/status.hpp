#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "common/errc.hpp"

namespace quiver {

// Structured error details, e.g. {expected: 768, got: 3, index: 0}: counts,
// positions and dimensions.
using error_details = std::vector<std::pair<std::string, std::int64_t>>;
// Details that are text, e.g. {path: "/data/indexes/..."}; rendered beside the others.
using error_text_details = std::vector<std::pair<std::string, std::string>>;

// The outcome of an operation that can fail: a code, a human message and details.
struct status {
  errc code = errc::ok;
  std::string message;
  error_details details;
  error_text_details text_details;

  bool ok() const { return code == errc::ok; }
  static status success() { return {}; }
};

inline status make_status(errc code, std::string message, error_details details = {}) {
  return status{code, std::move(message), std::move(details), {}};
}

// A value or the status saying why there is none.
template <class T>
class expected {
 public:
  expected(T value) : state_(std::move(value)) {}           // NOLINT
  expected(status failure) : state_(std::move(failure)) {}  // NOLINT

  bool has_value() const { return state_.index() == 0; }
  explicit operator bool() const { return has_value(); }

  T& value() & { return std::get<0>(state_); }
  const T& value() const& { return std::get<0>(state_); }
  // By value: a reference into a temporary would dangle in `for (x : *f())`.
  T value() && { return std::get<0>(std::move(state_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T operator*() && { return std::move(*this).value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  // REQUIRES: !has_value()
  const status& error() const& { return std::get<1>(state_); }
  status error() && { return std::get<1>(std::move(state_)); }

 private:
  std::variant<T, status> state_;
};

}  // namespace quiver
