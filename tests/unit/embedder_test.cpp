// The embedders an index may name (matrix/embedder.hpp): the set and its
// checks, the HTTP embedder's URL, request and answer handling, a fastText
// model trained here with the fasttext CLI, and [embedders.NAME] in the config.
// The HTTP exchange itself is tested against a fake server in
// tests/integration/test_embedders.py.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>

#include "common/config.hpp"
#include "matrix/embed_api.hpp"
#include "matrix/embedder.hpp"
#include "matrix/fasttext_embedder.hpp"
#include "matrix/http_embedder.hpp"

namespace quiver::matrix {
namespace {

namespace fs = std::filesystem;

fs::path temp_dir() {
  char name[] = "/tmp/quiver-embedder-test-XXXXXX";
  return mkdtemp(name);
}

std::string write(const fs::path& path, const std::string& text) {
  std::ofstream(path) << text;
  return path.string();
}

TEST(EmbedderSet, ChecksNamesAndDimensions) {
  embedder_set set;
  EXPECT_TRUE(set.check("hash-v1", 8).ok());
  EXPECT_TRUE(set.check("hash-v1", 4096).ok());
  EXPECT_EQ(set.check("hash-v1", 4).code, errc::invalid_argument);
  auto unknown = set.check("bert", 384);
  EXPECT_EQ(unknown.code, errc::invalid_argument);
  EXPECT_NE(unknown.message.find("\"hash-v1\""), std::string::npos) << unknown.message;
  EXPECT_EQ(set.find("bert"), nullptr);
  auto v = set.embed("hash-v1", 16, {"forklift operator", "nurse"});
  ASSERT_TRUE(v);
  ASSERT_EQ(v->size(), 2u);
  EXPECT_EQ((*v)[0].size(), 16u);
  auto bad = set.embed("hash-v1", 16, {"fine", " ... "});
  ASSERT_FALSE(bad);
  ASSERT_EQ(bad.error().details.size(), 1u);
  EXPECT_EQ(bad.error().details[0], (std::pair<std::string, std::int64_t>{"index", 1}));
}

TEST(EmbedderSet, LoadRefusesWhatItCannotUse) {
  embedder_config http;
  http.name = "remote";
  http.kind = "http";
  http.url = "http://127.0.0.1:9/api/embed";
  http.model = "m";
  http.dimension = 8;
  auto set = embedder_set::load({http});
  ASSERT_TRUE(set) << set.error().message;
  EXPECT_TRUE((*set)->check("remote", 8).ok());
  EXPECT_EQ((*set)->check("remote", 9).code, errc::invalid_argument);
  EXPECT_EQ((*set)->names(), "\"hash-v1\", \"remote\"");
  EXPECT_FALSE(embedder_set::load({http, http}));  // one name twice
  auto keyed = http;
  keyed.api_key_env = "QUIVER_EMBEDDER_TEST_UNSET";
  unsetenv("QUIVER_EMBEDDER_TEST_UNSET");
  auto no_key = embedder_set::load({keyed});
  ASSERT_FALSE(no_key);
  EXPECT_NE(no_key.error().message.find("embedder 'remote'"), std::string::npos);
  embedder_config ft;
  ft.name = "ft";
  ft.kind = "fasttext";
  ft.model = "/nonexistent/model.bin";
  EXPECT_FALSE(embedder_set::load({ft}));
}

TEST(EmbedApi, RequestsUseTheSet) {
  embedder_set set;
  auto r = parse_embed_request(R"({"texts":["a b","c"],"dimension":16})", 10);
  ASSERT_TRUE(r);
  auto out = embed_texts(*r, set);
  ASSERT_TRUE(out);
  EXPECT_NE(out->find(R"("dimension":16,"embedder":"hash-v1")"), std::string::npos);
  auto defaults = embed_texts(*parse_embed_request(R"({"texts":["a"]})", 10), set);
  ASSERT_TRUE(defaults);
  EXPECT_NE(defaults->find(R"("dimension":768)"), std::string::npos);
  auto gpt = parse_embed_request(R"({"texts":["a"],"embedder":"gpt"})", 10);
  ASSERT_TRUE(gpt);  // well formed; this gateway has no such embedder
  EXPECT_EQ(embed_texts(*gpt, set).error().code, errc::invalid_argument);
  EXPECT_FALSE(parse_embed_request(R"({"texts":["a"],"embedder":"GPT 4"})", 10));
  EXPECT_EQ(
      embed_texts(*parse_embed_request(R"({"texts":["a"],"dimension":4})", 10), set).error().code,
      errc::invalid_argument);
  EXPECT_FALSE(parse_embed_request(R"({"texts":["a"],"dimension":0})", 10));
  EXPECT_EQ(parse_embed_request(R"({"texts":["a","b","c"]})", 2).error().code,
            errc::payload_too_large);
  auto bad = embed_texts(*parse_embed_request(R"({"texts":["ok","..."]})", 10), set);
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("text 1"), std::string::npos);
}

TEST(HttpEmbedder, ParsesUrls) {
  auto t = parse_http_url("http://127.0.0.1:11434/api/embed");
  ASSERT_TRUE(t);
  EXPECT_EQ(t->host, "127.0.0.1");
  EXPECT_EQ(t->port, "11434");
  EXPECT_EQ(t->path, "/api/embed");
  t = parse_http_url("http://embed.internal");
  ASSERT_TRUE(t);
  EXPECT_EQ(t->host, "embed.internal");
  EXPECT_EQ(t->port, "80");
  EXPECT_EQ(t->path, "/");
  t = parse_http_url("http://[::1]:8080/v1/embeddings");
  ASSERT_TRUE(t);
  EXPECT_EQ(t->host, "::1");
  EXPECT_EQ(t->port, "8080");
  for (const char* bad : {"https://x/y", "ftp://x", "http://", "http://:80/x", "http://x:0/",
                          "http://x:65536/", "http://x:8o/", "http://u:p@x/", "http://[::1/"})
    EXPECT_FALSE(parse_http_url(bad)) << bad;
}

TEST(HttpEmbedder, RequestBody) {
  EXPECT_EQ(embedding_request_body("nomic", {"a \"b\"", "c\n"}),
            R"({"model":"nomic","input":["a \"b\"","c\n"]})");
}

