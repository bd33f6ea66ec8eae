#include "tools/ctl/import_sources.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <simdjson.h>
#include <msgpack.hpp>

#include <cerrno>
#include <cfloat>
#include <cmath>
#include <cstring>
#include <fstream>
#include <vector>

#include "tools/ctl/session.hpp"
#include "tools/load/wire.hpp"

namespace quiver::ctl {

namespace {

constexpr std::size_t kMaxIdBytes = 256;

ctl_error bad(const std::string& path, const std::string& why) {
  return ctl_error(exit_bad_input, path + ": " + why);
}

std::string with_commas(std::size_t n) {
  auto s = std::to_string(n);
  for (int i = static_cast<int>(s.size()) - 3; i > 0; i -= 3) s.insert(std::size_t(i), ",");
  return s;
}

// A read-only mapping of a whole file.
class mapped_file {
 public:
  explicit mapped_file(const std::string& path) : path_(path) {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) throw bad(path, std::strerror(errno));
    struct stat st {};
    if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
      ::close(fd);
      throw bad(path, "not a regular file");
    }
    size_ = static_cast<std::size_t>(st.st_size);
    if (size_ > 0) {
      void* p = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd, 0);
      if (p == MAP_FAILED) {
        ::close(fd);
        throw bad(path, std::string("cannot map: ") + std::strerror(errno));
      }
      data_ = static_cast<const char*>(p);
    }
    ::close(fd);
  }
  ~mapped_file() {
    if (data_) ::munmap(const_cast<char*>(data_), size_);
  }
  mapped_file(const mapped_file&) = delete;
  mapped_file& operator=(const mapped_file&) = delete;
  const char* data() const { return data_; }
  std::size_t size() const { return size_; }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  const char* data_ = nullptr;
  std::size_t size_ = 0;
};

// -- JSONL --

class jsonl_source final : public record_source {
 public:
  explicit jsonl_source(const std::string& path) : file_(path) {
    const char* p = file_.data();
    std::size_t at = 0, n = file_.size();
    while (at < n) {
      auto nl = static_cast<const char*>(std::memchr(p + at, '\n', n - at));
      std::size_t end = nl ? std::size_t(nl - p) : n;
      std::size_t b = at, e = end;
      while (b < e && std::isspace(static_cast<unsigned char>(p[b]))) ++b;
      while (e > b && std::isspace(static_cast<unsigned char>(p[e - 1]))) --e;
      if (b < e) lines_.push_back({b, e, line_no_});
      ++line_no_;
      at = end + 1;
    }
    if (lines_.empty()) throw bad(path, "holds no records");
    simdjson::dom::parser parser;
    simdjson::dom::element doc;
    simdjson::dom::array vec;
    auto& first = lines_.front();
    if (parser.parse(p + first.begin, first.end - first.begin).get(doc) != simdjson::SUCCESS ||
        doc["vector"].get(vec) != simdjson::SUCCESS)
      throw bad(path, "line " + std::to_string(first.line + 1) +
                          ": not a JSON object with a \"vector\" array");
    dimension_ = vec.size();
  }

  std::size_t size() const override { return lines_.size(); }
  std::size_t dimension() const override { return dimension_; }
  const char* content_type() const override { return "application/json"; }
  std::string describe() const override {
    return with_commas(lines_.size()) + " records of dimension " + std::to_string(dimension_) +
           " (JSONL)";
  }

  void validate(std::size_t dimension, const std::string& distance) override {
    simdjson::dom::parser parser;
    std::vector<float> v;
    for (auto& l : lines_) {
      auto where = "line " + std::to_string(l.line + 1) + ": ";
      simdjson::dom::element doc;
      if (auto err = parser.parse(file_.data() + l.begin, l.end - l.begin).get(doc); err)
        throw bad(file_.path(), where + "not JSON (" + simdjson::error_message(err) + ")");
      simdjson::dom::object obj;
      if (doc.get(obj) != simdjson::SUCCESS) throw bad(file_.path(), where + "not a JSON object");
      bool has_id = false, has_vector = false;
      for (auto [key, value] : obj) {
        if (key == "id") {
          std::string_view id;
          if (value.get(id) != simdjson::SUCCESS)
            throw bad(file_.path(), where + "\"id\" must be a string");
          if (auto why = id_problem(std::string(id)); !why.empty())
            throw bad(file_.path(), where + why);
          has_id = true;
        } else if (key == "vector") {
          simdjson::dom::array arr;
          if (value.get(arr) != simdjson::SUCCESS)
            throw bad(file_.path(), where + "\"vector\" must be an array of numbers");
          if (arr.size() != dimension)
            throw bad(file_.path(), where + "the vector has " + std::to_string(arr.size()) +
                                        " components, the index " + std::to_string(dimension));
          v.clear();
          for (auto x : arr) {
            double d = 0;
            if (x.get(d) != simdjson::SUCCESS)
              throw bad(file_.path(), where + "\"vector\" must hold only numbers");
            if (!(std::fabs(d) <= FLT_MAX))
              throw bad(file_.path(), where + "component " + std::to_string(v.size()) +
                                          " is not a finite float32");
            v.push_back(static_cast<float>(d));
          }
          if (auto why = vector_problem(v.data(), v.size(), distance); !why.empty())
            throw bad(file_.path(), where + why);
          has_vector = true;
        } else if (key == "metadata") {
          if (!value.is_object())
            throw bad(file_.path(), where + "\"metadata\" must be a JSON object (or absent)");
        } else if (key == "text") {
          throw bad(file_.path(), where +
                                      "\"text\" needs an embedder, and this server has none: "
                                      "embed the text first and import vectors");
        } else {
          throw bad(file_.path(), where + "unknown field \"" + std::string(key) +
                                      "\" (a record has id, vector and metadata)");
        }
      }
      if (!has_id || !has_vector)
        throw bad(file_.path(), where + "a record needs \"id\" and \"vector\"");
    }
  }

