// quiverctl's plain parts: its command line, URLs, and the import sources'
// parsing, checks and request bodies.

#include <gtest/gtest.h>
#include <simdjson.h>
#include <msgpack.hpp>

#include <cstring>
#include <filesystem>
#include <fstream>

#include "tools/ctl/cli.hpp"
#include "tools/ctl/import.hpp"
#include "tools/ctl/import_sources.hpp"

namespace quiver::ctl {
namespace {

namespace fs = std::filesystem;

int code_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const ctl_error& e) {
    return e.code;
  }
  return exit_ok;
}

class TempDir : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("quiverctl-test-" + std::to_string(::getpid()));
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string write(const std::string& name, const std::string& bytes) {
    auto p = (dir_ / name).string();
    std::ofstream(p, std::ios::binary) << bytes;
    return p;
  }
  fs::path dir_;
};

std::string fvecs(const std::vector<std::vector<float>>& rows) {
  std::string out;
  for (auto& r : rows) {
    std::int32_t d = static_cast<std::int32_t>(r.size());
    out.append(reinterpret_cast<const char*>(&d), 4);
    out.append(reinterpret_cast<const char*>(r.data()), r.size() * 4);
  }
  return out;
}

std::string npy(std::size_t n, std::size_t cols, const std::vector<float>& data) {
  std::string header = "{'descr': '<f4', 'fortran_order': False, 'shape': (" + std::to_string(n) +
                       ", " + std::to_string(cols) + "), }";
  while ((10 + header.size() + 1) % 64) header += ' ';
  header += '\n';
  std::string out = "\x93NUMPY\x01";
  out += '\0';
  out += static_cast<char>(header.size() & 0xff);
  out += static_cast<char>(header.size() >> 8);
  out += header;
  out.append(reinterpret_cast<const char*>(data.data()), data.size() * 4);
  return out;
}

TEST(QuiverctlArgs, OptionsFlagsAndWords) {
  args a({"create", "x", "--dimension", "8", "--distance=dot", "--yes", "--output", "json"},
         {"dimension", "distance"}, {"yes"});
  EXPECT_EQ(a.word(0, "verb"), "create");
  EXPECT_EQ(a.word(1, "name"), "x");
  EXPECT_EQ(a.number("dimension", 0, 1, 100), 8);
  EXPECT_EQ(a.get("distance"), "dot");
  EXPECT_TRUE(a.has("yes"));
  EXPECT_TRUE(a.json());
  EXPECT_NO_THROW(a.at_most(2));
  EXPECT_EQ(code_of([&] { a.at_most(1); }), exit_usage);
  EXPECT_EQ(code_of([&] { a.word(2, "more"); }), exit_usage);
  EXPECT_EQ(code_of([&] { a.number("dimension", 0, 9, 100); }), exit_usage);
  // A negative number is a word, not an option; "--" ends the options.
  args b({"-5", "--", "--not-an-option"}, {}, {});
  EXPECT_EQ(b.positional(), (std::vector<std::string>{"-5", "--not-an-option"}));
}

TEST(QuiverctlArgs, RejectsWhatItDoesNotKnow) {
  EXPECT_EQ(code_of([] { args({"--nope"}, {}, {}); }), exit_usage);
  EXPECT_EQ(code_of([] { args({"-x"}, {}, {}); }), exit_usage);
  EXPECT_EQ(code_of([] { args({"--dimension"}, {"dimension"}, {}); }), exit_usage);
  EXPECT_EQ(code_of([] { args({"--yes=1"}, {}, {"yes"}); }), exit_usage);
  EXPECT_EQ(code_of([] { args({"--output", "xml"}, {}, {}); }), exit_usage);
  args a({"--k", "ten"}, {"k"}, {});
  EXPECT_EQ(code_of([&] { a.number("k", 10, 1, 100); }), exit_usage);
}

TEST(QuiverctlUrl, ParsesHostsAndPorts) {
  auto e = parse_url("http://127.0.0.1:8080/");
  EXPECT_EQ(e.host, "127.0.0.1");
  EXPECT_EQ(e.port, 8080);
  EXPECT_EQ(parse_url("localhost").port, 4210);
  EXPECT_EQ(parse_url("http://[::1]:99").host, "::1");
  EXPECT_EQ(code_of([] { parse_url("https://x:1"); }), exit_usage);
  EXPECT_EQ(code_of([] { parse_url("http://x:0"); }), exit_usage);
  EXPECT_EQ(code_of([] { parse_url("http://x:12ab"); }), exit_usage);
  EXPECT_EQ(code_of([] { parse_url("http://x/path"); }), exit_usage);
}

