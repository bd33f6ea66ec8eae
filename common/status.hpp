#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "common/errc.hpp"

namespace quiver {

// Structured error details, e.g. {expected: 768, got: 3, index: 0}. Integers only:
// every detail API.md names is a count, a position or a dimension.
using error_details = std::vector<std::pair<std::string, std::int64_t>>;

// The outcome of an operation that can fail: a code, a human message and details.
struct status {
  errc code = errc::ok;
  std::string message;
  error_details details;

  bool ok() const { return code == errc::ok; }
  static status success() { return {}; }
};

inline status make_status(errc code, std::string message, error_details details = {}) {
  return status{code, std::move(message), std::move(details)};
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

// Storage refuses an append or open under an epoch older than the shard's
// current one with `unavailable` and this marker in the message: another writer
// was fenced in (as opposed to storage being unreachable).
inline constexpr std::string_view stale_epoch_marker = " is stale (current ";
inline bool is_stale_epoch(const status& st) {
  return st.code == errc::unavailable && st.message.find(stale_epoch_marker) != std::string::npos;
}

}  // namespace quiver
