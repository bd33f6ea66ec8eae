"""Configured embedders ([embedders.NAME], API.md "Text") against a real server:
a fastText model the test trains with the fasttext CLI (the server's vectors
must equal the ones `fasttext print-sentence-vectors` prints), and an HTTP
embedding server the test runs itself, speaking Ollama's and OpenAI's shapes:
batching, the bearer key, retries with backoff, 502 and 504 when it fails, and
nothing written when it does."""
import hashlib
import http.server
import json
import os
import random
import shutil
import struct
import subprocess
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from quiver_server import BIN, QuiverServer  # noqa: E402

FASTTEXT = shutil.which("fasttext")
DIM = 8  # the fake server's vectors
KEY = "sk-test-0123456789"

CARE = "nurse hospital patient care ward clinic medical doctor health pharmacy".split()
DOCK = "forklift warehouse pallet loading dock shipping truck inventory crate freight".split()


def fake_vector(text):
    """The fake server's embedding: 8 numbers from the text's SHA-256."""
    digest = hashlib.sha256(text.encode()).digest()
    return [(b - 127.5) / 127.5 for b in digest[:DIM]]


class FakeEmbeddings(http.server.ThreadingHTTPServer):
    """Ollama's /api/embed and OpenAI's /v1/embeddings; `script` says how to
    misbehave: fail the next N requests with a status, answer late, or answer
    vectors of the wrong size."""

    daemon_threads = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), Handler)
        self.lock = threading.Lock()
        self.reset()

    def reset(self):
        with self.lock:
            self.requests = []  # (path, body, authorization)
            self.fail = []  # statuses to answer the next requests with
            self.delay_s = 0.0
            self.dimension = DIM


class Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_POST(self):
        srv = self.server
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        with srv.lock:
            srv.requests.append((self.path, body, self.headers.get("Authorization")))
            status = srv.fail.pop(0) if srv.fail else 200
            delay, dim = srv.delay_s, srv.dimension
        time.sleep(delay)
        vectors = [fake_vector(t)[:dim] + [0.5] * max(0, dim - DIM) for t in body["input"]]
        if status != 200:
            out = {"error": "scripted failure"}
        elif self.path == "/api/embed":
            out = {"model": body["model"], "embeddings": vectors}
        else:  # OpenAI's items carry their input's index; send them reversed
            out = {"object": "list", "model": body["model"],
                   "data": [{"object": "embedding", "index": i, "embedding": v}
                            for i, v in reversed(list(enumerate(vectors)))]}
        data = json.dumps(out).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        try:
            self.wfile.write(data)
        except OSError:
            pass  # the client gave up (a timeout test)


def train_model(directory):
    """A tiny skipgram model over two topics' words (subwords 2-4)."""
    rng = random.Random(7)
    corpus = os.path.join(directory, "corpus.txt")
    with open(corpus, "w") as f:
        for i in range(2000):
            words = CARE if i % 2 else DOCK
            f.write(" ".join(rng.choice(words) for _ in range(10)) + "\n")
    out = os.path.join(directory, "model")
    subprocess.run([FASTTEXT, "skipgram", "-input", corpus, "-output", out, "-dim", "16",
                    "-epoch", "5", "-minCount", "1", "-thread", "1", "-bucket", "5000",
                    "-minn", "2", "-maxn", "4", "-seed", "1", "-verbose", "0"],
                   check=True, timeout=120)
    return out + ".bin"