  std::string body(std::size_t from, std::size_t to) const override {
    std::string out = "{\"items\":[";
    for (auto i = from; i < to; ++i) {
      if (i > from) out += ',';
      out.append(file_.data() + lines_[i].begin, lines_[i].end - lines_[i].begin);
    }
    out += "]}";
    return out;
  }

 private:
  struct line {
    std::size_t begin, end, line;
  };
  mapped_file file_;
  std::vector<line> lines_;
  std::size_t line_no_ = 0;
  std::size_t dimension_ = 0;
};

// -- vector files: rows of floats, ids from a file, a column or the row number --

class vector_source : public record_source {
 public:
  std::size_t size() const override { return n_; }
  std::size_t dimension() const override { return dim_; }
  const char* content_type() const override { return "application/msgpack"; }

  void validate(std::size_t dimension, const std::string& distance) override {
    if (dimension != dim_)
      throw bad(path_, "its vectors have dimension " + std::to_string(dim_) + ", the index " +
                           std::to_string(dimension));
    std::vector<float> v(dim_);
    for (std::size_t i = 0; i < n_; ++i) {
      auto where = "record " + std::to_string(i) + ": ";
      check_row(i);
      row(i, v.data());
      for (std::size_t c = 0; c < dim_; ++c)
        if (!std::isfinite(v[c]))
          throw bad(path_, where + "component " + std::to_string(c) + " is not finite");
      if (auto why = vector_problem(v.data(), dim_, distance); !why.empty())
        throw bad(path_, where + why);
      if (auto why = id_problem(id(i)); !why.empty()) throw bad(path_, where + why);
    }
  }

  std::string body(std::size_t from, std::size_t to) const override {
    msgpack::sbuffer buf;
    msgpack::packer<msgpack::sbuffer> pk(buf);
    pk.pack_map(1);
    pk.pack(std::string("items"));
    pk.pack_array(static_cast<std::uint32_t>(to - from));
    std::vector<float> v(dim_);
    auto bytes = static_cast<std::uint32_t>(dim_ * sizeof(float));
    for (auto i = from; i < to; ++i) {
      row(i, v.data());
      pk.pack_map(2);
      pk.pack(std::string("id"));
      pk.pack(id(i));
      pk.pack(std::string("vector"));
      pk.pack_bin(bytes);
      pk.pack_bin_body(reinterpret_cast<const char*>(v.data()), bytes);
    }
    return std::string(buf.data(), buf.size());
  }

 protected:
  vector_source(const std::string& path, const source_options& opt) : path_(path), opt_(opt) {}

  // Call once n_ is known: reads the ids file, if any.
  void load_ids() {
    if (opt_.ids_file.empty()) return;
    std::ifstream in(opt_.ids_file);
    if (!in) throw bad(opt_.ids_file, "cannot be read");
    std::string line;
    while (std::getline(in, line)) {
      if (!line.empty() && line.back() == '\r') line.pop_back();
      ids_.push_back(line);
    }
    if (ids_.size() != n_)
      throw bad(opt_.ids_file, "has " + std::to_string(ids_.size()) + " ids for " +
                                   std::to_string(n_) + " vectors in " + path_);
  }

  virtual void row(std::size_t i, float* out) const = 0;
  virtual void check_row(std::size_t) const {}
  virtual std::string id(std::size_t i) const {
    return ids_.empty() ? opt_.id_prefix + std::to_string(i) : ids_[i];
  }