TEST(QuiverctlFailures, TransientAndExitCodesByErrorCode) {
  http_result r;
  EXPECT_TRUE(transient(r));  // no answer
  EXPECT_EQ(exit_code_for(r), exit_unreachable);
  r.status = 429;
  r.body = R"({"error":{"code":"quota_exceeded","message":"full"}})";
  EXPECT_FALSE(transient(r));
  r.body = R"({"error":{"code":"rate_limited","message":"slow down"}})";
  EXPECT_TRUE(transient(r));
  r.status = 503;
  r.body = R"({"error":{"code":"unavailable","message":"recovering"}})";
  EXPECT_TRUE(transient(r));
  r.status = 404;
  EXPECT_EQ(exit_code_for(r), exit_not_found);
  r.status = 403;
  EXPECT_EQ(exit_code_for(r), exit_denied);
  r.status = 400;
  r.body = R"({"error":{"code":"unauthenticated","message":"no key"}})";
  EXPECT_NE(describe_failure(r, "x", "u").find("--key"), std::string::npos);
  r.retry_after = "2";
  EXPECT_EQ(retry_delay(r, std::chrono::milliseconds(5)), std::chrono::milliseconds(2000));
  r.retry_after = "99";
  EXPECT_EQ(retry_delay(r, std::chrono::milliseconds(5)), std::chrono::milliseconds(10000));
  r.retry_after = "soon";
  EXPECT_EQ(retry_delay(r, std::chrono::milliseconds(5)), std::chrono::milliseconds(5));
}

using QuiverctlSources = TempDir;

TEST_F(QuiverctlSources, FvecsBodiesCarryBinaryVectorsAndIds) {
  auto path = write("a.fvecs", fvecs({{1, 2, 3}, {4, 5, 6}, {7, 8, 9}}));
  source_options opt;
  opt.id_prefix = "p";
  auto src = open_source(path, opt);
  EXPECT_EQ(src->size(), 3u);
  EXPECT_EQ(src->dimension(), 3u);
  EXPECT_NO_THROW(src->validate(3, "cosine"));
  EXPECT_EQ(code_of([&] { src->validate(4, "cosine"); }), exit_bad_input);
  auto body = src->body(1, 3);
  auto h = msgpack::unpack(body.data(), body.size());
  auto items = h.get().via.map.ptr[0].val.via.array;
  ASSERT_EQ(items.size, 2u);
  auto first = items.ptr[0].via.map;
  EXPECT_EQ(first.ptr[0].val.as<std::string>(), "p1");
  auto bin = first.ptr[1].val.via.bin;
  ASSERT_EQ(bin.size, 12u);
  float v[3];
  std::memcpy(v, bin.ptr, 12);
  EXPECT_EQ(v[2], 6.0f);
}

TEST_F(QuiverctlSources, VectorFilesAreCheckedWhole) {
  source_options opt;
  // Cut short; a record of another dimension; a zero vector under cosine; NaN.
  EXPECT_EQ(code_of([&] {
              open_source(write("cut.fvecs", fvecs({{1, 2}}).substr(0, 9)), opt);
            }),
            exit_bad_input);
  auto mixed = fvecs({{1, 2}}) + fvecs({{1}}) + std::string(4, '\0');
  auto src = open_source(write("mixed.fvecs", mixed), opt);
  EXPECT_EQ(code_of([&] { src->validate(2, "euclidean"); }), exit_bad_input);
  auto zero = open_source(write("zero.fvecs", fvecs({{1, 2}, {0, 0}})), opt);
  EXPECT_EQ(code_of([&] { zero->validate(2, "cosine"); }), exit_bad_input);
  EXPECT_NO_THROW(zero->validate(2, "euclidean"));
  auto nan = open_source(write("nan.fvecs", fvecs({{1, std::nanf("")}})), opt);
  EXPECT_EQ(code_of([&] { nan->validate(2, "euclidean"); }), exit_bad_input);
  // An ids file must name every vector.
  opt.ids_file = write("ids.txt", "a\nb\n");
  EXPECT_EQ(code_of([&] {
              open_source(write("three.fvecs", fvecs({{1}, {2}, {3}})), opt);
            }),
            exit_bad_input);
}