TEST(HttpEmbedder, ReadsBothAnswerShapes) {
  auto ollama = parse_embedding_answer("ollama", R"({"embeddings":[[1,2],[3,4.5]]})", 2, 2);
  ASSERT_TRUE(ollama) << ollama.error().message;
  EXPECT_EQ(*ollama, (std::vector<std::vector<float>>{{1, 2}, {3, 4.5}}));
  // OpenAI items are placed by their index, whatever their order.
  auto openai = parse_embedding_answer(
      "openai",
      R"({"data":[{"index":1,"embedding":[3,4]},{"index":0,"embedding":[1,2]}],"model":"m"})", 2,
      2);
  ASSERT_TRUE(openai) << openai.error().message;
  EXPECT_EQ(*openai, (std::vector<std::vector<float>>{{1, 2}, {3, 4}}));
  auto in_order = parse_embedding_answer("openai", R"({"data":[{"embedding":[1,2]}]})", 1, 2);
  ASSERT_TRUE(in_order);
  struct bad_case {
    const char* api;
    const char* body;
  };
  for (auto [api, body] : std::initializer_list<bad_case>{
           {"ollama", "not json"},
           {"ollama", R"({"embedding":[1,2]})"},
           {"ollama", R"({"embeddings":[[1,2]]})"},            // one vector for two texts
           {"ollama", R"({"embeddings":[[1,2],[3]]})"},        // a short vector
           {"ollama", R"({"embeddings":[[1,2],[3,"x"]]})"},    // not a number
           {"ollama", R"({"embeddings":[[1,2],[3,1e300]]})"},  // not a finite float
           {"openai", R"({"data":[{"index":0,"embedding":[1,2]},{"index":0,"embedding":[1,2]}]})"},
           {"openai", R"({"data":[{"index":5,"embedding":[1,2]},{"index":0,"embedding":[1,2]}]})"},
           {"openai", R"({"data":[{"index":0},{"index":1,"embedding":[1,2]}]})"},
           {"openai", R"({"embeddings":[[1,2],[3,4]]})"},
       }) {
    auto r = parse_embedding_answer(api, body, 2, 2);
    ASSERT_FALSE(r) << api << " " << body;
    EXPECT_EQ(r.error().code, errc::embedder_failed) << body;
  }
}