  std::string path_;
  source_options opt_;
  std::size_t n_ = 0, dim_ = 0;
  std::vector<std::string> ids_;
};

std::uint32_t read_u32(const char* p) {
  std::uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}

// .fvecs and .bvecs: each record is a little-endian int32 dimension, then that
// many float32 (fvecs) or uint8 (bvecs) components.
class vecs_source final : public vector_source {
 public:
  vecs_source(const std::string& path, const source_options& opt, bool bytes)
      : vector_source(path, opt), file_(path), bytes_(bytes) {
    if (file_.size() < 4) throw bad(path, "holds no records");
    dim_ = read_u32(file_.data());
    if (dim_ == 0 || dim_ > (1u << 20))
      throw bad(path, "a record's dimension is " + std::to_string(dim_));
    stride_ = 4 + dim_ * (bytes_ ? 1 : 4);
    if (file_.size() % stride_ != 0)
      throw bad(path, "its size is not a whole number of " + std::to_string(dim_) +
                          "-d records (cut short, or not " + (bytes_ ? "bvecs" : "fvecs") + ")");
    n_ = file_.size() / stride_;
    load_ids();
  }
  std::string describe() const override {
    return with_commas(n_) + " vectors of dimension " + std::to_string(dim_) +
           (bytes_ ? " (bvecs)" : " (fvecs)");
  }

 protected:
  void check_row(std::size_t i) const override {
    if (read_u32(file_.data() + i * stride_) != dim_)
      throw bad(path_, "record " + std::to_string(i) + " has dimension " +
                           std::to_string(read_u32(file_.data() + i * stride_)) + ", the first " +
                           std::to_string(dim_));
  }
  void row(std::size_t i, float* out) const override {
    const char* p = file_.data() + i * stride_ + 4;
    if (!bytes_) {
      std::memcpy(out, p, dim_ * 4);
      return;
    }
    for (std::size_t c = 0; c < dim_; ++c) out[c] = static_cast<unsigned char>(p[c]);
  }

 private:
  mapped_file file_;
  bool bytes_;
  std::size_t stride_ = 0;
};

// .npy version 1-3: a little-endian float32 ('<f4') 2-D array in C order.
class npy_source final : public vector_source {
 public:
  npy_source(const std::string& path, const source_options& opt)
      : vector_source(path, opt), file_(path) {
    const char* p = file_.data();
    if (file_.size() < 10 || std::memcmp(p, "\x93NUMPY", 6) != 0)
      throw bad(path, "not a .npy file (no \\x93NUMPY magic)");
    int major = static_cast<unsigned char>(p[6]);
    std::size_t header_len = 0, at = 0;
    if (major == 1) {
      header_len = static_cast<unsigned char>(p[8]) | (static_cast<unsigned char>(p[9]) << 8);
      at = 10;
    } else if (major == 2 || major == 3) {
      if (file_.size() < 12) throw bad(path, "cut short");
      header_len = read_u32(p + 8);
      at = 12;
    } else {
      throw bad(path, ".npy version " + std::to_string(major) + " is not supported");
    }
    if (at + header_len > file_.size()) throw bad(path, "its header is cut short");
    std::string header(p + at, header_len);
    data_ = at + header_len;
    auto field = [&](const std::string& key) {
      auto k = header.find("'" + key + "'");
      if (k == std::string::npos) throw bad(path, "its header has no '" + key + "'");
      auto colon = header.find(':', k);
      return header.substr(colon + 1);
    };
    auto descr = field("descr");
    auto q1 = descr.find('\''), q2 = descr.find('\'', q1 + 1);
    auto type = descr.substr(q1 + 1, q2 - q1 - 1);
    if (type != "<f4" && type != "=f4")
      throw bad(path, "holds '" + type + "'; quiverctl reads little-endian float32 ('<f4')");
    if (field("fortran_order").find("False") != field("fortran_order").find_first_not_of(" "))
      throw bad(path, "is in Fortran order; save it in C order (numpy.ascontiguousarray)");
    auto shape = field("shape");
    auto open = shape.find('('), close = shape.find(')');
    std::vector<std::size_t> dims;
    std::string inner = shape.substr(open + 1, close - open - 1);
    std::size_t s = 0;
    while (s < inner.size()) {
      auto comma = inner.find(',', s);
      auto item = inner.substr(s, comma == std::string::npos ? std::string::npos : comma - s);
      if (item.find_first_not_of(" ") != std::string::npos) dims.push_back(std::stoull(item));
      if (comma == std::string::npos) break;
      s = comma + 1;
    }
    if (dims.size() != 2) throw bad(path, "is not a 2-D array (shape " + inner + ")");
    n_ = dims[0];
    cols_ = dims[1];
    if (data_ + n_ * cols_ * 4 != file_.size())
      throw bad(path, "its size does not match its shape (cut short?)");
    if (opt.id_column >= 0) {
      if (std::size_t(opt.id_column) >= cols_ || cols_ < 2)
        throw bad(path, "--id-column " + std::to_string(opt.id_column) + " is not one of its " +
                            std::to_string(cols_) + " columns (besides the vector's)");
      dim_ = cols_ - 1;
    } else {
      dim_ = cols_;
    }
    if (dim_ == 0) throw bad(path, "its rows are empty");
    load_ids();
  }
  std::string describe() const override {
    return with_commas(n_) + " vectors of dimension " + std::to_string(dim_) + " (npy" +
           (opt_.id_column >= 0 ? ", ids in column " + std::to_string(opt_.id_column) : "") + ")";
  }