TEST_F(QuiverctlSources, NpyWithAnIdColumn) {
  auto path = write("a.npy", npy(2, 3, {10, 0.5f, 0.25f, 11, 1, 2}));
  source_options opt;
  opt.id_column = 0;
  auto src = open_source(path, opt);
  EXPECT_EQ(src->dimension(), 2u);
  EXPECT_NO_THROW(src->validate(2, "cosine"));
  auto body = src->body(0, 2);
  auto h = msgpack::unpack(body.data(), body.size());
  auto items = h.get().via.map.ptr[0].val.via.array;
  EXPECT_EQ(items.ptr[1].via.map.ptr[0].val.as<std::string>(), "11");
  float v[2];
  std::memcpy(v, items.ptr[0].via.map.ptr[1].val.via.bin.ptr, 8);
  EXPECT_EQ(v[0], 0.5f);
  EXPECT_EQ(v[1], 0.25f);
  auto frac = open_source(write("frac.npy", npy(1, 2, {1.5f, 1})), opt);
  EXPECT_EQ(code_of([&] { frac->validate(1, "cosine"); }), exit_bad_input);
  auto f64 = npy(1, 1, {1});
  f64.replace(f64.find("<f4"), 3, "<f8");
  EXPECT_EQ(code_of([&] { open_source(write("f64.npy", f64), {}); }), exit_bad_input);
  EXPECT_EQ(code_of([&] { open_source(write("junk.npy", "not numpy"), {}); }), exit_bad_input);
}

TEST_F(QuiverctlSources, JsonlLinesPassThroughAfterTheirCheck) {
  auto path = write("a.jsonl",
                    "{\"id\":\"a\",\"vector\":[1,2],\"metadata\":{\"k\": 1.50}}\n\n"
                    "  {\"id\":\"b\",\"vector\":[3,4]}  \n");
  auto src = open_source(path, {});
  EXPECT_EQ(src->size(), 2u);
  EXPECT_EQ(src->dimension(), 2u);
  EXPECT_NO_THROW(src->validate(2, "cosine"));
  EXPECT_EQ(src->body(0, 2),
            "{\"items\":[{\"id\":\"a\",\"vector\":[1,2],\"metadata\":{\"k\": 1.50}},"
            "{\"id\":\"b\",\"vector\":[3,4]}]}");
  for (auto bad : {"{\"id\":\"\",\"vector\":[1,2]}", "{\"id\":1,\"vector\":[1,2]}",
                   "{\"id\":\"a\",\"vector\":[1,\"x\"]}", "{\"id\":\"a\",\"vector\":[1,1e39]}",
                   "{\"id\":\"a\",\"vector\":[1,2],\"metadata\":\"m\"}", "[1,2]"}) {
    auto p = write("bad.jsonl", std::string("{\"id\":\"ok\",\"vector\":[1,2]}\n") + bad + "\n");
    auto s = open_source(p, {});
    EXPECT_EQ(code_of([&] { s->validate(2, "euclidean"); }), exit_bad_input) << bad;
  }
  EXPECT_EQ(code_of([&] { open_source(write("empty.jsonl", "\n\n"), {}); }), exit_bad_input);
  EXPECT_EQ(code_of([&] { open_source(write("x.txt", "{}"), {}); }), exit_usage);
}

TEST(QuiverctlItems, JsonItemKeepsRawMetadata) {
  float v[2] = {0.5f, -1};
  std::string meta = "{\"a\": \"\\u003c\"}";
  EXPECT_EQ(json_item("i\"d", v, 2, &meta),
            "{\"id\":\"i\\\"d\",\"vector\":[0.5,-1],\"metadata\":{\"a\": \"\\u003c\"}}");
  EXPECT_EQ(json_item("x", v, 1, nullptr), "{\"id\":\"x\",\"vector\":[0.5]}");
  EXPECT_NE(id_problem(std::string(257, 'a')), "");
  EXPECT_NE(id_problem("\xff"), "");
  EXPECT_EQ(id_problem("ok"), "");
}

}  // namespace
}  // namespace quiver::ctl