@unittest.skipUnless(FASTTEXT, "the fasttext CLI (Debian package fasttext) trains the model")
class EmbeddersTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="quiver-embedders-")
        cls.model = train_model(cls.dir)
        cls.fake = FakeEmbeddings()
        threading.Thread(target=cls.fake.serve_forever, daemon=True).start()
        url = "http://127.0.0.1:%d" % cls.fake.server_address[1]
        cls.config = os.path.join(cls.dir, "quiver.toml")
        with open(cls.config, "w") as f:
            f.write("""
[embedders.ft]
kind = "fasttext"
model = "%s"

[embedders.ollama]
kind = "http"
url = "%s/api/embed"
model = "nomic-embed-text"
dimension = %d
batch_size = 4
timeout_ms = 800
retries = 2

[embedders.openai]
kind = "http"
api = "openai"
url = "%s/v1/embeddings"
model = "text-embedding-3-small"
dimension = %d
batch_size = 3
timeout_ms = 800
retries = 1
api_key_env = "QUIVER_TEST_EMBEDDING_KEY"
""" % (cls.model, url, DIM, url, DIM))
        os.environ["QUIVER_TEST_EMBEDDING_KEY"] = KEY
        cls.srv = QuiverServer("--config", cls.config)

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()
        cls.fake.shutdown()
        cls.fake.server_close()
        shutil.rmtree(cls.dir, ignore_errors=True)

    def setUp(self):
        self.fake.reset()

    def call(self, method, path, body=None):
        st, _, out = self.srv.request(method, path, body)
        return st, out

    def create(self, name, embedder, dimension):
        st, out = self.call("POST", "/v1/indexes", {"name": name, "dimension": dimension,
                                                     "distance": "cosine", "embedder": embedder})
        self.assertEqual(st, 201, out)
        self.addCleanup(self.call, "DELETE", "/v1/indexes/" + name)

    # -- fastText --
    def test_fasttext_vectors_are_the_cli_sentence_vectors(self):
        texts = ["nurse at the clinic", "forklift\nloading dock", "pallet truck freight"]
        st, out = self.call("POST", "/v1/embed", {"texts": texts, "embedder": "ft"})
        self.assertEqual(st, 200, out)
        self.assertEqual((out["dimension"], out["embedder"]), (16, "ft"))
        # fastText reads a line: a text's line break is a space to it.
        cli = subprocess.run([FASTTEXT, "print-sentence-vectors", self.model],
                             input="\n".join(t.replace("\n", " ") for t in texts) + "\n",
                             capture_output=True, text=True, check=True, timeout=60)
        expected = [[float(x) for x in line.split()] for line in cli.stdout.splitlines()]
        self.assertEqual(len(expected), 3)
        for got, want in zip(out["vectors"], expected):
            self.assertEqual(len(got), 16)
            for g, w in zip(got, want):
                self.assertAlmostEqual(g, w, delta=1e-4 + 1e-4 * abs(w))

    def test_fasttext_index_searches_by_text(self):
        self.create("ft_jobs", "ft", 16)
        rng = random.Random(3)
        items = []
        for i in range(40):
            words = CARE if i % 2 else DOCK
            items.append({"id": "j%02d" % i, "text": " ".join(rng.sample(words, 4)),
                          "metadata": {"topic": "care" if i % 2 else "dock"}})
        st, out = self.call("POST", "/v1/indexes/ft_jobs/vectors", {"items": items})
        self.assertEqual(st, 200, out)
        for query, topic in [("hospital nurse shift", "care"), ("forklift pallet dock", "dock")]:
            st, out = self.call("POST", "/v1/indexes/ft_jobs/search",
                                {"text": query, "k": 10, "include_metadata": True})
            self.assertEqual(st, 200, out)
            topics = [h["metadata"]["topic"] for h in out["results"]]
            self.assertGreaterEqual(topics.count(topic), 9, (query, topics))

    def test_create_checks_the_embedder_and_its_dimension(self):
        st, out = self.call("POST", "/v1/indexes", {"name": "ft_wrong", "dimension": 32,
                                                     "embedder": "ft"})
        self.assertEqual((st, out["error"]["code"]), (400, "invalid_argument"), out)
        self.assertIn("16 dimensions", out["error"]["message"])
        st, out = self.call("POST", "/v1/indexes", {"name": "nope", "dimension": 8,
                                                     "embedder": "bert"})
        self.assertEqual(st, 400, out)
        for name in ("hash-v1", "ft", "ollama", "openai"):
            self.assertIn('"%s"' % name, out["error"]["message"])
        st, out = self.call("GET", "/v1/indexes/nope")
        self.assertEqual(st, 404, out)
        st, out = self.call("POST", "/v1/embed", {"texts": ["x"], "embedder": "bert"})
        self.assertEqual(st, 400, out)

    # -- an HTTP embedding server --
    def test_ollama_batches(self):
        texts = ["text number %d" % i for i in range(10)]
        st, out = self.call("POST", "/v1/embed", {"texts": texts, "embedder": "ollama"})
        self.assertEqual(st, 200, out)
        self.assertEqual(out["dimension"], DIM)
        for got, text in zip(out["vectors"], texts):
            for g, w in zip(got, fake_vector(text)):
                self.assertAlmostEqual(g, w, places=5)
        sizes = [len(body["input"]) for path, body, _ in self.fake.requests]
        self.assertEqual(sizes, [4, 4, 2])
        self.assertEqual({(p, b["model"], a) for p, b, a in self.fake.requests},
                         {("/api/embed", "nomic-embed-text", None)})

    def test_openai_index_upserts_and_searches_by_text(self):
        self.create("oa_jobs", "openai", DIM)
        items = [{"id": "p%d" % i, "text": "profile %d" % i} for i in range(7)]
        st, out = self.call("POST", "/v1/indexes/oa_jobs/vectors", {"items": items})
        self.assertEqual(st, 200, out)
        st, out = self.call("PUT", "/v1/indexes/oa_jobs/vectors/p9", {"text": "profile 9"})
        self.assertIn(st, (200, 201), out)
        st, out = self.call("POST", "/v1/indexes/oa_jobs/search", {"text": "profile 5", "k": 3})
        self.assertEqual(st, 200, out)
        self.assertEqual(out["results"][0]["id"], "p5")
        self.assertLess(out["results"][0]["distance"], 1e-5)
        # The stored vector is the server's (reversed items put back in order).
        st, out = self.call("GET", "/v1/indexes/oa_jobs/vectors/p2")
        self.assertEqual(st, 200, out)
        want = fake_vector("profile 2")
        norm = sum(x * x for x in want) ** 0.5
        got = out["vector"]
        gnorm = sum(x * x for x in got) ** 0.5
        for g, w in zip(got, want):
            self.assertAlmostEqual(g / gnorm, w / norm, places=5)
        sizes = [len(b["input"]) for _, b, _ in self.fake.requests]
        self.assertEqual(sizes, [3, 3, 1, 1, 1])
        self.assertEqual({a for _, _, a in self.fake.requests}, {"Bearer " + KEY})
        self.assertEqual({p for p, _, _ in self.fake.requests}, {"/v1/embeddings"})

    def test_retries_pass_a_brief_failure(self):
        self.fake.fail = [503, 429]
        st, out = self.call("POST", "/v1/embed", {"texts": ["a b"], "embedder": "ollama"})
        self.assertEqual(st, 200, out)
        self.assertEqual(len(self.fake.requests), 3)

    def metric(self, series):
        st, _, text = self.srv.request("GET", "/metrics")
        self.assertEqual(st, 200)
        for line in text.decode().splitlines():
            if line.startswith(series + " "):
                return float(line.split()[1])
        self.fail("no %s in /metrics" % series)

    def test_metrics_count_texts_and_tries(self):
        tries = 'quiver_embedder_server_requests_total{embedder="ollama",result="%s"}'
        texts = 'quiver_embedder_texts_total{embedder="ollama",result="%s"}'
        before = [self.metric(tries % r) for r in ("ok", "failed")] + [
            self.metric(texts % r) for r in ("ok", "failed")]
        self.fake.fail = [503]
        st, out = self.call("POST", "/v1/embed", {"texts": ["a", "b"], "embedder": "ollama"})
        self.assertEqual(st, 200, out)
        self.fake.fail = [400]
        st, out = self.call("POST", "/v1/embed", {"texts": ["c"], "embedder": "ollama"})
        self.assertEqual(st, 502, out)
        after = [self.metric(tries % r) for r in ("ok", "failed")] + [
            self.metric(texts % r) for r in ("ok", "failed")]
        self.assertEqual([a - b for a, b in zip(after, before)], [1, 2, 2, 1])

    def test_lasting_failure_is_502_and_writes_nothing(self):
        self.create("fail_jobs", "ollama", DIM)
        self.fake.fail = [500] * 20
        st, out = self.call("POST", "/v1/indexes/fail_jobs/vectors",
                            {"items": [{"id": "a", "text": "x y"}]})
        self.assertEqual((st, out["error"]["code"]), (502, "embedder_failed"), out)
        self.assertIn("answered 500", out["error"]["message"])
        self.assertEqual(len(self.fake.requests), 3)  # 1 + retries
        self.fake.reset()
        st, out = self.call("GET", "/v1/indexes/fail_jobs")
        self.assertEqual((st, out["count"]), (200, 0), out)
        st, out = self.call("POST", "/v1/indexes/fail_jobs/search", {"text": "x y"})
        self.assertEqual(st, 200, out)
        self.assertEqual(out["results"], [])

    def test_client_errors_are_not_retried(self):
        self.fake.fail = [400]
        st, out = self.call("POST", "/v1/embed", {"texts": ["a"], "embedder": "openai"})
        self.assertEqual((st, out["error"]["code"]), (502, "embedder_failed"), out)
        self.assertEqual(len(self.fake.requests), 1)

    def test_slow_server_is_504(self):
        self.fake.delay_s = 1.5
        started = time.monotonic()
        st, out = self.call("POST", "/v1/embed", {"texts": ["a"], "embedder": "openai"})
        took = time.monotonic() - started
        self.assertEqual((st, out["error"]["code"]), (504, "embedder_timeout"), out)
        self.assertEqual(len(self.fake.requests), 2)  # 1 + retries
        self.assertLess(took, 5, "two 0.8 s tries and a backoff")

    def test_wrong_sized_answer_is_502(self):
        self.fake.dimension = DIM + 4
        st, out = self.call("POST", "/v1/embed", {"texts": ["a"], "embedder": "ollama"})
        self.assertEqual((st, out["error"]["code"]), (502, "embedder_failed"), out)
        self.assertIn("dimension", out["error"]["message"])
        self.assertEqual(len(self.fake.requests), 1)

    def test_unreachable_server_is_502(self):
        free = FakeEmbeddings()
        port = free.server_address[1]
        free.server_close()  # nothing listens there now
        path = os.path.join(self.dir, "gone.toml")
        with open(path, "w") as f:
            f.write('[embedders.gone]\nkind = "http"\nurl = "http://127.0.0.1:%d/api/embed"\n'
                    'model = "m"\ndimension = 8\nretries = 1\ntimeout_ms = 500\n' % port)
        srv = QuiverServer("--config", path)
        try:
            st, _, out = srv.request("POST", "/v1/embed", {"texts": ["a"], "embedder": "gone"})
            self.assertEqual((st, out["error"]["code"]), (502, "embedder_failed"), out)
            self.assertIn("connecting", out["error"]["message"])
        finally:
            srv.stop()

    def test_shutdown_does_not_wait_for_a_silent_server(self):
        path = os.path.join(self.dir, "patient.toml")
        with open(path, "w") as f:
            f.write('[embedders.patient]\nkind = "http"\nurl = "http://127.0.0.1:%d/api/embed"\n'
                    'model = "m"\ndimension = 8\nretries = 5\ntimeout_ms = 60000\n'
                    % self.fake.server_address[1])
        srv = QuiverServer("--config", path)
        self.fake.delay_s = 20
        answers = []
        call = threading.Thread(target=lambda: answers.append(
            srv.request("POST", "/v1/embed", {"texts": ["a"], "embedder": "patient"})))
        call.start()
        deadline = time.monotonic() + 10
        while not self.fake.requests and time.monotonic() < deadline:
            time.sleep(0.02)
        self.assertEqual(len(self.fake.requests), 1)
        started = time.monotonic()
        self.assertEqual(srv.stop(timeout=30), 0)
        self.assertLess(time.monotonic() - started, 10, "a shutdown waited out the embedder")
        call.join(timeout=30)
        self.assertEqual(len(self.fake.requests), 1, "no retry after the shutdown began")

    def test_embedders_that_cannot_load_stop_the_start(self):
        not_a_model = os.path.join(self.dir, "not-a-model.bin")
        with open(not_a_model, "wb") as f:
            f.write(struct.pack("<i", 12345) + b"\0" * 64)
        cases = [
            ('kind = "fasttext"\nmodel = "%s"' % os.path.join(self.dir, "missing.bin"),
             "cannot read"),
            ('kind = "fasttext"\nmodel = "%s"' % not_a_model, "not a fastText model"),
            ('kind = "fasttext"\nmodel = "%s"\ndimension = 300' % self.model,
             "16 dimensions"),
            ('kind = "http"\nurl = "https://example.com/api/embed"\nmodel = "m"\ndimension = 8',
             "http:// URL"),
            ('kind = "http"\nurl = "http://127.0.0.1:1/x"\nmodel = "m"', "dimension must be set"),
            ('kind = "http"\nurl = "http://127.0.0.1:1/x"\nmodel = "m"\ndimension = 8\n'
             'api_key_env = "QUIVER_TEST_UNSET_VARIABLE"', "not set"),
            ('kind = "onnx"\nmodel = "m"', "kind must be"),
            ('kind = "http"\nurl = "http://127.0.0.1:1/x"\nmodel = "m"\ndimension = 8\n'
             'retries = 50', "retries"),
        ]
        for i, (body, message) in enumerate(cases):
            path = os.path.join(self.dir, "bad%d.toml" % i)
            with open(path, "w") as f:
                f.write("[embedders.e%d]\n%s\n" % (i, body))
            data = tempfile.mkdtemp(prefix="quiver-embedders-bad-")
            r = subprocess.run([BIN, "--port", "0", "--data-dir", data, "--config", path],
                               capture_output=True, text=True, timeout=60)
            shutil.rmtree(data, ignore_errors=True)
            self.assertNotEqual(r.returncode, 0, body)
            self.assertIn(message, r.stdout + r.stderr, body)


if __name__ == "__main__":
    unittest.main()