 protected:
  const char* raw(std::size_t i) const { return file_.data() + data_ + i * cols_ * 4; }
  void row(std::size_t i, float* out) const override {
    if (opt_.id_column < 0) return void(std::memcpy(out, raw(i), dim_ * 4));
    auto k = std::size_t(opt_.id_column);
    std::memcpy(out, raw(i), k * 4);
    std::memcpy(out + k, raw(i) + (k + 1) * 4, (cols_ - k - 1) * 4);
  }
  void check_row(std::size_t i) const override {
    if (opt_.id_column < 0) return;
    float v;
    std::memcpy(&v, raw(i) + opt_.id_column * 4, 4);
    if (!(v >= 0) || v > 16777216.0f || std::floor(v) != v)
      throw bad(path_, "record " + std::to_string(i) + ": the id column holds " +
                           std::to_string(v) +
                           ", not an integer 0..2^24 (float32 is exact only so far)");
  }
  std::string id(std::size_t i) const override {
    if (opt_.id_column < 0) return vector_source::id(i);
    float v;
    std::memcpy(&v, raw(i) + opt_.id_column * 4, 4);
    return opt_.id_prefix + std::to_string(static_cast<long long>(v));
  }

 private:
  mapped_file file_;
  std::size_t data_ = 0, cols_ = 0;
};

std::string extension_format(const std::string& path) {
  auto dot = path.rfind('.');
  auto ext = dot == std::string::npos ? std::string() : path.substr(dot + 1);
  if (ext == "jsonl" || ext == "ndjson" || ext == "json") return "jsonl";
  if (ext == "fvecs" || ext == "bvecs" || ext == "npy") return ext;
  return {};
}

}  // namespace

std::unique_ptr<record_source> open_source(const std::string& path, const source_options& opt) {
  auto format = opt.format.empty() ? extension_format(path) : opt.format;
  if (format.empty())
    throw ctl_error(exit_usage,
                    path + ": unknown format; name it with --format jsonl|fvecs|bvecs|npy");
  if (format != "npy" && opt.id_column >= 0)
    throw ctl_error(exit_usage, "--id-column is for .npy files");
  if (format == "jsonl") {
    if (!opt.ids_file.empty() || !opt.id_prefix.empty())
      throw ctl_error(exit_usage,
                      "JSONL records carry their ids; --ids and --id-prefix are for "
                      "vector files");
    return std::make_unique<jsonl_source>(path);
  }
  if (!opt.ids_file.empty() && opt.id_column >= 0)
    throw ctl_error(exit_usage, "ids come from --ids or --id-column, not both");
  if (format == "fvecs") return std::make_unique<vecs_source>(path, opt, false);
  if (format == "bvecs") return std::make_unique<vecs_source>(path, opt, true);
  if (format == "npy") return std::make_unique<npy_source>(path, opt);
  throw ctl_error(exit_usage, "--format is jsonl, fvecs, bvecs or npy, not '" + format + "'");
}

std::string json_item(const std::string& id, const float* v, std::size_t dim,
                      const std::string* metadata) {
  std::string out = "{\"id\":";
  load::append_string(out, id);
  out += ",\"vector\":";
  load::append_floats(out, v, dim);
  if (metadata) out += ",\"metadata\":" + *metadata;
  out += '}';
  return out;
}

std::string vector_problem(const float* v, std::size_t dim, const std::string& distance) {
  if (distance != "cosine") return {};
  for (std::size_t i = 0; i < dim; ++i)
    if (v[i] != 0) return {};
  return "an all-zero vector has no direction under cosine distance";
}

std::string id_problem(const std::string& id) {
  if (id.empty()) return "an id is empty";
  if (id.size() > kMaxIdBytes)
    return "an id is " + std::to_string(id.size()) + " bytes, more than " +
           std::to_string(kMaxIdBytes);
  if (!simdjson::validate_utf8(id)) return "an id is not valid UTF-8";
  return {};
}

}  // namespace quiver::ctl