TEST(HttpEmbedder, QuotesWhatItCannotReadSafely) {
  auto r = parse_embedding_answer("ollama", "<html>\xff\xfe\n" + std::string(500, 'x'), 1, 2);
  ASSERT_FALSE(r);
  const auto& m = r.error().message;
  EXPECT_NE(m.find("<html>??"), std::string::npos) << m;
  EXPECT_LT(m.size(), 300u);
  for (char c : m) EXPECT_TRUE(c >= 0x20 && c < 0x7f) << m;
}

TEST(HttpEmbedder, RefusesTextsBeforeSendingThem) {
  embedder_config c;
  c.name = "remote";
  c.kind = "http";
  c.url = "http://127.0.0.1:9/api/embed";  // nothing is sent: the texts fail first
  c.model = "m";
  c.dimension = 8;
  auto e = http_embedder::make(c);
  ASSERT_TRUE(e);
  for (auto texts : {std::vector<std::string_view>{"fine", "  \n"},
                     std::vector<std::string_view>{"fine", "\xff"}}) {
    auto r = (*e)->embed(texts, 8);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, errc::invalid_argument);
    EXPECT_EQ(r.error().details[0].second, 1);
  }
}

class FastTextModel : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = temp_dir();
    std::mt19937 rng(5);
    const char* care[] = {"nurse", "hospital", "patient", "clinic", "doctor", "ward"};
    const char* dock[] = {"forklift", "warehouse", "pallet", "dock", "truck", "freight"};
    std::ofstream corpus(dir_ / "corpus.txt");
    for (int i = 0; i < 2000; ++i) {
      for (int w = 0; w < 10; ++w) corpus << (i % 2 ? care : dock)[rng() % 6] << ' ';
      corpus << '\n';
    }
    corpus.close();
    auto command = "fasttext skipgram -input " + (dir_ / "corpus.txt").string() + " -output " +
                   (dir_ / "model").string() +
                   " -dim 12 -epoch 5 -minCount 1 -thread 1 -bucket 2000 -minn 2 -maxn 3 "
                   "-seed 1 -verbose 0 > /dev/null 2>&1";
    trained_ = std::system(command.c_str()) == 0 && fs::exists(dir_ / "model.bin");
  }
  static void TearDownTestSuite() { fs::remove_all(dir_); }
  void SetUp() override {
    if (!trained_) GTEST_SKIP() << "the fasttext CLI (Debian package fasttext) is not installed";
  }
  static std::string model() { return (dir_ / "model.bin").string(); }

  static inline fs::path dir_;
  static inline bool trained_ = false;
};

double cosine(const std::vector<float>& a, const std::vector<float>& b) {
  double dot = 0, na = 0, nb = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    dot += double(a[i]) * b[i];
    na += double(a[i]) * a[i];
    nb += double(b[i]) * b[i];
  }
  return dot / std::sqrt(na * nb);
}

TEST_F(FastTextModel, EmbedsWithTheModel) {
  auto e = fasttext_embedder::load(model(), 0);
  ASSERT_TRUE(e) << e.error().message;
  EXPECT_EQ((*e)->dimension(), 12u);
  auto v = (*e)->embed({"nurse", "nurse clinic", "nurse\nclinic", "forklift dock"}, 12);
  ASSERT_TRUE(v) << v.error().message;
  ASSERT_EQ(v->size(), 4u);
  // One word: its normalized vector. A line break is a space.
  double norm = 0;
  for (float x : (*v)[0]) norm += double(x) * x;
  EXPECT_NEAR(norm, 1.0, 1e-4);
  EXPECT_EQ((*v)[1], (*v)[2]);
  // Words of one topic sit nearer each other than the other topic's.
  EXPECT_GT(cosine((*v)[0], (*v)[1]), cosine((*v)[0], (*v)[3]));
  // The same text, the same vector.
  auto again = (*e)->embed({"nurse clinic"}, 12);
  ASSERT_TRUE(again);
  EXPECT_EQ(again->front(), (*v)[1]);
  auto bad = (*e)->embed({"ok", "\xff\xfe"}, 12);
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().details[0].second, 1);
}

