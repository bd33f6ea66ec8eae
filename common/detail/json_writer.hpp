#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace quiver::detail {

// Appends JSON to a string; inserts commas itself. Sizes passed to begin_* are
// ignored (they exist so that JSON and MessagePack writers share one interface).
class json_writer {
 public:
  void begin_object(std::size_t = 0);
  void end_object();
  void begin_array(std::size_t = 0);
  void end_array();
  void key(std::string_view k);
  void string(std::string_view s);
  void integer(std::int64_t v);
  void uinteger(std::uint64_t v);
  void number(double v);
  void number(float v);
  void boolean(bool v);
  void null();
  // A complete JSON value, written as is. REQUIRES: valid JSON.
  void raw(std::string_view json);
  void floats(const std::vector<float>& v);

  std::string take() { return std::move(out_); }

 private:
  void separate();

  std::string out_;
  std::vector<bool> first_;  // per open container: no element written yet
  bool after_key_ = false;
};

}  // namespace quiver::detail