TEST_F(FastTextModel, LoadChecksTheFile) {
  auto wrong_dim = fasttext_embedder::load(model(), 300);
  ASSERT_FALSE(wrong_dim);
  EXPECT_NE(wrong_dim.error().message.find("12 dimensions"), std::string::npos);
  auto text = write(dir_ / "corpus-copy.txt", "not a model at all");
  auto not_model = fasttext_embedder::load(text, 0);
  ASSERT_FALSE(not_model);
  EXPECT_NE(not_model.error().message.find("not a fastText model"), std::string::npos);
  auto empty = write(dir_ / "empty.bin", "");
  EXPECT_FALSE(fasttext_embedder::load(empty, 0));
}

// A config file in a directory of its own; forget() removes both.
std::string write_config(const std::string& text) { return write(temp_dir() / "q.toml", text); }
void forget(const std::string& config) { fs::remove_all(fs::path(config).parent_path()); }

TEST(EmbedderConfig, ReadsEmbeddersTables) {
  auto path = write_config(
      "[embedders.ft]\nkind = \"fasttext\"\nmodel = \"/models/cc.en.300.bin\"\n"
      "[embedders.remote]\nkind = \"http\"\napi = \"openai\"\nurl = "
      "\"http://10.0.0.5:8080/v1/embeddings\"\nmodel = \"text-embedding-3-small\"\n"
      "dimension = 1536\nbatch_size = 32\ntimeout_ms = 5000\nretries = 3\n"
      "api_key_env = \"OPENAI_API_KEY\"\n");
  auto c = load_config(path);
  forget(path);
  ASSERT_TRUE(c) << c.error().message;
  ASSERT_EQ(c->server.embedders.size(), 2u);
  const auto& ft = c->server.embedders[0];
  EXPECT_EQ(ft.name, "ft");
  EXPECT_EQ(ft.kind, "fasttext");
  EXPECT_EQ(ft.model, "/models/cc.en.300.bin");
  const auto& r = c->server.embedders[1];
  EXPECT_EQ(r.name, "remote");
  EXPECT_EQ(r.api, "openai");
  EXPECT_EQ(r.dimension, 1536u);
  EXPECT_EQ(r.batch_size, 32u);
  EXPECT_EQ(r.timeout_ms, 5000u);
  EXPECT_EQ(r.retries, 3u);
  EXPECT_EQ(r.api_key_env, "OPENAI_API_KEY");
}

TEST(EmbedderConfig, RefusesBadEmbedders) {
  for (const char* text : {
           "[embedders.x]\nkind = \"onnx\"\n",
           "[embedders.x]\nkind = \"fasttext\"\n",
           "[embedders.x]\nkind = \"fasttext\"\nmodel = \"m.bin\"\nlayers = 3\n",
           "[embedders.x]\nkind = \"http\"\nurl = \"https://x/e\"\nmodel = \"m\"\ndimension = 8\n",
           "[embedders.x]\nkind = \"http\"\nurl = \"http://x/e\"\nmodel = \"m\"\n",
           "[embedders.x]\nkind = \"http\"\nurl = \"http://x/e\"\ndimension = 8\n",
           "[embedders.x]\nkind = \"http\"\nurl = \"http://x/e\"\nmodel = \"m\"\ndimension = 8\n"
           "api = \"cohere\"\n",
           "[embedders.x]\nkind = \"http\"\nurl = \"http://x/e\"\nmodel = \"m\"\ndimension = 8\n"
           "retries = 9\n",
           "[embedders.hash-v1]\nkind = \"fasttext\"\nmodel = \"m.bin\"\n",
           "[embedders.Big]\nkind = \"fasttext\"\nmodel = \"m.bin\"\n",
           "[embedders]\nx = 1\n",
       }) {
    auto path = write_config(text);
    EXPECT_FALSE(load_config(path)) << text;
    forget(path);
  }
}

}  // namespace
}  // namespace quiver::matrix
